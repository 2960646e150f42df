// What one partition has safely written, kept in `<directory>/.shipper/` so a restarted collector
// neither writes a line twice nor misses one. Saved after every batch is written and fsynced and
// before it is acknowledged. (".shipper" can never be a host's directory: host names starting
// with "." are refused.)
//
// The state (version 2 slots; version 1 had the same fields in one JSON file):
// {
//   "version": 2,
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
//
// Where it is kept: two slot files, `partition-<N>.0.state` and `partition-<N>.1.state`
// (state-slot.ts: a header with a save counter and a checksum, then the JSON). Saves alternate
// between them, each written in place with one write and one fdatasync, so a save costs no
// rename and no directory fsync (a slot's first save creates it whole: temp file, rename,
// directory fsync). A crash in the middle of a save tears only the slot being written; the
// other still holds the save before, which describes a consistent, older state (its batch's
// successor was never acknowledged, and the cut-back removes the bytes written after it).
// Loading takes the newest slot whose checksum holds. Only one slot can ever be torn by a crash,
// so two unreadable slots, or a single slot that is unreadable, are damage and stop the
// collector: guessing could duplicate or lose lines.
// Compatibility: with no slot yet, the version 1 file `partition-<N>.json` of earlier collectors
// is read; the first save then writes slot 0 and removes it.
import { mkdir, open, readFile, rename, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../shared/log.js";
import { fsyncPath } from "./sink-fs.js";
import { decodeSlot, encodeSlot, encodeState, SLOT_VERSION } from "./state-slot.js";

export const STATE_DIR = ".shipper";
/** The state version written (slot files); version 1 files are still read. */
export const STATE_VERSION = SLOT_VERSION;
/** Origins remembered per host: an agent follows few files at once, re-sends come from recent ones. */
export const MAX_ORIGINS = 32;

export interface HostMark {
  path: string;
  size: number;
  origins: Record<string, number>;
}

export interface PartitionStateData {
  /** 1 when read from an old single file; saved as 2. */
  version: 1 | 2;
  stream: string;
  streamCreated: string;
  sequence: number;
  hosts: Record<string, HostMark>;
}

/** The version 1 file (one JSON file, replaced by rename) that collectors before the slot files kept. */
export function stateFilePath(directory: string, partition: number): string {
  return join(directory, STATE_DIR, `partition-${partition}.json`);
}

export function stateSlotPath(directory: string, partition: number, slot: 0 | 1): string {
  return join(directory, STATE_DIR, `partition-${partition}.${slot}.state`);
}

type SlotRead = { exists: false } | { exists: true; counter: number; body: string } | { exists: true; torn: string };

export class PartitionStateFile {
  private dirReady = false;
  /** What is known of the slots on disk (read once, before the first load or save). */
  private known?: { exists: [boolean, boolean]; newest?: 0 | 1; counter: number; legacy: boolean };
  /** Saves run one at a time, in the order they were asked for. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly directory: string,
    readonly partition: number,
    private readonly log?: Logger,
  ) {}

  /** The counter of the newest save (0 before any): a journal's records name the save they follow. */
  get saveCounter(): number {
    return this.known?.counter ?? 0;
  }

  /** Where the state is kept, for log lines. */
  get path(): string {
    return join(this.directory, STATE_DIR, `partition-${this.partition}.{0,1}.state`);
  }

  /** The saved state, or undefined when there is none yet. A damaged state is an error: guessing could duplicate or lose lines. */
  async load(): Promise<PartitionStateData | undefined> {
    const slots = [await this.readSlot(0), await this.readSlot(1)] as const;
    const present = slots.filter((s) => s.exists).length;
    if (present === 0) {
      const legacy = await this.loadLegacy();
      this.known = { exists: [false, false], counter: 0, legacy: legacy !== undefined };
      return legacy;
    }
    let best: { slot: 0 | 1; counter: number; body: string } | undefined;
    const torn: string[] = [];
    for (const slot of [0, 1] as const) {
      const s = slots[slot];
      if (!s.exists) continue;
      if ("torn" in s) torn.push(`${stateSlotPath(this.directory, this.partition, slot)}: ${s.torn}`);
      else if (!best || s.counter > best.counter) best = { slot, counter: s.counter, body: s.body };
    }
    if (!best) {
      throw new Error(`the partition state is damaged (${torn.join("; ")}); move "${join(this.directory, STATE_DIR)}/partition-${this.partition}.*" away to start this partition afresh`);
    }
    if (torn.length > 0) {
      this.log?.warn(`partition ${this.partition}: a state save was interrupted (${torn.join("; ")}); using the save before it (number ${best.counter}), and cutting back what was written after it`);
    }
    const data = this.parse(best.body, stateSlotPath(this.directory, this.partition, best.slot), SLOT_VERSION);
    this.known = { exists: [slots[0].exists, slots[1].exists], newest: best.slot, counter: best.counter, legacy: false };
    return data;
  }

  /**
   * Saves the state: one write and one fdatasync into the slot not holding the newest save.
   * Saves are queued and run in the order asked for; the state is encoded when asked.
   */
  save(data: PartitionStateData): Promise<void> {
    const body = encodeState(data);
    const run = this.tail.then(() => this.saveNow(body));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async saveNow(body: Buffer): Promise<void> {
    if (!this.known) await this.load(); // learn the slots' counters before overwriting either
    const known = this.known!;
    const dir = join(this.directory, STATE_DIR);
    if (!this.dirReady) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      this.dirReady = true;
    }
    const slot: 0 | 1 = known.newest === 0 ? 1 : 0;
    const counter = known.counter + 1;
    const bytes = encodeSlot(counter, body);
    const path = stateSlotPath(this.directory, this.partition, slot);
    const fh = known.exists[slot] ? await open(path, "r+").catch(missing) : undefined;
    if (fh) {
      // Written in place: a crash tears only this slot; the other holds the previous save.
      try {
        let at = 0;
        while (at < bytes.length) at += (await fh.write(bytes, at, bytes.length - at, at)).bytesWritten;
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } else {
      // A slot's first save creates it whole, so an existing slot was always once complete.
      const temp = `${path}.tmp`;
      const th = await open(temp, "w", 0o644);
      try {
        await th.writeFile(bytes);
        await th.sync();
      } finally {
        await th.close();
      }
      await rename(temp, path);
      await fsyncPath(dir);
      known.exists[slot] = true;
      if (known.legacy) {
        await unlink(stateFilePath(this.directory, this.partition)).catch(() => undefined); // the slot is newer; an old one left behind is ignored
        known.legacy = false;
      }
    }
    known.newest = slot;
    known.counter = counter;
  }

  private async readSlot(slot: 0 | 1): Promise<SlotRead> {
    const data = await readFile(stateSlotPath(this.directory, this.partition, slot)).catch(missing);
    if (!data) return { exists: false };
    const decoded = decodeSlot(data);
    return decoded.ok ? { exists: true, counter: decoded.counter, body: decoded.body } : { exists: true, torn: decoded.why };
  }

  private async loadLegacy(): Promise<PartitionStateData | undefined> {
    const path = stateFilePath(this.directory, this.partition);
    const text = await readFile(path, "utf8").catch(missing);
    return text === undefined ? undefined : this.parse(text, path, 1);
  }

  private parse(text: string, path: string, version: 1 | 2): PartitionStateData {
    let data: PartitionStateData | undefined;
    try {
      data = JSON.parse(text) as PartitionStateData;
    } catch {
      data = undefined;
    }
    if (!data || data.version !== version || typeof data.sequence !== "number" || typeof data.stream !== "string" || typeof data.hosts !== "object" || data.hosts === null) {
      throw new Error(`"${path}" is not a version ${version} partition state; move it away to start this partition afresh`);
    }
    return { ...data, hosts: copyHosts(data.hosts) };
  }
}

/** Nothing when the file is not there (a slot not made yet, or removed by hand: it is made again). */
export function missing(err: NodeJS.ErrnoException): undefined {
  if (err.code === "ENOENT") return undefined;
  throw err;
}

/**
 * A record keyed by host names or origins, which come from the wire: without a prototype, so a
 * host named "__proto__" or "constructor" is a key like any other. (On a plain object the first
 * sets the prototype, and the second finds Object's own constructor: a batch for either host
 * failed with a TypeError.) `from`'s own keys are copied.
 */
export function dictionary<T>(from?: Readonly<Record<string, T>>): Record<string, T> {
  const d = Object.create(null) as Record<string, T>;
  if (from) for (const key of Object.keys(from)) d[key] = from[key]!;
  return d;
}

/** A mark of its own (origins copied): later changes to either leave the other as it is. */
export function copyMark(mark: HostMark): HostMark {
  return { path: mark.path, size: mark.size, origins: dictionary(mark.origins) };
}

/** Every host's mark copied (copyMark), into a record without a prototype (dictionary()). */
export function copyHosts(hosts: Readonly<Record<string, HostMark>>): Record<string, HostMark> {
  const copy = dictionary<HostMark>();
  for (const host of Object.keys(hosts)) copy[host] = copyMark(hosts[host]!);
  return copy;
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
