// What one partition has safely written, kept in `<directory>/.shipper/partition-<N>.json` so a
// restarted collector neither writes a line twice nor misses one. Saved after every batch is
// written and fsynced and before it is acknowledged (temp file, fsync, rename, fsync directory).
// (".shipper" can never be a host's directory: host names starting with "." are refused.)
//
// Format (version 1):
// {
//   "version": 1,
//   "stream": "LOGS_3",                 // the stream read
//   "streamCreated": "2026-11-27T...",  // its creation time: another value means it was made again
//   "sequence": 12345,                  // every line of this partition up to here is written
//   "hosts": {
//     "<host>": {
//       "path": "/out/<host>/2026-11-27.log",  // the host's current output file
//       "size": 987654,                        // its size once the batch was written
//       "origins": { "<originKey>": <offset> } // last offset written per origin (most recent 32)
//     }
//   }
// }
// A host file longer than its recorded size holds a batch whose state was never saved (the
// collector died between write and save): it is cut back at start, and those lines come again.
import { mkdir, open, readFile, rename, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../shared/log.js";

export const STATE_DIR = ".shipper";
export const STATE_VERSION = 1;
/** Origins remembered per host: an agent follows few files at once, re-sends come from recent ones. */
export const MAX_ORIGINS = 32;

export interface HostMark {
  path: string;
  size: number;
  origins: Record<string, number>;
}

export interface PartitionStateData {
  version: 1;
  stream: string;
  streamCreated: string;
  sequence: number;
  hosts: Record<string, HostMark>;
}

export function stateFilePath(directory: string, partition: number): string {
  return join(directory, STATE_DIR, `partition-${partition}.json`);
}

export class PartitionStateFile {
  private dirReady = false;

  constructor(
    private readonly directory: string,
    readonly partition: number,
  ) {}

  get path(): string {
    return stateFilePath(this.directory, this.partition);
  }

  /** The saved state, or undefined when there is none yet. A damaged file is an error: guessing could duplicate or lose lines. */
  async load(): Promise<PartitionStateData | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const data = JSON.parse(text) as PartitionStateData;
    if (data.version !== STATE_VERSION || typeof data.sequence !== "number" || typeof data.hosts !== "object") {
      throw new Error(`"${this.path}" is not a version ${STATE_VERSION} partition state; move it away to start this partition afresh`);
    }
    return data;
  }

  async save(data: PartitionStateData): Promise<void> {
    const dir = join(this.directory, STATE_DIR);
    if (!this.dirReady) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      this.dirReady = true;
    }
    const temp = `${this.path}.tmp`;
    const fh = await open(temp, "w", 0o644);
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, this.path);
    const dh = await open(dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

/** Keeps the most recent origins of a host (insertion order: a re-set origin moves to the end). */
export function rememberOrigin(mark: HostMark, originKey: string, offset: number): void {
  delete mark.origins[originKey];
  mark.origins[originKey] = offset;
  const keys = Object.keys(mark.origins);
  for (let i = 0; i < keys.length - MAX_ORIGINS; i++) delete mark.origins[keys[i]!];
}

/**
 * Cuts every host file back to its recorded size: bytes past it were written by a batch whose state
 * was never saved, so it was not acknowledged and its lines are delivered again.
 */
export async function cutBackUnsavedWrites(state: PartitionStateData, log: Logger): Promise<number> {
  let cut = 0;
  for (const [host, mark] of Object.entries(state.hosts)) {
    let size: number;
    try {
      size = (await stat(mark.path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    if (size > mark.size) {
      await truncate(mark.path, mark.size);
      cut += size - mark.size;
      log.warn(`"${mark.path}" (${host}) held ${size - mark.size} bytes written after the last saved state (the collector stopped before saving it); cut back to ${mark.size} bytes, those lines are written again as they are redelivered`);
    } else if (size < mark.size) {
      log.warn(`"${mark.path}" (${host}) is shorter (${size} bytes) than the ${mark.size} bytes recorded: changed by someone else; appending after it`);
      mark.size = size;
    }
  }
  return cut;
}
