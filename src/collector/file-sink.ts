// The per-host file sink of SPEC.md §3: each line plus "\n" goes to
// `<directory>/<host>/<expanded output pattern>`, the pattern expanded for local midnight so files
// roll at local midnight; directories 0755, files 0644, opened for append (a restart appends);
// `Creating new log "<path>"` when a host's file is first opened; files of the same pattern older
// than 7 days (mtime) removed from the host's directory when a new file is opened.
// Beyond the original: one write per host per batch, fsync before acknowledging (optional), a
// bound on open files (least recently used closed first) so 10,000 hosts need no 10,000 fds.
import { join } from "node:path";
import type { OutputPattern } from "../config/output-pattern.js";
import type { Logger } from "../shared/log.js";
import { hostDirectory } from "./host-directory.js";
import { joinLines, type LineSink } from "./line-sink.js";
import { mapLimited } from "./map-limited.js";
import { nodeSinkFileSystem, type AppendFile, type SinkFileSystem } from "./sink-fs.js";

export const DIRECTORY_MODE = 0o755;
export const FILE_MODE = 0o644;
export const DEFAULT_MAX_OPEN_FILES = 1000;
export const DEFAULT_RETENTION_DAYS = 7;
const DAY_MS = 86_400_000;
/** fsyncs running at once in a flush: more than the thread pool runs gains nothing. */
const SYNCS_AT_ONCE = 16;

export interface FileSinkOptions {
  directory: string;
  output: OutputPattern;
  log: Logger;
  /** fsync each written file on flush (default true: a line is on disk before it is acknowledged). */
  fsync?: boolean;
  /**
   * fsync a dirty file when the open-file bound closes it (default true). False when a journal
   * holds what was written (partition-journal.ts): the file is then fsynced by the next flush,
   * through a descriptor of its own, so an eviction costs no fsync.
   */
  syncOnEvict?: boolean;
  /** Open files kept at most; the least recently used are closed first (default 1000). */
  maxOpenFiles?: number;
  /** Files of the pattern older than this many days are removed when a new file opens (default 7). */
  retentionDays?: number;
  fs?: SinkFileSystem;
  /** The clock that picks the day's file and the clean-up cut-off (tests move it). */
  now?: () => Date;
}

export interface FileSinkStats {
  opened: number;
  closed: number;
  evicted: number;
  removedOld: number;
}

/** A write that failed; `partial` when a failed write could not be undone (bytes may remain). */
export class SinkWriteError extends Error {
  override readonly name = "SinkWriteError";
  constructor(
    message: string,
    readonly path: string,
    readonly partial: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface HostFile {
  readonly host: string;
  readonly name: string;
  readonly path: string;
  file?: AppendFile;
  /** Bytes in the file as far as we know: where to cut back a failed append. */
  size: number;
  /** Appends made, and how many of them the last fsync that worked covered: dirty while they differ. */
  writes: number;
  synced: number;
  /** An fsync running on `file` (flush does not hold later appends back): the fd is closed only after it. */
  syncing?: Promise<void>;
  /** The host's directory is known to exist: a reopen after the LRU bound closed the file needs no mkdir. */
  dirReady: boolean;
}

/** A host's chain of operations: the last one queued, and how many are queued or running. */
interface HostQueue {
  tail: Promise<void> | undefined;
  queued: number;
}

export class FileSink implements LineSink {
  readonly stats: FileSinkStats = { opened: 0, closed: 0, evicted: 0, removedOld: 0 };
  private readonly fs: SinkFileSystem;
  private readonly now: () => Date;
  private readonly fsync: boolean;
  private readonly syncOnEvict: boolean;
  private readonly maxOpen: number;
  private readonly retentionMs: number;
  /** The current day's file of each host seen (open or not). */
  private readonly current = new Map<string, HostFile>();
  /** Open files in least-recently-used order (a Map iterates in insertion order). */
  private readonly open = new Map<string, HostFile>();
  /** Per-host chain of operations: one host's writes, syncs and closes never overlap. */
  private readonly tails = new Map<string, HostQueue>();
  /** Hosts with an operation running: never closed by the LRU bound meanwhile. */
  private readonly busy = new Set<string>();
  private rootReady = false;
  private closed = false;

  constructor(private readonly opts: FileSinkOptions) {
    this.fs = opts.fs ?? nodeSinkFileSystem;
    this.now = opts.now ?? (() => new Date());
    this.fsync = opts.fsync ?? true;
    this.syncOnEvict = opts.syncOnEvict ?? true;
    this.maxOpen = Math.max(1, opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES);
    this.retentionMs = (opts.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS;
  }

  get openFiles(): number {
    return this.open.size;
  }

  write(host: string, lines: readonly Uint8Array[]): Promise<number> {
    return this.append(host, joinLines(lines));
  }

  /** Appends bytes already joined (joinLines: each line followed by "\n"); all or nothing, like write(). */
  append(host: string, data: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Error("the file sink is closed"));
    return this.serial(host, async () => {
      const hf = await this.fileFor(host);
      const before = hf.size;
      try {
        await hf.file!.append(data);
      } catch (err) {
        await this.undoAppend(hf, before, err);
      }
      hf.size += data.length;
      hf.writes++;
      return data.length;
    });
  }

  /**
   * The usual append: the host's file for today is open and nothing is queued for it, so the
   * write is made now, with no promise, no queue and no lookup of the day's file (most hosts of
   * most batches; the queued path cost more than the write itself).
   */
  appendNow(host: string, data: Uint8Array): number | Promise<never> | undefined {
    const hf = this.ready(host);
    const file = hf?.file;
    if (!hf || !file?.appendNow) return undefined;
    const before = hf.size;
    try {
      if (!file.appendNow(data)) return undefined;
    } catch (err) {
      const failed = this.serial(host, () => this.undoAppend(hf, before, err));
      failed.catch(() => undefined); // the caller handles it (maybe later): never an unhandled rejection
      return failed;
    }
    hf.size += data.length;
    hf.writes++;
    this.open.delete(host); // most recently used, as fileFor() does
    this.open.set(host, hf);
    return data.length;
  }

  /**
   * A host already written today, with nothing queued: its file and size are known without
   * opening it (with 10,000 hosts and 1,000 open files, asking opened most files twice a batch).
   */
  positionNow(host: string): { path: string; size: number } | undefined {
    const known = this.ready(host);
    return known ? { path: known.path, size: known.size } : undefined;
  }

  position(host: string): Promise<{ path: string; size: number }> {
    if (this.closed) return Promise.reject(new Error("the file sink is closed"));
    const known = this.positionNow(host);
    if (known) return Promise.resolve(known);
    return this.serial(host, async () => {
      const hf = await this.fileFor(host);
      return { path: hf.path, size: hf.size };
    });
  }

  /**
   * fsyncs the hosts' files. Covers every write queued before the call (it waits for those), but
   * is not queued with the appends itself: the next batch's writes go on while the fsync runs.
   * A failed fsync leaves the file dirty and rejects, so nothing is acknowledged.
   */
  async flush(hosts?: Iterable<string>): Promise<void> {
    if (!this.fsync) return;
    const targets = hosts ? [...hosts] : [...this.current.keys()];
    // A bounded number at once: a checkpoint may fsync 10,000 hosts' files, most of them closed,
    // and each of those needs a descriptor of its own while it runs.
    const failures: unknown[] = [];
    await mapLimited(targets, SYNCS_AT_ONCE, (host) => this.syncHost(host).catch((err: unknown) => void failures.push(err)));
    if (failures.length > 0) throw failures[0];
  }

  private async syncHost(host: string): Promise<void> {
    const before = this.tails.get(host)?.tail;
    if (before) await before; // the writes queued before the flush (their failures are the writer's)
    const hf = this.current.get(host);
    if (hf && !hf.file) return await this.syncClosed(hf);
    const file = hf?.file;
    if (!hf || !file || !isDirty(hf)) return;
    const upTo = hf.writes;
    const sync = file.sync();
    const running = hf.syncing ? Promise.allSettled([hf.syncing, sync]).then(() => undefined) : sync.then(noop, noop);
    hf.syncing = running;
    try {
      await sync;
      if (hf.synced < upTo) hf.synced = upTo;
    } finally {
      if (hf.syncing === running) hf.syncing = undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tails.values()].map((q) => q.tail));
    const errors: unknown[] = [];
    for (const hf of [...this.open.values()]) {
      try {
        await this.closeFile(hf);
      } catch (err) {
        errors.push(err);
      }
    }
    for (const hf of this.current.values()) {
      try {
        await this.syncClosed(hf);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `closing ${errors.length} output files failed`);
  }

  /** The host's file for today when it is known and nothing is queued for the host (open or not). */
  private ready(host: string): HostFile | undefined {
    if (this.closed) return undefined;
    const hf = this.current.get(host);
    return hf && !this.tails.has(host) && hf.name === this.fileName() ? hf : undefined;
  }

  /** The host's file for today, open and most recently used. */
  private async fileFor(host: string): Promise<HostFile> {
    const name = this.fileName();
    let hf = this.current.get(host);
    let dirReady = false;
    if (hf && hf.name !== name) {
      // Local midnight passed: finish yesterday's file before opening today's (fsynced even when
      // closed earlier without: nothing reaches it afterwards).
      await this.closeFile(hf);
      await this.syncClosed(hf);
      dirReady = hf.dirReady;
      hf = undefined;
    }
    let isNew = false;
    if (!hf) {
      const dir = hostDirectory(this.opts.directory, host);
      if (dir === undefined) throw new SinkWriteError(`refusing the unsafe host name ${JSON.stringify(host)} as a directory`, "", false);
      hf = { host, name, path: join(dir, name), size: 0, writes: 0, synced: 0, dirReady };
      this.current.set(host, hf);
      isNew = true;
    }
    if (!hf.file) {
      await this.makeRoom();
      if (!this.rootReady) {
        await this.fs.mkdir(this.opts.directory, DIRECTORY_MODE);
        this.rootReady = true;
      }
      const dir = join(this.opts.directory, host);
      const { file, madeDir } = await this.openIn(hf, dir);
      hf.file = file;
      hf.size = file.sizeAtOpen;
      this.stats.opened++;
      if (isNew) {
        this.opts.log.info(`Creating new log "${hf.path}"`);
        if (!madeDir) await this.removeOld(dir, name); // a directory just made holds no old logs
      } else {
        this.opts.log.debug(`Reopening log "${hf.path}"`);
      }
    }
    this.open.delete(host);
    this.open.set(host, hf);
    return hf;
  }

  /** The day's file name (one string shared by every host's HostFile: the pattern caches it). */
  private fileName(): string {
    return this.opts.output.fileNameFor(this.now());
  }

  /**
   * Opens for append; the directory is made on a host's first open, and again if it was removed
   * meanwhile. `madeDir`: the directory was made now, so the file is new.
   */
  private async openIn(hf: HostFile, dir: string): Promise<{ file: AppendFile; madeDir: boolean }> {
    let madeDir = false;
    if (!hf.dirReady) {
      madeDir = await this.fs.mkdir(dir, DIRECTORY_MODE);
      hf.dirReady = true;
    }
    try {
      return { file: await this.fs.openAppend(hf.path, FILE_MODE, madeDir), madeDir };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      madeDir = await this.fs.mkdir(dir, DIRECTORY_MODE);
      return { file: await this.fs.openAppend(hf.path, FILE_MODE, madeDir), madeDir };
    }
  }

  /** Cuts a failed append back so a retry cannot duplicate a part of it; then closes the file. */
  private async undoAppend(hf: HostFile, before: number, cause: unknown): Promise<never> {
    let partial = false;
    try {
      await hf.file!.truncate(before);
    } catch {
      partial = true;
    }
    try {
      await this.closeFile(hf); // a retry opens the file afresh
    } catch {
      // the append already failed; a close error adds nothing the caller can act on
    }
    const reason = (cause as Error).message ?? String(cause);
    throw new SinkWriteError(
      partial
        ? `writing "${hf.path}" failed (${reason}) and the partial write could not be cut back`
        : `writing "${hf.path}" failed: ${reason}`,
      hf.path,
      partial,
      { cause },
    );
  }

  private async closeFile(hf: HostFile, evicting = false): Promise<void> {
    const file = hf.file;
    if (!file) return;
    hf.file = undefined;
    this.open.delete(hf.host);
    try {
      // A flush's fsync may still run on this fd: close it only after (a reused fd must never be synced).
      while (hf.syncing) await hf.syncing;
      if (this.fsync && isDirty(hf) && (this.syncOnEvict || !evicting)) {
        const upTo = hf.writes;
        await file.sync();
        hf.synced = upTo;
      }
    } finally {
      await file.close();
      this.stats.closed++;
    }
  }

  /**
   * fsyncs a file closed while dirty (evicted without an fsync, or its fsync at close failed)
   * through a descriptor of its own, leaving the open files as they are.
   */
  private async syncClosed(hf: HostFile): Promise<void> {
    if (hf.file || !this.fsync || !isDirty(hf)) return;
    const upTo = hf.writes;
    await this.fs.syncPath(hf.path);
    if (hf.synced < upTo) hf.synced = upTo;
  }

  /** Keeps open files under the bound by closing the least recently used idle ones. */
  private async makeRoom(): Promise<void> {
    while (this.open.size >= this.maxOpen) {
      // Idle first; one whose flush is still syncing only if there is no other (its close waits for the fsync).
      let victim: HostFile | undefined;
      let syncing: HostFile | undefined;
      for (const hf of this.open.values()) {
        if (this.busy.has(hf.host)) continue;
        if (!hf.syncing) {
          victim = hf;
          break;
        }
        syncing ??= hf;
      }
      victim ??= syncing;
      if (!victim) return; // every open file is in use right now; the bound is exceeded briefly
      this.stats.evicted++;
      await this.closeFile(victim, true);
    }
  }

  /** Removes the host's files of the same pattern last modified before the retention. */
  private async removeOld(dir: string, keep: string): Promise<void> {
    const cutoff = this.now().getTime() - this.retentionMs;
    try {
      for (const name of await this.fs.list(dir)) {
        if (name === keep || !this.opts.output.matches(name)) continue;
        const path = join(dir, name);
        const mtime = await this.fs.mtimeMs(path);
        if (mtime !== undefined && mtime < cutoff) {
          await this.fs.remove(path);
          this.stats.removedOld++;
          this.opts.log.info(`Removed old log "${path}"`);
        }
      }
    } catch (err) {
      this.opts.log.warn(`could not clean up old logs in "${dir}": ${(err as Error).message}`);
    }
  }

  private serial<T>(host: string, op: () => Promise<T>): Promise<T> {
    let queue = this.tails.get(host);
    if (!queue) this.tails.set(host, (queue = { tail: undefined, queued: 0 }));
    const q = queue;
    q.queued++;
    const run = async (): Promise<T> => {
      this.busy.add(host);
      try {
        return await op();
      } finally {
        this.busy.delete(host);
        // The last one out removes the queue at once, so the host's next write can be made at once.
        if (--q.queued === 0) this.tails.delete(host);
      }
    };
    const result = q.tail ? q.tail.then(run) : run();
    q.tail = result.then(noop, noop);
    return result;
  }
}

function isDirty(hf: HostFile): boolean {
  return hf.writes !== hf.synced;
}

function noop(): void {}
