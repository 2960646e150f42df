// Follows one path the way `tail -F` does, but without losing a line:
// - waits for the file to appear, reads it in large chunks;
// - rename rotation (logrotate's default): the path names a new file; the old one (still open)
//   is read until it stays quiet for a poll interval, then left, then the new one is read. Every
//   file seen at the path is remembered in order (checked each poll interval, also while busy),
//   so when the path was rotated again while an old file was being finished (a slow server, a
//   backlog), the files in between are found among the siblings by device and inode and read in
//   turn;
// - deletion: the file is read to its end the same way, closed, and the path is waited for again
//   (a glob match just ends instead);
// - truncation (copytruncate): the file is read again from 0 with the next generation. Lines
//   written after the last read and before the truncation are read from the copy when a sibling
//   file holds the same content (same first line, long enough); otherwise the window that could
//   not be read is counted and logged;
// - at start, a file the path named before a restart and that was renamed since is finished
//   first (the resume hook finds it).
// Where each file version starts is decided by a resume hook (saved positions); by default the
// `start` option applies to the first file opened and everything else starts at 0.
//
// Pull-style: a chunk is read only when the consumer asks for the next batch, so while the
// server is slow the file itself is the buffer and memory stays flat. An idle file costs one
// fstat per poll and holds no buffer.
import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../shared/log.js";
import { ChangeWaker } from "./change-waker.js";
import { describeIdentity, identityOf, sameFile, type FileIdentity } from "./file-identity.js";
import { fingerprintOf } from "./fingerprint.js";
import { LineSplitter, type Lines } from "./line-splitter.js";
import type { ReadTurn } from "./read-turns.js";

/** Complete lines of one file version, one after the other in `data` (see line-splitter.ts). */
export interface LineBatch extends Lines {
  /** The followed path (even while a renamed-away or copied file is read for it). */
  readonly path: string;
  readonly identity: FileIdentity;
  /** Of the first line (see fingerprint.ts): tells a replaced content from the one read before. */
  readonly fingerprint: string;
  /** Bumped each time this same file is truncated and read again from 0, so offsets stay unique. */
  readonly generation: number;
}

/** Where to start the first file opened (see `start`); later ones start at 0. */
export interface FollowStart {
  offset: number;
  /** The file the offset belongs to; when the path now names another file, that one is read from 0. */
  identity?: FileIdentity;
  /** The content's fingerprint at that offset; a different one means the file was replaced. */
  fingerprint?: string;
  generation?: number;
}

/** A file just opened for the followed path. */
export interface OpenedFile {
  /** Where it was opened: the followed path, or a sibling a renamed-away file is found at. */
  readonly path: string;
  readonly identity: FileIdentity;
  readonly size: number;
  /** Undefined while the file has no complete first line. */
  readonly fingerprint?: string;
  /** True for a file the path named before a restart, found renamed at `path`. */
  readonly renamedAway: boolean;
}

export type StartDecision =
  | { offset: number; generation: number }
  /** Another follower reads this file now: close it and try again later. */
  | { wait: string }
  /** Do not read it (a renamed-away file another follower reads). */
  | { skip: string };

/** A file the path named before a restart, renamed since: where it is now and where to resume it. */
export interface RenamedAway {
  path: string;
  identity: FileIdentity;
  fingerprint: string;
  generation: number;
  offset: number;
}

export interface LeftFile {
  readonly path: string;
  readonly identity: FileIdentity;
  readonly fingerprint?: string;
  readonly generation: number;
  /** Offset just past the last line handed out. */
  readonly readOffset: number;
  readonly reason: "rotated" | "deleted" | "truncated" | "closed";
}

/** How a follower learns where to start; the agent's is backed by the saved positions. */
export interface FollowerResume {
  /** Called once, before the first open: renamed-away files to finish first, oldest first. */
  renamedAway?(path: string): Promise<RenamedAway[]>;
  startOf(file: OpenedFile): Promise<StartDecision> | StartDecision;
  /** The follower stopped reading a file version (it may still have lines in flight). */
  left?(file: LeftFile): void;
  /**
   * The fingerprint of a file read from 0 became known (its first line is complete): the
   * generation to use, so that ids never repeat those of an earlier file with the same device,
   * inode and first line (a reused inode, a truncation).
   */
  generationFor?(identity: FileIdentity, fingerprint: string, generation: number): number;
}

export type FollowerEvent =
  | { type: "opened"; identity: FileIdentity; offset: number }
  | {
      type: "truncated";
      identity: FileIdentity;
      readUpTo: number;
      size: number;
      droppedPartialBytes: number;
      /** Bytes read from a copy (copytruncate) that the truncation would have lost. */
      recoveredBytes: number;
      /** Bytes known to have been in the file, unread, when it was truncated, and not recovered (a lower bound). */
      lostBytes: number;
    }
  | { type: "rotated"; from: FileIdentity; to?: FileIdentity; finishedAt: number; unterminatedBytes: number }
  | { type: "deleted"; identity: FileIdentity; finishedAt: number; unterminatedBytes: number };

export interface FollowerOptions {
  path: string;
  log: Logger;
  start?: FollowStart;
  resume?: FollowerResume;
  /**
   * After a file is finished because it was deleted, or renamed with no new file at the path, end
   * (next() returns undefined) instead of waiting for the path (glob matches).
   */
  endAfterDeletion?: boolean;
  /** How often the file is checked when idle; fs.watch events only shorten the wait. */
  pollIntervalMs?: number;
  /** Size of one read. */
  chunkBytes?: number;
  /**
   * Taken before each read (read-turns.ts), given back here when the read gave no complete line;
   * otherwise whoever publishes the batch gives it back.
   */
  turn?: ReadTurn;
  onEvent?: (event: FollowerEvent) => void;
}

export const DEFAULT_POLL_INTERVAL_MS = 250;
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
const NO_FINGERPRINT = "00000000";

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** The default resume: `start` for the first file opened, 0 for every later one. */
class StartOnce implements FollowerResume {
  constructor(private start: FollowStart | undefined) {}

  startOf(file: OpenedFile): StartDecision {
    const start = this.start;
    this.start = undefined;
    if (!start || start.offset <= 0) return { offset: 0, generation: 0 };
    if (start.identity && !sameFile(start.identity, file.identity)) return { offset: 0, generation: 0 };
    if (start.fingerprint !== undefined && file.fingerprint !== start.fingerprint) return { offset: 0, generation: 0 };
    if (start.offset > file.size) return { offset: 0, generation: (start.generation ?? 0) + 1 };
    return { offset: start.offset, generation: start.generation ?? 0 };
  }
}

/** The file being read. */
interface Current {
  fh: FileHandle;
  identity: FileIdentity;
  /** Where it was opened (the followed path, or a sibling for a renamed-away file). */
  readPath: string;
  fingerprint?: string;
  generation: number;
  /** Offset of the next byte to read. */
  position: number;
  /** Largest size seen by a check, for counting what a truncation made unreadable. */
  seenSize: number;
  /** Size and change times at the last check whose fingerprint matched (an unchanged file is not read again). */
  checked?: { size: number; mtimeNs: bigint; ctimeNs: bigint };
}

/** Being read instead of the current file: its copy, for the window before a truncation. */
interface CopyRead {
  fh: FileHandle;
  path: string;
  size: number;
  /** The file's size after the truncation. */
  truncatedTo: number;
  /** Where reading the copy started, and the largest size the file was seen at before. */
  from: number;
  seenSize: number;
}

export class FileFollower implements AsyncIterable<LineBatch> {
  readonly path: string;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly chunkBytes: number;
  private readonly onEvent: (event: FollowerEvent) => void;
  private readonly resume: FollowerResume;
  private readonly endAfterDeletion: boolean;
  private readonly waker: ChangeWaker;
  private readonly splitter = new LineSplitter();
  private readonly turn?: ReadTurn;

  private cur?: Current;
  private copy?: CopyRead;
  /** Set when the current file is to be left: read until it stays quiet, then leave. */
  private leaving?: { reason: "rotated" | "deleted"; next?: FileIdentity; lastDataAt: number };
  private renamed: RenamedAway[] = [];
  /** Files seen at the path after the current one and not read yet, oldest first. */
  private seenAtPath: FileIdentity[] = [];
  private firstOpen = true;
  /** At end of file: check with fstat before reading again (no buffer held while idle). */
  private idle = false;
  private lastCheckAt = 0;
  /** The size seen when the current file was opened, for its first read (no check needed yet). */
  private openedSize?: number;
  /** What the path named at the last check, for the end-of-file handling right after it. */
  private checkedAtPath?: FileIdentity | "missing";
  /** Polls in a row that found nothing new: an idle file is checked less often (see idleWaitMs). */
  private quietPolls = 0;
  private spare?: Buffer;
  private stopped = false;
  private ended = false;
  private lastOpenProblem?: string;

  constructor(opts: FollowerOptions) {
    this.path = opts.path;
    this.log = opts.log;
    this.resume = opts.resume ?? new StartOnce(opts.start);
    this.endAfterDeletion = opts.endAfterDeletion ?? false;
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.turn = opts.turn;
    this.onEvent = opts.onEvent ?? (() => {});
    this.waker = new ChangeWaker(this.path, this.pollIntervalMs);
  }

  /** The file being read and the offset just past its last complete line handed out. */
  get readPosition(): { identity?: FileIdentity; fingerprint?: string; generation: number; offset: number } {
    const c = this.cur;
    return { identity: c?.identity, fingerprint: c?.fingerprint, generation: c?.generation ?? 0, offset: this.splitter.completeOffset };
  }

  /** True once the follower ended by itself (a glob match that was deleted). */
  get hasEnded(): boolean {
    return this.ended;
  }

  /** The next batch of complete lines; waits for data; undefined once stopped or ended. */
  async next(): Promise<LineBatch | undefined> {
    while (!this.stopped && !this.ended) {
      if (!this.cur && !(await this.openNext())) {
        if (this.ended || this.stopped) break;
        await this.waker.wait();
        continue;
      }
      const batch = await this.readChunk();
      if (batch) return batch;
      this.turn?.give();
    }
    return undefined;
  }

  /** Makes a waiting next() return undefined; the file stays open until close(). */
  stop(): void {
    this.stopped = true;
    this.waker.poke();
  }

  async close(): Promise<void> {
    this.stop();
    this.turn?.give();
    this.waker.close();
    await this.copy?.fh.close().catch(() => {});
    this.copy = undefined;
    const c = this.cur;
    if (c) {
      this.cur = undefined;
      await c.fh.close().catch(() => {});
      this.resume.left?.({ path: this.path, identity: c.identity, fingerprint: c.fingerprint, generation: c.generation, readOffset: this.splitter.completeOffset, reason: "closed" });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<LineBatch> {
    return {
      next: async () => {
        const value = await this.next();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** Opens a renamed-away file still to finish, else the followed path; false when there is nothing to open yet. */
  private async openNext(): Promise<boolean> {
    if (this.firstOpen) {
      this.firstOpen = false;
      this.renamed = (await this.resume.renamedAway?.(this.path)) ?? [];
    }
    while (this.renamed.length > 0) {
      if (await this.openRenamedAway(this.renamed.shift()!, "stopped")) return true;
    }
    while (this.seenAtPath.length > 0) {
      const next = this.seenAtPath[0]!;
      const atPath = await this.identityAtPath();
      if (atPath !== "missing" && atPath !== undefined && sameFile(atPath, next)) break; // still at the path
      this.seenAtPath.shift();
      const found = await this.findSibling(next);
      if (!found) {
        this.log.warn(
          `"${this.path}" named file ${describeIdentity(next)} for a while, but it is no longer in "${dirname(this.path)}" (rotated further, compressed or deleted before it was read): its lines are not read`,
        );
        continue;
      }
      if (await this.openRenamedAway({ path: found, identity: next, generation: 0, offset: 0 }, "running")) return true;
    }
    return await this.openPath();
  }

  /** Names in the followed path's directory; none when it cannot be listed. */
  private async siblingNames(): Promise<string[]> {
    try {
      return await readdir(dirname(this.path));
    } catch {
      return [];
    }
  }

  /** The sibling of the path that is file `identity`, if any. */
  private async findSibling(identity: FileIdentity): Promise<string | undefined> {
    const dir = dirname(this.path);
    const names = await this.siblingNames();
    for (const name of names) {
      try {
        const s = await stat(join(dir, name), { bigint: true });
        if (s.isFile() && sameFile(identityOf(s), identity)) return join(dir, name);
      } catch {
        // vanished meanwhile
      }
    }
    return undefined;
  }

  /**
   * Opens a file the path named before and that was renamed since: at a restart (`stopped`, with a
   * saved position and fingerprint), or while running when the path was rotated again before the
   * follower got to it. It is read until it stays quiet, then the next one.
   */
  private async openRenamedAway(r: Omit<RenamedAway, "fingerprint"> & { fingerprint?: string }, when: "stopped" | "running"): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(r.path, "r");
    } catch (err) {
      this.log.warn(`"${this.path}" was renamed to "${r.path}", but it cannot be opened (${(err as Error).message}); its lines after offset ${r.offset} are not read`);
      return false;
    }
    const stats = await fh.stat({ bigint: true });
    const identity = identityOf(stats);
    const fingerprint = Number(stats.size) > 0 ? await fingerprintOf(fh) : undefined;
    const same = sameFile(identity, r.identity) && (r.fingerprint === undefined || fingerprint === r.fingerprint);
    const decision = same
      ? await this.resume.startOf({ path: r.path, identity, size: Number(stats.size), fingerprint, renamedAway: true })
      : { skip: `it is no longer the same file` };
    if (!("offset" in decision)) {
      await fh.close().catch(() => {});
      this.log.info(`not reading "${r.path}" (a file "${this.path}" named before): ${"skip" in decision ? decision.skip : decision.wait}`);
      return false;
    }
    this.setCurrent(fh, identity, r.path, fingerprint, decision, Number(stats.size));
    // Read it until it stays quiet (its writer may still be finishing it), then the next one.
    this.leaving = { reason: "rotated", lastDataAt: Date.now() };
    this.log.info(
      when === "stopped"
        ? `"${this.path}" was rotated while the agent was stopped: finishing file ${describeIdentity(identity)}, now "${r.path}", from offset ${decision.offset} before "${this.path}"`
        : `"${this.path}" was rotated again before file ${describeIdentity(identity)} was read: reading it, now "${r.path}", from offset ${decision.offset}`,
    );
    this.onEvent({ type: "opened", identity, offset: decision.offset });
    return true;
  }

  private async openPath(): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, "r");
    } catch (err) {
      const missing = errorCode(err) === "ENOENT";
      const problem = missing ? `waiting for "${this.path}" to appear` : `cannot open "${this.path}": ${(err as Error).message}; retrying`;
      if (problem !== this.lastOpenProblem) {
        if (missing) this.log.info(problem);
        else this.log.error(problem);
        this.lastOpenProblem = problem;
      }
      return false;
    }
    const stats = await fh.stat({ bigint: true });
    if (!stats.isFile()) {
      await fh.close().catch(() => {});
      const problem = `"${this.path}" is not a regular file; waiting`;
      if (problem !== this.lastOpenProblem) this.log.error(problem);
      this.lastOpenProblem = problem;
      return false;
    }
    const identity = identityOf(stats);
    const size = Number(stats.size);
    const fingerprint = size > 0 ? await fingerprintOf(fh) : undefined;
    const decision = await this.resume.startOf({ path: this.path, identity, size, fingerprint, renamedAway: false });
    if (!("offset" in decision)) {
      await fh.close().catch(() => {});
      const problem = "wait" in decision ? decision.wait : decision.skip;
      if (problem !== this.lastOpenProblem) this.log.info(`not reading "${this.path}" now: ${problem}`);
      this.lastOpenProblem = problem;
      return false;
    }
    this.lastOpenProblem = undefined;
    this.seenAtPath = this.seenAtPath.filter((id) => !sameFile(id, identity));
    this.setCurrent(fh, identity, this.path, fingerprint, decision, size);
    this.log.info(`following "${this.path}" (file ${describeIdentity(identity)}, ${size} bytes) from offset ${decision.offset}`);
    this.onEvent({ type: "opened", identity, offset: decision.offset });
    return true;
  }

  private setCurrent(fh: FileHandle, identity: FileIdentity, readPath: string, fingerprint: string | undefined, start: { offset: number; generation: number }, size: number): void {
    this.cur = { fh, identity, readPath, fingerprint, generation: start.generation, position: start.offset, seenSize: size };
    this.splitter.reset(start.offset);
    // The size is known: the first read takes no more than is there (small files, many of them),
    // without checking the file again.
    this.openedSize = size;
    this.quietPolls = 0;
    this.idle = true;
    this.lastCheckAt = Date.now();
  }

  /** Reads one chunk; returns its complete lines, or undefined after handling end of file. */
  private async readChunk(): Promise<LineBatch | undefined> {
    const cur = this.cur!;
    const copy = this.copy;
    let want = this.chunkBytes;
    const openedSize = this.openedSize;
    this.openedSize = undefined;
    if (!copy && openedSize !== undefined && openedSize > cur.position) {
      want = Math.min(this.chunkBytes, openedSize - cur.position);
      this.idle = false;
    } else if (!copy) {
      if (this.idle || Date.now() - this.lastCheckAt >= this.pollIntervalMs) {
        const size = await this.check(cur);
        if (size === undefined) return undefined; // truncated: handled
        if (size === cur.position) return await this.atEndOfFile();
        want = Math.min(this.chunkBytes, size - cur.position);
        this.idle = false;
      }
    } else {
      want = Math.min(this.chunkBytes, copy.size - cur.position);
      if (want <= 0) return await this.finishCopy();
    }
    const turn = this.turn?.take();
    if (turn) {
      await turn;
      if (this.stopped) return undefined;
    }
    // The start of an unfinished line comes first in the buffer, so lines are consecutive bytes.
    let { buf, at } = this.splitter.readBuffer(want, this.spare);
    this.spare = undefined;
    // A long unfinished line reads as much again as it holds, so it is copied a bounded number of times.
    if (!copy && at > want) want = Math.min(at, buf.length - at);
    const { bytesRead } = await (copy ?? cur).fh.read(buf, at, want, cur.position);
    if (bytesRead === 0) {
      if (copy) return await this.finishCopy();
      this.idle = true; // an fstat decides what comes next; the buffer is let go
      return undefined;
    }
    cur.position += bytesRead;
    this.quietPolls = 0;
    if (cur.position > cur.seenSize) cur.seenSize = cur.position;
    if (this.leaving) this.leaving.lastDataAt = Date.now();
    if (at + bytesRead < buf.length / 8) {
      // A small tail write: copy it so the lines do not pin a whole buffer, and reuse the buffer.
      this.spare = buf;
      buf = Buffer.from(buf.subarray(0, at + bytesRead));
    }
    const lines = this.splitter.split(buf, at, bytesRead);
    if (!lines) return undefined;
    // A complete line exists, so the first line is complete too: the fingerprint is known.
    if (cur.fingerprint === undefined) {
      cur.fingerprint = (await fingerprintOf(copy?.fh ?? cur.fh)) ?? NO_FINGERPRINT;
      cur.generation = this.resume.generationFor?.(cur.identity, cur.fingerprint, cur.generation) ?? cur.generation;
    }
    return { path: this.path, identity: cur.identity, fingerprint: cur.fingerprint, generation: cur.generation, ...lines };
  }

  /**
   * The file's size now, after checking that it was not truncated or replaced in place (then
   * the truncation is handled and undefined returned).
   */
  private async check(cur: Current): Promise<number | undefined> {
    this.lastCheckAt = Date.now();
    this.checkedAtPath = undefined;
    const stats = await cur.fh.stat({ bigint: true });
    const size = Number(stats.size);
    let replaced = size < cur.position;
    const c = cur.checked;
    const unchanged = c !== undefined && c.size === size && c.mtimeNs === stats.mtimeNs && c.ctimeNs === stats.ctimeNs;
    if (!replaced && !unchanged && cur.fingerprint !== undefined && cur.fingerprint !== NO_FINGERPRINT && size > 0) {
      // Truncated and written again past our offset between two checks: the first line changed.
      // (Not read again while size and change times stay the same: an idle file costs one fstat.)
      const now = await fingerprintOf(cur.fh);
      replaced = now !== undefined && now !== cur.fingerprint;
      if (!replaced) cur.checked = { size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
    }
    if (replaced) {
      await this.truncated(cur, size);
      return undefined;
    }
    if (size > cur.seenSize) cur.seenSize = size;
    const atPath = await this.identityAtPath();
    this.notePath(atPath);
    this.checkedAtPath = atPath;
    return size;
  }

  /** Remembers a file seen at the path that is not the one being read, in order. */
  private notePath(atPath: FileIdentity | "missing" | undefined): void {
    if (atPath === undefined || atPath === "missing") return;
    const cur = this.cur;
    if (cur && sameFile(atPath, cur.identity)) return;
    const last = this.seenAtPath.at(-1);
    if (last && sameFile(last, atPath)) return;
    this.seenAtPath.push(atPath);
    this.log.debug(`"${this.path}" now names file ${describeIdentity(atPath)} (${this.seenAtPath.length} not read yet)`);
  }

  private async atEndOfFile(): Promise<LineBatch | undefined> {
    const cur = this.cur!;
    this.spare = undefined; // an idle file holds no buffer
    if (this.leaving) {
      if (Date.now() - this.leaving.lastDataAt >= this.pollIntervalMs) return await this.leave();
      await this.waker.wait();
      return undefined;
    }
    // Right after a check (the usual way here), what the path names is known.
    const checked = this.checkedAtPath;
    this.checkedAtPath = undefined;
    const atPath = checked ?? (await this.identityAtPath());
    this.notePath(atPath);
    if (this.seenAtPath.length > 0) {
      // Renamed away and replaced: read the old file again (a writer may still be finishing it).
      this.leaving = { reason: "rotated", next: this.seenAtPath[0], lastDataAt: Date.now() };
      return undefined;
    }
    if (atPath === "missing") {
      // Renamed away with no new file yet, or deleted: finish it, then wait for the path.
      const links = Number((await cur.fh.stat({ bigint: true })).nlink);
      this.leaving = { reason: links === 0 ? "deleted" : "rotated", lastDataAt: Date.now() };
      return undefined;
    }
    const hinted = await this.waker.wait(this.idleWaitMs());
    this.quietPolls = hinted ? 0 : this.quietPolls + 1;
    return undefined;
  }

  /**
   * How long an idle file waits before the next check: the poll interval, doubling while polls
   * find nothing, up to four times it. A change seen by fs.watch wakes it at once anyway; the
   * poll is for file systems where the watch misses events. A thousand idle files polled every
   * 250 ms took about 40% of a core.
   */
  private idleWaitMs(): number {
    return this.pollIntervalMs * Math.min(4, 2 ** this.quietPolls);
  }

  private async identityAtPath(): Promise<FileIdentity | "missing" | undefined> {
    try {
      return identityOf(await stat(this.path, { bigint: true }));
    } catch (err) {
      if (errorCode(err) === "ENOENT") return "missing";
      this.log.warn(`cannot check "${this.path}": ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * The current file is shorter than what was read (or its first line changed): it was truncated,
   * by copytruncate most often. Lines written after the last read are read from the copy when one
   * is found; then the file is read again from 0 with the next generation.
   */
  private async truncated(cur: Current, size: number): Promise<void> {
    if (cur.fingerprint !== undefined && cur.fingerprint !== NO_FINGERPRINT) {
      const found = await this.findCopy(cur);
      if (found) {
        this.copy = { ...found, truncatedTo: size, from: cur.position, seenSize: cur.seenSize };
        this.log.info(
          `"${this.path}" was truncated after offset ${cur.position}; reading the rest of the old content from its copy "${found.path}" (${found.size - cur.position} bytes) first`,
        );
        return;
      }
    }
    this.restartAfterTruncation(cur, size, 0, Math.max(0, cur.seenSize - cur.position));
  }

  /** A sibling file that holds the truncated content: same first line, and at least as long as what was read. */
  private async findCopy(cur: Current): Promise<{ fh: FileHandle; path: string; size: number } | undefined> {
    const dir = dirname(this.path);
    const names = await this.siblingNames();
    const own = basename(cur.readPath);
    let best: { path: string; size: number; mtimeMs: number } | undefined;
    for (const name of names) {
      if (name === own) continue;
      const path = join(dir, name);
      try {
        const s = await stat(path, { bigint: true });
        if (!s.isFile() || sameFile(identityOf(s), cur.identity) || Number(s.size) <= cur.position) continue;
        if (best && Number(s.mtimeMs) < best.mtimeMs) continue;
        const fh = await open(path, "r");
        try {
          if ((await fingerprintOf(fh)) !== cur.fingerprint) continue;
          if (cur.position > 0) {
            const b = Buffer.alloc(1);
            await fh.read(b, 0, 1, cur.position - 1);
            if (b[0] !== 10) continue; // our offset is not a line boundary there: another file
          }
          best = { path, size: Number(s.size), mtimeMs: Number(s.mtimeMs) };
        } finally {
          await fh.close();
        }
      } catch {
        // vanished or unreadable: not the copy
      }
    }
    if (!best) return undefined;
    try {
      return { fh: await open(best.path, "r"), path: best.path, size: best.size };
    } catch {
      return undefined;
    }
  }

  private async finishCopy(): Promise<LineBatch | undefined> {
    const cur = this.cur!;
    const copy = this.copy!;
    this.copy = undefined;
    await copy.fh.close().catch(() => {});
    // The copy was read to its end: whatever the file held beyond it (seen by a check) is lost.
    this.restartAfterTruncation(cur, copy.truncatedTo, copy.size - copy.from, Math.max(0, copy.seenSize - copy.size));
    return undefined;
  }

  private restartAfterTruncation(cur: Current, size: number, recoveredBytes: number, lost: number): void {
    const dropped = this.splitter.pendingBytes;
    const readUpTo = cur.position;
    this.log.warn(
      `"${this.path}" was truncated: read up to offset ${readUpTo}, it is now ${size} bytes; reading it again from offset 0` +
        (recoveredBytes > 0 ? ` (${recoveredBytes} bytes written before the truncation were read from its copy)` : "") +
        (lost > 0 ? `; at least ${lost} bytes written before the truncation could not be read (lost)` : "") +
        (dropped > 0 ? ` (dropping ${dropped} bytes of an unterminated last line)` : ""),
    );
    this.onEvent({ type: "truncated", identity: cur.identity, readUpTo, size, droppedPartialBytes: dropped, recoveredBytes, lostBytes: lost });
    this.resume.left?.({ path: this.path, identity: cur.identity, fingerprint: cur.fingerprint, generation: cur.generation, readOffset: this.splitter.completeOffset, reason: "truncated" });
    cur.generation++;
    cur.fingerprint = undefined;
    cur.checked = undefined;
    cur.position = 0;
    cur.seenSize = size;
    this.splitter.reset(0);
    this.idle = false;
  }

  /** Leaves the finished file; its unterminated last line, if any, is handed out as a line. */
  private async leave(): Promise<LineBatch | undefined> {
    const cur = this.cur!;
    const leaving = this.leaving!;
    const held = this.splitter.takeHeld();
    if (held) cur.fingerprint ??= (await fingerprintOf(cur.fh)) ?? NO_FINGERPRINT;
    const batch: LineBatch | undefined = held
      ? { path: this.path, identity: cur.identity, fingerprint: cur.fingerprint!, generation: cur.generation, ...held }
      : undefined;
    const heldBytes = held?.data.length ?? 0;
    const heldNote = held ? ` (its last ${heldBytes} bytes had no newline; sent as a line)` : "";
    if (leaving.reason === "deleted") {
      this.log.info(`"${this.path}" was deleted: finished file ${describeIdentity(cur.identity)} at offset ${cur.position}${heldNote}` + (this.endAfterDeletion ? "" : `; waiting for "${this.path}" to appear again`));
      this.onEvent({ type: "deleted", identity: cur.identity, finishedAt: cur.position, unterminatedBytes: heldBytes });
    } else {
      this.log.info(
        `"${this.path}" was rotated: finished file ${describeIdentity(cur.identity)}` + (cur.readPath !== this.path ? ` ("${cur.readPath}")` : "") +
          ` at offset ${cur.position}${heldNote}` + (leaving.next ? `; now following file ${describeIdentity(leaving.next)}` : ""),
      );
      this.onEvent({ type: "rotated", from: cur.identity, to: leaving.next, finishedAt: cur.position, unterminatedBytes: heldBytes });
    }
    this.resume.left?.({ path: this.path, identity: cur.identity, fingerprint: cur.fingerprint, generation: cur.generation, readOffset: this.splitter.offset, reason: leaving.reason });
    await cur.fh.close().catch(() => {});
    this.cur = undefined;
    this.leaving = undefined;
    this.spare = undefined;
    this.splitter.reset(0);
    // A glob match whose path is gone (deleted, or renamed to a name the pattern may not match)
    // ends here; the next scan follows whatever matches then.
    if (this.endAfterDeletion && (leaving.reason === "deleted" || (this.seenAtPath.length === 0 && (await this.identityAtPath()) === "missing"))) {
      this.ended = true;
    }
    return batch;
  }
}
