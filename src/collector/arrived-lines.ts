// The lines a partition received and has not yet handed out, kept compact until they are written:
// their bytes (reply subject, the header values the collector reads, payload) copied into large
// chunks, their numbers into typed arrays of the chunk. No object is made per line while it waits, and taken for
// a batch a line is only a small PulledLine that reads its fields here (puller.ts).
//
// Why: up to --read-ahead lines wait here. As objects (a record, a Buffer, the reply and id
// strings: ~360 bytes of heap a line) they outlived the young generation, so the collector's
// garbage collection spent its time copying and promoting them, and V8 grew the old generation to
// a few times what they held.
//
// A chunk is used again once every line in it was taken and released (written: the reader
// releases a written batch's lines chunk by chunk, and nothing reads a written line's bytes). Reused,
// the chunks stay in memory instead of being garbage outside the heap that V8 collects only when
// a lot has piled up (~50 MB more at 1,000 hosts). A line never released (a batch abandoned at a
// delivery gap, or on stop) keeps its chunk out of reuse, and the chunk is simply collected.

import { ORIGIN_TOKEN_LENGTH, plainShortIdOffset } from "../protocol/msg-id.js";
import { ByteStrings } from "./byte-strings.js";
import type { HeaderValueRanges } from "./line-headers.js";

/** Bytes per chunk (a line larger than that gets a chunk of its own size). */
const CHUNK_BYTES = 128 * 1024;
/** Lines per chunk at most (the numbers' arrays are sized for it). */
const CHUNK_LINES = 1024;
/**
 * Released chunks kept for reuse, shared by every partition of the process (up to ~6 MB): a pool per
 * partition would keep memory for each of a hundred partitions that was once busy.
 */
const SPARE_CHUNKS = 32;
const spare: LineChunk[] = [];

// The small numbers kept per line (32 bits each), in this order. A line's parts are copied one
// after the other: reply subject, id, part and batch header values, payload.
const START = 0; // where the line's bytes begin in the chunk
const REPLY = 1; // byte lengths of each part (0: absent)
const ID = 2;
const PART = 3;
const BATCH = 4;
const DATA = 5;
const SUBJECT = 6; // number in the chunk's subject table
const DELIVERIES = 7;
const ORIGIN = 8; // a whole line's short id: its origin's number in the origin table (NO_ORIGIN: parse msgId)
const FIELDS = 9;
/** Parts up to this long are copied byte by byte: Buffer.copy makes a view of the source for each call. */
const SHORT_COPY = 64;
const NO_ORIGIN = 0xffffffff;
// The 64-bit numbers (sequences may pass 2^32), three per line.
const SEQUENCE = 0;
const DELIVERY_SEQUENCE = 1;
const OFFSET = 2; // with ORIGIN: the id's offset
const WIDE = 3;

/**
 * Subjects and origins remembered to share one string each among the lines (a host's subject, a
 * file's origin token); new tables when one is full.
 */
const MAX_TABLE = 100_000;

/** The strings the lines of a chunk refer to by number. */
interface Tables {
  readonly subjects: ByteStrings;
  readonly origins: ByteStrings;
}

/**
 * One line as it arrives, as places in the bytes received (valid only during add()): its reply,
 * header values (line-headers.ts) and payload in `bytes`, its subject in `subject` (often the same buffer). An absent
 * part is an empty range.
 */
export interface ArrivingLine extends HeaderValueRanges {
  subject: Buffer;
  subjectFrom: number;
  subjectTo: number;
  bytes: Buffer;
  replyFrom: number;
  replyTo: number;
  dataFrom: number;
  dataTo: number;
  sequence: number;
  deliveries: number;
  deliverySequence: number;
}

/** What take() makes of line `index` of `chunk` (reading it there until the line is released). */
export type MakeLine<T> = (chunk: LineChunk, index: number) => T;

/**
 * Up to CHUNK_LINES lines' bytes and numbers. A line is read here, by its index, from when it is
 * taken until it is released; `generation` changes when the chunk is reused, so a reader can tell
 * a line it holds is gone.
 */
export class LineChunk {
  readonly bytes: Buffer;
  used = 0;
  readonly numbers = new Uint32Array(CHUNK_LINES * FIELDS);
  readonly sequences = new Float64Array(CHUNK_LINES * WIDE);
  /** Lines added, taken, and released. */
  count = 0;
  head = 0;
  released = 0;
  /** No more lines will be added (a newer chunk took over). */
  sealed = false;
  /** How often the chunk was reused. */
  generation = 0;

  constructor(
    size: number,
    public tables: Tables,
    /** A chunk of the usual size, which goes back to the spare ones once all its lines are released. */
    private readonly reusable: boolean,
  ) {
    // Not from Buffer's shared pool: a chunk is large and lives until its lines are written.
    this.bytes = Buffer.allocUnsafeSlow(size);
  }

  subject(i: number): string {
    return this.tables.subjects.texts[this.numbers[i * FIELDS + SUBJECT]!]!;
  }

  /** A whole line's short id already read: its origin key (parseMsgId's originKey); undefined otherwise. */
  originKey(i: number): string | undefined {
    const origin = this.numbers[i * FIELDS + ORIGIN]!;
    return origin === NO_ORIGIN ? undefined : this.tables.origins.texts[origin];
  }

  /** With originKey(): the id's offset; undefined otherwise. */
  offset(i: number): number | undefined {
    const offset = this.sequences[i * WIDE + OFFSET]!;
    return offset < 0 ? undefined : offset;
  }

  reply(i: number): string {
    const k = i * FIELDS;
    const at = this.numbers[k + START]!;
    return this.bytes.toString("utf8", at, at + this.numbers[k + REPLY]!);
  }

  /** Copies the reply subject's bytes to `target` at `at`; returns how many. */
  copyReply(i: number, target: Buffer, at: number): number {
    const k = i * FIELDS;
    const from = this.numbers[k + START]!;
    return copyBytes(this.bytes, from, from + this.numbers[k + REPLY]!, target, at);
  }

  replyLength(i: number): number {
    return this.numbers[i * FIELDS + REPLY]!;
  }

  msgId(i: number): string | undefined {
    return this.text(i, ID);
  }

  part(i: number): string | undefined {
    return this.text(i, PART);
  }

  batch(i: number): string | undefined {
    return this.text(i, BATCH);
  }

  /**
   * The payload: a view of the chunk. A plain Uint8Array: V8 makes one in half the time Buffer's
   * subarray() makes a Buffer, and every line's payload is read this way.
   */
  data(i: number): Uint8Array {
    const at = this.partAt(i, DATA);
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + at, this.numbers[i * FIELDS + DATA]!);
  }

  sequence(i: number): number {
    return this.sequences[i * WIDE + SEQUENCE]!;
  }

  deliverySequence(i: number): number {
    return this.sequences[i * WIDE + DELIVERY_SEQUENCE]!;
  }

  deliveries(i: number): number {
    return this.numbers[i * FIELDS + DELIVERIES]!;
  }

  /** `lines` of the lines taken from this chunk are written: nothing reads their bytes again. */
  release(lines: number): void {
    this.released += lines;
    if (this.released === this.count && this.sealed) this.recycle();
  }

  seal(): void {
    this.sealed = true;
    if (this.released === this.count) this.recycle();
  }

  private text(i: number, part: number): string | undefined {
    const length = this.numbers[i * FIELDS + part]!;
    if (length === 0) return undefined;
    const at = this.partAt(i, part);
    return this.bytes.toString("utf8", at, at + length);
  }

  /** Where part REPLY..DATA of line i begins: after the parts before it. */
  private partAt(i: number, part: number): number {
    const k = i * FIELDS;
    let at = this.numbers[k + START]!;
    for (let p = REPLY; p < part; p++) at += this.numbers[k + p]!;
    return at;
  }

  private recycle(): void {
    if (!this.reusable || spare.length >= SPARE_CHUNKS) return;
    this.used = this.count = this.head = this.released = 0;
    this.sealed = false;
    this.generation++;
    spare.push(this);
  }
}

export class ArrivedLines<T> {
  private chunks: LineChunk[] = [];
  private lines = 0;
  private tables: Tables = { subjects: new ByteStrings(), origins: new ByteStrings() };

  constructor(private readonly make: MakeLine<T>) {}

  get size(): number {
    return this.lines;
  }

  add(line: ArrivingLine): void {
    const reply = line.replyTo - line.replyFrom;
    const id = Math.max(0, line.idTo - line.idFrom);
    const part = Math.max(0, line.partTo - line.partFrom);
    const batch = Math.max(0, line.batchTo - line.batchFrom);
    const data = line.dataTo - line.dataFrom;
    const need = reply + id + part + batch + data;
    const tables = this.currentTables();
    const subject = tables.subjects.number(line.subject, line.subjectFrom, line.subjectTo);
    const offset = id > 0 ? plainShortIdOffset(line.bytes, line.idFrom, line.idTo) : -1;
    const origin = offset >= 0 ? tables.origins.number(line.bytes, line.idFrom, line.idFrom + ORIGIN_TOKEN_LENGTH) : NO_ORIGIN;
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.count === CHUNK_LINES || chunk.bytes.length - chunk.used < need || chunk.tables !== tables) {
      if (chunk) {
        if (chunk.head === chunk.count) this.chunks.pop(); // all taken: nothing left to hand out
        chunk.seal();
      }
      chunk = this.newChunk(need);
      this.chunks.push(chunk);
    }
    const bytes = chunk.bytes;
    const start = chunk.used;
    const src = line.bytes;
    let at = copyBytes(src, line.replyFrom, line.replyTo, bytes, start) + start;
    if (id > 0) at += copyBytes(src, line.idFrom, line.idTo, bytes, at);
    if (part > 0) at += copyBytes(src, line.partFrom, line.partTo, bytes, at);
    if (batch > 0) at += copyBytes(src, line.batchFrom, line.batchTo, bytes, at);
    chunk.used = at + copyBytes(src, line.dataFrom, line.dataTo, bytes, at);
    const n = chunk.numbers;
    const k = chunk.count * FIELDS;
    n[k + START] = start;
    n[k + REPLY] = reply;
    n[k + ID] = id;
    n[k + PART] = part;
    n[k + BATCH] = batch;
    n[k + DATA] = data;
    n[k + SUBJECT] = subject;
    n[k + DELIVERIES] = line.deliveries;
    n[k + ORIGIN] = origin;
    const q = chunk.count * WIDE;
    chunk.sequences[q + SEQUENCE] = line.sequence;
    chunk.sequences[q + DELIVERY_SEQUENCE] = line.deliverySequence;
    chunk.sequences[q + OFFSET] = offset;
    chunk.count++;
    this.lines++;
  }

  /** Takes the oldest lines, at most `max`, as objects. */
  take(max: number): T[] {
    const out: T[] = [];
    let done = 0; // chunks at the front sealed and all taken
    while (out.length < max && done < this.chunks.length) {
      const chunk = this.chunks[done]!;
      while (out.length < max && chunk.head < chunk.count) out.push(this.make(chunk, chunk.head++));
      // A chunk still being filled stays (add() drops it once it is sealed and all taken).
      if (chunk.head === chunk.count && chunk.sealed) done++;
      else break;
    }
    this.lines -= out.length;
    if (done > 0) this.chunks = this.chunks.slice(done);
    return out;
  }

  /** Drops every line not yet taken (a chunk holding any of them is never reused). */
  clear(): void {
    this.chunks = [];
    this.lines = 0;
  }

  private newChunk(need: number): LineChunk {
    const reused = need <= CHUNK_BYTES ? spare.pop() : undefined;
    if (reused) {
      reused.tables = this.tables;
      return reused;
    }
    // An oversized chunk (one large line) is not kept for reuse.
    return new LineChunk(Math.max(CHUNK_BYTES, need), this.tables, need <= CHUNK_BYTES);
  }

  private currentTables(): Tables {
    // Lines already kept refer to full tables through their chunk; new ones start new tables (and a chunk).
    if (this.tables.subjects.size >= MAX_TABLE || this.tables.origins.size >= MAX_TABLE) {
      this.tables = { subjects: new ByteStrings(), origins: new ByteStrings() };
    }
    return this.tables;
  }
}

/** Copies `src[from, to)` to `dst` at `at`; returns the bytes copied. */
function copyBytes(src: Uint8Array, from: number, to: number, dst: Buffer, at: number): number {
  // A plain Uint8Array view: half the time of Buffer's subarray() or copy() (both make a Buffer).
  if (to - from > SHORT_COPY) return dst.set(new Uint8Array(src.buffer, src.byteOffset + from, to - from), at), to - from;
  for (let i = from; i < to; i++) dst[at++] = src[i]!;
  return to - from;
}
