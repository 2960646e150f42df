// Where each followed path starts reading, from the saved positions (position-book.ts):
// - a file is known by device, inode and fingerprint; it resumes at the newest generation's
//   acknowledged offset (or, in this process, where another follower left it), and from 0 with the
//   next generation when it became shorter than that offset (truncated while the agent was stopped);
// - a file that was deleted is never resumed, so a new file on a reused inode starts at 0;
// - at start, a file the path named before and that is not finished (rotated while the agent was
//   stopped) is looked for among the path's siblings by device and inode, and finished first;
// - one file is read by one follower at a time (a glob that also matches rotated names, a
//   symlink): the others wait, and then continue where it stopped.
import { readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../shared/log.js";
import type { FollowerResume, LeftFile, OpenedFile, RenamedAway, StartDecision } from "./file-follower.js";
import { describeIdentity, identityOf, sameFile, type FileIdentity } from "./file-identity.js";
import type { PositionBook } from "./positions/position-book.js";
import { fileVersionKey } from "../protocol/msg-id.js";

function fileKey(id: FileIdentity): string {
  return `${id.dev}:${id.ino}`;
}

export class ResumePlanner {
  /** Files open by a follower: device:inode -> followed path. */
  private readonly claims = new Map<string, string>();
  /** In this process: where a follower stopped reading a version (version key -> offset). */
  private readonly released = new Map<string, number>();

  constructor(
    private readonly book: PositionBook,
    private readonly log: Logger,
  ) {}

  /** The resume hook of the follower of `path`. */
  forPath(path: string): FollowerResume {
    return {
      renamedAway: (p) => this.renamedAway(p),
      startOf: (file) => this.startOf(path, file),
      left: (file) => this.left(path, file),
      generationFor: (identity, fingerprint, generation) => {
        const known = this.book.find(identity, fingerprint, dirname(path), true);
        return known ? Math.max(generation, known.generation + 1) : generation;
      },
    };
  }

  /** Unfinished versions last read through `path` that the path no longer names, found among its siblings. */
  async renamedAway(path: string): Promise<RenamedAway[]> {
    let now: FileIdentity | undefined;
    try {
      now = identityOf(await stat(path, { bigint: true }));
    } catch {
      now = undefined;
    }
    // The newest generation per file; older ones were truncated away.
    const newest = new Map<string, ReturnType<PositionBook["unfinishedAt"]>[number]>();
    for (const v of this.book.unfinishedAt(path)) {
      if (now && sameFile(v.identity, now)) continue; // still at the path: resumed by startOf
      if (v.deleted) continue; // known to be gone
      const seen = newest.get(fileKey(v.identity));
      if (!seen || v.generation > seen.generation) newest.set(fileKey(v.identity), v);
    }
    if (newest.size === 0) return [];
    const siblings = new Map<string, { path: string; identity: FileIdentity }>();
    const dir = dirname(path);
    try {
      for (const name of await readdir(dir)) {
        try {
          const s = await stat(join(dir, name), { bigint: true });
          if (s.isFile()) siblings.set(fileKey(identityOf(s)), { path: join(dir, name), identity: identityOf(s) });
        } catch {
          // vanished meanwhile
        }
      }
    } catch (err) {
      this.log.warn(`cannot list "${dir}" to find files rotated while the agent was stopped: ${(err as Error).message}`);
    }
    const found: RenamedAway[] = [];
    for (const v of newest.values()) {
      const sibling = siblings.get(fileKey(v.identity));
      const at = sibling && sameFile(sibling.identity, v.identity) ? sibling.path : undefined;
      if (at) {
        found.push({ path: at, identity: v.identity, fingerprint: v.fingerprint, generation: v.generation, offset: v.offset });
      } else {
        this.log.warn(
          `file ${describeIdentity(v.identity)}, read through "${path}" up to offset ${v.offset} before the restart, is no longer ` +
            `in "${dir}" (rotated further, compressed or deleted while the agent was stopped): lines written to it after that offset are not read`,
        );
        this.book.left(v, v.offset, true);
      }
    }
    return found;
  }

  startOf(path: string, file: OpenedFile): StartDecision {
    const key = fileKey(file.identity);
    const holder = this.claims.get(key);
    if (holder !== undefined && holder !== path) {
      const why = `the same file (${describeIdentity(file.identity)}) is being read through "${holder}"`;
      return file.renamedAway ? { skip: why } : { wait: why };
    }
    let offset = 0;
    let generation = 0;
    const v = file.fingerprint === undefined ? undefined : this.book.find(file.identity, file.fingerprint, dirname(path), true);
    if (v && (v.deleted || !sameFile(v.identity, file.identity))) {
      // A new file on the inode of a deleted one (known deleted, or born later), with the same
      // first line: from 0, with new ids.
      generation = v.generation + 1;
      this.log.info(`"${file.path}" is a new file on the inode of an earlier one with the same first line; reading it from offset 0 (generation ${generation})`);
    } else if (v) {
      const at = Math.max(v.offset, this.released.get(v.key) ?? 0);
      if (at <= file.size) {
        offset = at;
        generation = v.generation;
      } else {
        generation = v.generation + 1;
        this.log.warn(
          `"${file.path}" is ${file.size} bytes, shorter than its saved offset ${at}: it was truncated while the agent was stopped; reading it from offset 0 (generation ${generation})`,
        );
      }
    }
    this.claims.set(key, path);
    if (offset > 0) this.book.version(path, file.identity, file.fingerprint!, generation, offset);
    return { offset, generation };
  }

  left(path: string, file: LeftFile): void {
    const key = fileKey(file.identity);
    if (file.reason !== "truncated" && this.claims.get(key) === path) this.claims.delete(key);
    if (file.fingerprint === undefined) return;
    const vkey = fileVersionKey(file.identity.dev, file.identity.ino, file.fingerprint, file.generation);
    this.released.set(vkey, file.readOffset);
    const v = this.book.get(vkey);
    if (v && file.reason !== "closed") this.book.left(v, file.readOffset, file.reason === "deleted");
  }
}
