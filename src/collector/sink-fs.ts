// The file operations the collector's sinks need, behind a small interface so that tests can
// swap in a file system that fails (disk full, permission denied) without touching the sinks.
import { close, constants, fstat, fsync, ftruncate, open, write, writeSync, type Stats } from "node:fs";
import { mkdir, readdir, stat, unlink } from "node:fs/promises";

/** A file opened for appending. */
export interface AppendFile {
  /** Size in bytes when opened (the append position). */
  readonly sizeAtOpen: number;
  /** Appends all of `data`, or throws; a short write is continued, not returned. */
  append(data: Uint8Array): Promise<void>;
  /**
   * Appends all of `data` with synchronous writes and returns true, or returns false at once,
   * writing nothing, when this file appends through the thread pool; throws when a write fails.
   */
  appendNow?(data: Uint8Array): boolean;
  /** Makes everything appended so far durable (fsync). */
  sync(): Promise<void>;
  /** Cuts the file back to `length` bytes (undoes a failed append). */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface SinkFileSystem {
  /** Creates a directory and its parents, with `mode` for those it creates; true when it made `path` itself. */
  mkdir(path: string, mode: number): Promise<boolean>;
  /**
   * Opens (creating with `mode` when absent) a file for appending. `fresh`: its directory was
   * just made, so the file is new and its size 0 needs no stat (one file-system call less for
   * each of 1,000s of hosts a new collector opens).
   */
  openAppend(path: string, mode: number, fresh?: boolean): Promise<AppendFile>;
  /** Names in a directory. */
  list(dir: string): Promise<string[]>;
  /** Last modification time in ms, or undefined when the entry is gone. */
  mtimeMs(path: string): Promise<number | undefined>;
  remove(path: string): Promise<void>;
  /** fsyncs a file that is not open here (what any descriptor wrote to it becomes durable). */
  syncPath(path: string): Promise<void>;
}

/**
 * An append file on a plain descriptor, with the callback API: a collector writing for 10,000
 * hosts opens and closes files tens of thousands of times a second, and a promises FileHandle
 * (an event emitter with close tracking, a stat object and several promises per open) made most
 * of its garbage. The descriptor is forgotten when closed, so nothing can reach a reused number.
 */
class DescriptorAppendFile implements AppendFile {
  constructor(
    private fd: number,
    readonly sizeAtOpen: number,
    /** Appends through the thread pool instead of synchronous writes (see append()). */
    private readonly appendInPool: boolean,
  ) {}

  /**
   * By default a synchronous write: one host's lines of a batch (a few KB) go to the page cache in
   * microseconds, while handing the write to the thread pool (a request, a thread woken on a
   * shared two-core machine, a completion, a promise) cost the event loop more than the write
   * itself. Measured at 1,000 hosts, alternating runs: 218-245k -> 262-268k lines/s warm, collector
   * CPU 6.9-7.4 -> 6.4-6.8 us a line. The price: a file system whose writes can block for long (NFS
   * mounted sync, a disk the kernel throttles writers for) stalls the event loop while it does;
   * `--sync-appends off` then writes through the thread pool, where only the batch waits. fsyncs,
   * which wait for the disk by design, never run on the event loop.
   */
  async append(data: Uint8Array): Promise<void> {
    if (this.appendNow(data)) return;
    let offset = 0;
    while (offset < data.length) {
      const fd = this.descriptor();
      offset += await call<number>((cb) => write(fd, data, offset, data.length - offset, null, cb));
    }
  }

  appendNow(data: Uint8Array): boolean {
    if (this.appendInPool) return false;
    for (let offset = 0; offset < data.length; ) offset += writeSync(this.descriptor(), data, offset, data.length - offset, null);
    return true;
  }

  sync(): Promise<void> {
    return call((cb) => fsync(this.descriptor(), cb));
  }

  truncate(length: number): Promise<void> {
    return call((cb) => ftruncate(this.descriptor(), length, cb));
  }

  async close(): Promise<void> {
    const fd = this.descriptor();
    this.fd = -1;
    return call((cb) => close(fd, cb));
  }

  private descriptor(): number {
    if (this.fd < 0) throw Object.assign(new Error("the file is closed"), { code: "EBADF" });
    return this.fd;
  }
}

/**
 * A call of the callback API as a promise: one promise and one closure (util.promisify would add
 * a result object for write(), and FileHandle far more).
 */
function call<T = void>(start: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
}

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;

/** The file system as it is; `appendInPool`: appends through the thread pool (see DescriptorAppendFile.append). */
export function nodeSinkFileSystemWith(appendInPool: boolean): SinkFileSystem {
  return {
    async mkdir(path, mode) {
      return (await mkdir(path, { recursive: true, mode })) !== undefined;
    },
    openAppend: (path, mode, fresh) => openDescriptor(path, mode, fresh, appendInPool),
    list: (dir) => readdir(dir),
    async mtimeMs(path) {
      try {
        return (await stat(path)).mtimeMs;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    },
    remove: (path) => unlink(path),
    syncPath: fsyncPath,
  };
}

/** The file system as it is, appending with synchronous writes (the default). */
export const nodeSinkFileSystem: SinkFileSystem = nodeSinkFileSystemWith(false);

/** Opens `path` for appending (creating it with `mode`); `fresh`: the directory was just made (O_EXCL, no stat). */
async function openDescriptor(path: string, mode: number, fresh: boolean | undefined, appendInPool: boolean): Promise<AppendFile> {
  if (fresh) {
    try {
      // O_EXCL: were the file there after all, it is opened the ordinary way below.
      return new DescriptorAppendFile(await call<number>((cb) => open(path, APPEND | constants.O_EXCL, mode, cb)), 0, appendInPool);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const fd = await call<number>((cb) => open(path, APPEND, mode, cb));
  try {
    return new DescriptorAppendFile(fd, (await call<Stats>((cb) => fstat(fd, cb))).size, appendInPool);
  } catch (err) {
    await call((cb) => close(fd, cb));
    throw err;
  }
}

/** fsyncs a file or a directory through a descriptor of its own (what any other one wrote becomes durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fd = await call<number>((cb) => open(path, constants.O_RDONLY, cb));
  try {
    await call((cb) => fsync(fd, cb));
  } finally {
    await call((cb) => close(fd, cb));
  }
}
