// The journal of one partition (`<directory>/.shipper/partition-<N>.journal`): what each batch
// wrote, appended right after its writes, and fdatasynced once per durability step before the
// step's lines are acknowledged. It replaces one fsync per host file per step (thousands a second
// with many hosts) by one for the partition;
// the host files are fsynced only at a checkpoint, together with a save of the partition state,
// after which the journal starts again empty. A crash (even a power loss that drops the host files'
// unsynced pages) is repaired at start by writing every record's bytes back into its files
// (journal-replay.ts), so a line acknowledged is never lost and never written twice.
//
// A record, appended with one positional write:
//   "SHJ1" | u32 length of the rest | u32 crc32 of the rest | u64 base | u32 index | u32 meta length | meta (JSON) | data
// `base` is the save counter of the partition state the record follows: records of an older base
// were already covered by a checkpoint (one that saved the state and then died before emptying the
// journal) and are ignored. `index` counts records since that checkpoint, so bytes left over from
// an append that failed can never be read as a record. The meta names, per host, its file, the
// file's size after the batch, its latest origins and how many of the data bytes are its (the
// bytes that end at that size); the data is those bytes, host after host.
import { constants } from "node:fs";
import { mkdir, open, readFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { missing, STATE_DIR } from "./partition-state.js";
import { fsyncPath } from "./sink-fs.js";
import { crc32 } from "./state-slot.js";

const MAGIC = Buffer.from("SHJ1", "ascii");
/** Magic, length, checksum. */
const HEAD_BYTES = 12;
/** Base, index, meta length. */
const FIXED_BYTES = 16;

/** One host's part of a record: its file, the file's size after the step, its origins, its bytes. */
export interface JournalHost {
  host: string;
  path: string;
  size: number;
  origins: Record<string, number>;
  /** Bytes of the record's data that are this host's: they end at `size` in `path`. */
  length: number;
}

/** What a durability step made durable: the partition state it moved to, and where its bytes go. */
export interface JournalEntry {
  stream: string;
  streamCreated: string;
  /** Every line of the partition through this stream sequence is written. */
  sequence: number;
  hosts: JournalHost[];
}

export interface JournalRecord extends JournalEntry {
  /** Each host's bytes, in `hosts` order (views into the journal as read). */
  data: Buffer[];
}

export interface JournalContents {
  /** Records of the current base, in order. */
  records: JournalRecord[];
  /** Records of an older base: a checkpoint already covered them. */
  stale: number;
  /** Bytes after the last good record: an append cut short by a crash (never acknowledged). */
  tornBytes: number;
}

export function journalPath(directory: string, partition: number): string {
  return join(directory, STATE_DIR, `partition-${partition}.journal`);
}

/** The buffers of one record: a head (with the meta) and the data, to be written together. */
export function encodeRecord(base: number, index: number, entry: JournalEntry, data: readonly Uint8Array[]): Uint8Array[] {
  const meta = Buffer.from(JSON.stringify({ stream: entry.stream, streamCreated: entry.streamCreated, sequence: entry.sequence, hosts: entry.hosts.map((h) => [h.host, h.path, h.size, h.origins, h.length]) }), "utf8");
  let dataBytes = 0;
  for (const d of data) dataBytes += d.length;
  const head = Buffer.allocUnsafe(HEAD_BYTES + FIXED_BYTES + meta.length);
  MAGIC.copy(head, 0);
  head.writeUInt32BE(FIXED_BYTES + meta.length + dataBytes, 4);
  head.writeBigUInt64BE(BigInt(base), HEAD_BYTES);
  head.writeUInt32BE(index, HEAD_BYTES + 8);
  head.writeUInt32BE(meta.length, HEAD_BYTES + 12);
  meta.copy(head, HEAD_BYTES + FIXED_BYTES);
  let crc = crc32(head.subarray(HEAD_BYTES));
  for (const d of data) crc = crc32(d, crc);
  head.writeUInt32BE(crc >>> 0, 8);
  return [head, ...data];
}

/** The records of `base` in a journal's bytes, up to the first that is torn, damaged or out of turn. */
export function decodeRecords(bytes: Buffer, base: number): JournalContents {
  const records: JournalRecord[] = [];
  let stale = 0;
  let at = 0;
  let index = 0;
  while (at + HEAD_BYTES + FIXED_BYTES <= bytes.length) {
    if (!bytes.subarray(at, at + 4).equals(MAGIC)) break;
    const length = bytes.readUInt32BE(at + 4);
    const end = at + HEAD_BYTES + length;
    if (length < FIXED_BYTES || end > bytes.length) break;
    const rest = bytes.subarray(at + HEAD_BYTES, end);
    if ((crc32(rest) >>> 0) !== bytes.readUInt32BE(at + 8)) break;
    const recordBase = Number(rest.readBigUInt64BE(0));
    const recordIndex = rest.readUInt32BE(8);
    const metaLength = rest.readUInt32BE(12);
    if (FIXED_BYTES + metaLength > length) break;
    if (recordBase !== base) {
      // Older records: a checkpoint saved the state after them and died before emptying the journal.
      if (recordBase > base) break;
      stale++;
      at = end;
      continue;
    }
    if (recordIndex !== index) break;
    const record = parseMeta(rest.subarray(FIXED_BYTES, FIXED_BYTES + metaLength));
    if (!record) break;
    let dataAt = FIXED_BYTES + metaLength;
    for (const h of record.hosts) {
      record.data.push(rest.subarray(dataAt, dataAt + h.length));
      dataAt += h.length;
    }
    if (dataAt !== length) break;
    records.push(record);
    index++;
    at = end;
  }
  return { records, stale, tornBytes: bytes.length - at };
}

function parseMeta(meta: Buffer): JournalRecord | undefined {
  try {
    const m = JSON.parse(meta.toString("utf8")) as { stream: string; streamCreated: string; sequence: number; hosts: [string, string, number, Record<string, number>, number][] };
    if (typeof m.stream !== "string" || typeof m.sequence !== "number" || !Array.isArray(m.hosts)) return undefined;
    return {
      stream: m.stream,
      streamCreated: m.streamCreated,
      sequence: m.sequence,
      hosts: m.hosts.map(([host, path, size, origins, length]) => ({ host, path, size, origins, length })),
      data: [],
    };
  } catch {
    return undefined;
  }
}

/**
 * One partition's journal file. Appends and checkpoints run one at a time, in the order asked
 * for, so a checkpoint never empties the journal under a record that it did not cover. A sync
 * waits for the appends asked for before it, but not the other way round: the next batch's record
 * is appended while the one before is fdatasynced (the batch writer's pipeline; a sync held every
 * later append, so a partition wrote nothing while its disk flushed). An fdatasync covers what
 * was written before it began, whatever is written meanwhile.
 */
export class PartitionJournal {
  /** Bytes of records since the last checkpoint. */
  size = 0;
  private syncedSize = 0;
  private records = 0;
  private base = 0;
  private fh?: FileHandle;
  private tail: Promise<unknown> = Promise.resolve();
  /** fdatasyncs under way; a checkpoint waits for those asked for before it, so none spans an empty(). */
  private readonly syncing = new Set<Promise<unknown>>();

  constructor(
    private readonly directory: string,
    readonly partition: number,
  ) {}

  get path(): string {
    return journalPath(this.directory, this.partition);
  }

  /** Records since the last checkpoint. */
  get length(): number {
    return this.records;
  }

  /** What the journal holds for the state saved with counter `base` (read at start, before any append). */
  async read(base: number): Promise<JournalContents & { bytes: number }> {
    const bytes = (await readFile(this.path).catch(missing)) ?? Buffer.alloc(0);
    return { ...decodeRecords(bytes, base), bytes: bytes.length };
  }

  /**
   * Empties the journal for the state just saved with counter `base` (at start, once what it held
   * is in the files and the state). Later records follow that save.
   */
  start(base: number): Promise<void> {
    return this.serial(() => this.empty(base));
  }

  /**
   * Appends a record (one positional write; a failed one is written again over the same place on
   * the next append). Durable only after sync().
   */
  append(entry: JournalEntry, data: readonly Uint8Array[]): Promise<void> {
    return this.serial(async () => {
      const fh = await this.handle();
      const buffers = encodeRecord(this.base, this.records, entry, data);
      let length = 0;
      for (const b of buffers) length += b.length;
      let written = 0;
      while (written < length) {
        const rest = written === 0 ? buffers : remainder(buffers, written);
        written += (await fh.writev(rest, this.size + written)).bytesWritten;
      }
      this.size += length;
      this.records++;
    });
  }

  /** Makes every record appended so far durable (one fdatasync, none when nothing was appended since). */
  sync(): Promise<void> {
    const run = this.tail.then(async () => {
      if (this.syncedSize >= this.size) return;
      const size = this.size; // appended and written: a record still being written is not covered
      await (await this.handle()).datasync();
      this.syncedSize = Math.max(this.syncedSize, size);
    });
    const settled = run.catch(() => undefined);
    this.syncing.add(settled);
    void settled.then(() => this.syncing.delete(settled));
    return run;
  }

  /**
   * Makes the host files durable and saves the state (`save`, which returns the state's new save
   * counter), then empties the journal: its records are now in the files and the state. Runs
   * after every append asked for before it, and before any asked for after.
   */
  checkpoint(save: () => Promise<number>): Promise<void> {
    // The syncs asked for before it end before it empties the journal; those asked for after it
    // wait for it (they follow it in `tail`), so waiting for them here would never end.
    const syncsBefore = [...this.syncing];
    return this.serial(async () => {
      const saved = await save();
      await Promise.all(syncsBefore);
      await this.empty(saved);
    });
  }

  /** Truncates the journal (durably); what is appended next follows the save with counter `base`. */
  private async empty(base: number): Promise<void> {
    const fh = await this.handle();
    await fh.truncate(0);
    await fh.datasync();
    this.base = base;
    this.size = 0;
    this.syncedSize = 0;
    this.records = 0;
  }

  async close(): Promise<void> {
    await this.tail;
    while (this.syncing.size > 0) await Promise.all(this.syncing);
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    const dir = join(this.directory, STATE_DIR);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    let created = false;
    let fh: FileHandle;
    try {
      fh = await open(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      fh = await open(this.path, constants.O_RDWR);
    }
    if (created) await fsyncPath(dir); // the new file's name must survive a power loss, or its records would vanish with it
    this.fh = fh;
    return fh;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** The buffers after the first `skip` bytes (a short write is continued where it stopped). */
function remainder(buffers: readonly Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
