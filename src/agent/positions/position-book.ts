// The agent's positions: for every file version it reads (device, inode, fingerprint,
// generation), the offset up to which every line is acknowledged, and the followed path that
// read it. Settlements only update a number and a flag (the publishing path stays cheap); a timer
// writes the book to the state directory when it changed, and close() writes it a last time.
//
// A version is "complete" once its follower left it (rotated away, deleted, or truncated to a new
// generation) and every line read from it is acknowledged. After a restart, an incomplete version
// whose path now names another file was rotated while the agent was stopped: it is looked for
// among the path's siblings and finished first (resume-planner.ts).
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../../shared/log.js";
import { fileVersionKey } from "../../protocol/msg-id.js";
import type { FileIdentity } from "../file-identity.js";
import { POSITIONS_FORMAT, POSITIONS_VERSION, readPositions, writePositions, type SavedFile } from "./positions-file.js";
import { StateLock } from "./state-lock.js";

export const DEFAULT_SAVE_INTERVAL_MS = 200;
const DAY_MS = 86_400_000;
/** Complete versions are kept this long, so a file that shows up again under another name is known. */
const KEEP_COMPLETE_MS = 7 * DAY_MS;
/** Versions no agent touched for this long are forgotten. */
const KEEP_IDLE_MS = 30 * DAY_MS;

export interface FileVersion {
  /** The followed path (an entry of --file, or a glob match) that last read this file. */
  path: string;
  readonly identity: FileIdentity;
  readonly fingerprint: string;
  readonly generation: number;
  /** `<dev>:<ino>:<fingerprint>:<generation>`, as in message ids. */
  readonly key: string;
  /** Every line before this offset is acknowledged (or refused and logged). */
  offset: number;
  complete: boolean;
  updatedAt: number;
  /** In this process: where its follower stopped reading it for good. */
  leftAt?: number;
  /** It was left because it was deleted (its inode may come back for another file): never resumed. */
  deleted?: boolean;
  /** Changed since the last save. */
  changed?: boolean;
}

export interface PositionBookOptions {
  host: string;
  log: Logger;
  /** Where to save; none keeps the book in memory only (tests, embedding). */
  dir?: string;
  saveIntervalMs?: number;
}

export class PositionBook {
  readonly dir?: string;
  private readonly host: string;
  private readonly log: Logger;
  private readonly saveIntervalMs: number;
  private readonly versions = new Map<string, FileVersion>();
  private lock?: StateLock;
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Immediate;
  private saving?: Promise<void>;
  private dirty = false;
  private lastSaveError?: string;
  saves = 0;
  saveErrors = 0;

  private constructor(opts: PositionBookOptions) {
    this.dir = opts.dir;
    this.host = opts.host;
    this.log = opts.log;
    this.saveIntervalMs = opts.saveIntervalMs ?? DEFAULT_SAVE_INTERVAL_MS;
  }

  static inMemory(host: string, log: Logger): PositionBook {
    return new PositionBook({ host, log });
  }

  /** Locks the state directory and loads what was saved there; ConfigError when another agent has it. */
  static async open(opts: PositionBookOptions & { dir: string }): Promise<PositionBook> {
    const book = new PositionBook(opts);
    book.lock = StateLock.acquire(opts.dir, opts.log);
    try {
      const saved = await readPositions(opts.dir);
      if (saved) {
        if (saved.host !== opts.host) {
          opts.log.warn(`the saved positions in "${opts.dir}" were written for host "${saved.host}"; this agent is "${opts.host}" and resumes from them`);
        }
        let gone = 0;
        for (const f of saved.files) {
          // A version whose directory is gone can never be read again (temporary directories).
          if (existsSync(dirname(f.path))) book.load(f);
          else gone++;
        }
        if (gone > 0) book.dirty = true;
        opts.log.info(
          `loaded the saved positions of ${saved.files.length - gone} file versions from "${opts.dir}" (saved ${saved.savedAt})` +
            (gone > 0 ? `; forgot ${gone} whose directory no longer exists` : ""),
        );
      } else {
        opts.log.info(`no saved positions in "${opts.dir}" yet: every file starts from its beginning`);
      }
    } catch (err) {
      book.lock.release();
      throw err;
    }
    return book;
  }

  private load(f: SavedFile): void {
    const identity = f.born ? { dev: f.dev, ino: f.ino, born: f.born } : { dev: f.dev, ino: f.ino };
    const key = fileVersionKey(f.dev, f.ino, f.fingerprint, f.generation);
    this.versions.set(key, {
      path: f.path,
      identity,
      fingerprint: f.fingerprint,
      generation: f.generation,
      key,
      offset: f.offset,
      complete: f.complete,
      deleted: f.deleted,
      updatedAt: f.updatedAt,
    });
  }

  /** The version of a file as `path` reads it now (created at `offset` when new). */
  version(path: string, identity: FileIdentity, fingerprint: string, generation: number, offset = 0): FileVersion {
    const key = fileVersionKey(identity.dev, identity.ino, fingerprint, generation);
    let v = this.versions.get(key);
    if (!v) {
      v = { path, identity, fingerprint, generation, key, offset, complete: false, updatedAt: Date.now(), changed: true };
      this.versions.set(key, v);
      this.dirty = true;
      // A file read for the first time is saved at once, not at the next tick: if the agent dies
      // now and the file is rotated before it restarts, the saved identity is how it is found.
      this.saveSoon();
    } else if (v.path !== path || v.complete || v.leftAt !== undefined) {
      // Read again (by another followed path, or after it was left): not complete until left again.
      v.path = path;
      v.complete = false;
      v.leftAt = undefined;
      v.deleted = undefined;
      v.changed = true;
      this.dirty = true;
    }
    return v;
  }

  /** Every line of `v` before `offset` is acknowledged. Called in offset order; cheap. */
  settle(v: FileVersion, offset: number): void {
    if (offset > v.offset) v.offset = offset;
    if (v.leftAt !== undefined && v.offset >= v.leftAt) v.complete = true;
    v.changed = true;
    this.dirty = true;
  }

  /** Its follower will read no more of `v` than `readOffset` (it rotated away, was deleted or truncated). */
  left(v: FileVersion, readOffset: number, deleted = false): void {
    v.leftAt = readOffset;
    v.deleted = deleted || undefined;
    if (v.offset >= readOffset) v.complete = true;
    v.changed = true;
    this.dirty = true;
  }

  /**
   * The best known position in this file with this fingerprint, read through a path in directory
   * `dir` (the same inode and first line elsewhere is another file that reused the inode): the
   * newest generation, furthest offset. A deleted version is only returned with `includeDeleted`
   * (to pick a new generation).
   */
  find(identity: FileIdentity, fingerprint: string, dir: string, includeDeleted = false): FileVersion | undefined {
    let best: FileVersion | undefined;
    for (const v of this.versions.values()) {
      if (v.identity.dev !== identity.dev || v.identity.ino !== identity.ino || v.fingerprint !== fingerprint) continue;
      if (dirname(v.path) !== dir) continue;
      if (v.deleted && !includeDeleted) continue;
      if (!best || v.generation > best.generation || (v.generation === best.generation && v.offset > best.offset)) best = v;
    }
    return best;
  }

  get(key: string): FileVersion | undefined {
    return this.versions.get(key);
  }

  /** Versions last read through `path` and not complete, oldest first. */
  unfinishedAt(path: string): FileVersion[] {
    return [...this.versions.values()].filter((v) => v.path === path && !v.complete).sort((a, b) => a.updatedAt - b.updatedAt);
  }

  /** Forgets a version (its file is gone for good). */
  forget(v: FileVersion): void {
    if (this.versions.delete(v.key)) this.dirty = true;
  }

  get size(): number {
    return this.versions.size;
  }

  all(): FileVersion[] {
    return [...this.versions.values()];
  }

  /** Saves every `saveIntervalMs` while something changed. */
  startSaving(): void {
    if (!this.dir || this.timer) return;
    this.timer = setInterval(() => void this.save(), this.saveIntervalMs);
    this.timer.unref();
  }

  private saveSoon(): void {
    if (!this.dir || !this.timer || this.soon) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      void this.save();
    });
  }

  /** Writes the book if it changed (waits for a save in progress first). */
  async save(): Promise<void> {
    if (!this.dir) return;
    while (this.saving) await this.saving;
    if (!this.dirty) return;
    this.saving = this.write().finally(() => (this.saving = undefined));
    await this.saving;
  }

  private async write(): Promise<void> {
    this.dirty = false;
    const now = Date.now();
    this.prune(now);
    const files: SavedFile[] = [];
    for (const v of this.versions.values()) {
      if (v.changed) {
        v.updatedAt = now;
        v.changed = false;
      }
      files.push({
        path: v.path,
        dev: v.identity.dev,
        ino: v.identity.ino,
        ...(v.identity.born ? { born: v.identity.born } : {}),
        fingerprint: v.fingerprint,
        generation: v.generation,
        offset: v.offset,
        complete: v.complete,
        ...(v.deleted ? { deleted: true } : {}),
        updatedAt: v.updatedAt,
      });
    }
    try {
      await writePositions(this.dir!, { format: POSITIONS_FORMAT, version: POSITIONS_VERSION, host: this.host, savedAt: new Date(now).toISOString(), files });
      this.saves++;
      if (this.lastSaveError) this.log.info(`saving positions in "${this.dir}" works again`);
      this.lastSaveError = undefined;
    } catch (err) {
      this.dirty = true;
      this.saveErrors++;
      const message = (err as Error).message;
      if (message !== this.lastSaveError) {
        this.log.error(`cannot save positions in "${this.dir}": ${message}; still shipping, retrying (after a restart now, lines since the last save would be sent again)`);
      }
      this.lastSaveError = message;
    }
  }

  /** Drops versions nobody needs any more: complete and superseded by a newer generation, or long idle. */
  private prune(now: number): void {
    const newest = new Map<string, number>();
    for (const v of this.versions.values()) {
      const id = `${v.identity.dev}:${v.identity.ino}`;
      newest.set(id, Math.max(newest.get(id) ?? 0, v.generation));
    }
    for (const [key, v] of this.versions) {
      const idle = now - v.updatedAt;
      const superseded = v.generation < (newest.get(`${v.identity.dev}:${v.identity.ino}`) ?? 0);
      const inUse = v.leftAt === undefined && !v.complete && idle < KEEP_IDLE_MS;
      // A deleted version is kept as long as a complete one: if its inode comes back for a file
      // with the same first line, the new file's ids must take the next generation.
      if (v.complete && (superseded || idle > KEEP_COMPLETE_MS)) this.versions.delete(key);
      else if (!inUse && idle > KEEP_IDLE_MS) this.versions.delete(key);
    }
  }

  /** Stops the timer, saves a last time and releases the lock. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
    try {
      await this.save();
    } finally {
      this.lock?.release();
      this.lock = undefined;
    }
  }
}
