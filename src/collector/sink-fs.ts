// The file operations the collector's sinks need, behind a small interface so that tests can
// swap in a file system that fails (disk full, permission denied) without touching the sinks.
import { constants } from "node:fs";
import { mkdir, open, readdir, stat, unlink, type FileHandle } from "node:fs/promises";

/** A file opened for appending. */
export interface AppendFile {
  /** Size in bytes when opened (the append position). */
  readonly sizeAtOpen: number;
  /** Appends all of `data`, or throws; a short write is continued, not returned. */
  append(data: Uint8Array): Promise<void>;
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

class NodeAppendFile implements AppendFile {
  constructor(
    private readonly handle: FileHandle,
    readonly sizeAtOpen: number,
  ) {}

  async append(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export const nodeSinkFileSystem: SinkFileSystem = {
  async mkdir(path, mode) {
    return (await mkdir(path, { recursive: true, mode })) !== undefined;
  },
  async openAppend(path, mode, fresh) {
    if (fresh) {
      try {
        // O_EXCL: were the file there after all, it is opened the ordinary way below.
        return new NodeAppendFile(await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL, mode), 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    const handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode);
    try {
      const { size } = await handle.stat();
      return new NodeAppendFile(handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  },
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

/** fsyncs a file or a directory through a descriptor of its own (what any other one wrote becomes durable). */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
