// The lines a partition received and has not yet handed out, kept compact until they are taken
// for a batch: their bytes (reply subject, header values, payload) copied into large chunks, their
// numbers into typed arrays of the chunk. No object is made per line while it waits.
//
// Why: up to --read-ahead lines wait here (with two batches a partition, 200,000 with ten
// partitions). As objects (a
// record, a Buffer, the reply and id strings: ~360 bytes of heap a line) they outlived the young
// generation, so the collector's garbage collection spent its time copying and promoting them, and
// V8 grew the old generation to a few times what they held. Taken for a batch, a line becomes a
// PulledLine that lives only while the batch is written.
//
// A chunk is used again once every line in it was taken and released (written: the reader
// releases a written batch's lines chunk by chunk, and nothing reads a written line's bytes). Reused,
// the chunks stay in memory instead of being garbage outside the heap that V8 collects only when
// a lot has piled up (~50 MB more at 1,000 hosts). A line never released (a batch abandoned at a
// delivery gap, or on stop) keeps its chunk out of reuse, and the chunk is simply collected.

import type { LineHeaderSpans } from "./line-headers.js";

/** Bytes per chunk (a line larger than that gets a chunk of its own size). */
const CHUNK_BYTES = 128 * 1024;
/** Lines per chunk at most (the numbers' arrays are sized for it). */
const CHUNK_LINES = 1024;
/**
 * Released chunks kept for reuse, shared by every partition of the process (up to ~11 MB): a pool per
 * partition would keep memory for each of a hundred partitions that was once busy.
 */
const SPARE_CHUNKS = 64;
const spare: Chunk[] = [];

// The small numbers kept per line (32 bits each), in this order.
const START = 0; // where the line's bytes begin in the chunk: reply, id, part, batch, payload
const REPLY = 1; // byte lengths of each (0: absent)
const ID = 2;
const PART = 3;
const BATCH = 4;
const DATA = 5;
const SUBJECT = 6; // index into the chunk's subject table
const DELIVERIES = 7;
const FIELDS = 8;
// The sequences (64-bit floats: they may pass 2^32), two per line.
const SEQUENCE = 0;
const DELIVERY_SEQUENCE = 1;

/** Subjects remembered to share one string per host among its lines; a new table when full. */
const MAX_SUBJECTS = 100_000;

/** One line as it arrives: views into the connection's read buffer, valid only during add(). */
export interface ArrivingLine {
  subject: string;
  reply: Uint8Array;
  /** Where its header values are (line-headers.ts). */
  headers: LineHeaderSpans;
  data: Uint8Array;
  sequence: number;
  deliveries: number;
  deliverySequence: number;
}

/** A line's chunk, to release the line once its batch is written (its bytes are then reused). */
export interface LineChunk {
  /** `lines` of the lines taken from this chunk are written: nothing reads their bytes again. */
  release(lines: number): void;
}

/** What take() rebuilds of a line (strings decoded, the payload a view into the chunk). */
export type MakeLine<T> = (
  chunk: LineChunk,
  subject: string,
  reply: string,
  data: Buffer,
  msgId: string | undefined,
  part: string | undefined,
  batch: string | undefined,
  sequence: number,
  deliveries: number,
  deliverySequence: number,
) => T;

class Chunk implements LineChunk {
  readonly bytes: Buffer;
  used = 0;
  readonly numbers = new Uint32Array(CHUNK_LINES * FIELDS);
  readonly sequences = new Float64Array(CHUNK_LINES * 2);
  /** Lines added, taken, and released. */
  count = 0;
  head = 0;
  released = 0;
  /** No more lines will be added (a newer chunk took over). */
  sealed = false;

  constructor(
    size: number,
    public subjects: string[],
    /** A chunk of the usual size, which goes back to the spare ones once all its lines are released. */
    private readonly reusable: boolean,
  ) {
    // Not from Buffer's shared pool: a chunk is large and lives until its lines are written.
    this.bytes = Buffer.allocUnsafeSlow(size);
  }

  release(lines: number): void {
    this.released += lines;
    if (this.released === this.count && this.sealed) this.recycle();
  }

  seal(): void {
    this.sealed = true;
    if (this.released === this.count) this.recycle();
  }

  private recycle(): void {
    if (!this.reusable || spare.length >= SPARE_CHUNKS) return;
    this.used = this.count = this.head = this.released = 0;
    this.sealed = false;
    spare.push(this);
  }
}

export class ArrivedLines<T> {
  private chunks: Chunk[] = [];
  /** Index of the first chunk with lines not yet taken. */
  private first = 0;
  private lines = 0;
  private subjects: string[] = [];
  private subjectIndex = new Map<string, number>();

  constructor(private readonly make: MakeLine<T>) {}

  get size(): number {
    return this.lines;
  }

  add(line: ArrivingLine): void {
    const h = line.headers;
    const idLength = Math.max(0, h.idTo - h.idFrom);
    const partLength = Math.max(0, h.partTo - h.partFrom);
    const batchLength = Math.max(0, h.batchTo - h.batchFrom);
    const need = line.reply.length + idLength + partLength + batchLength + line.data.length;
    const subject = this.subjectNumber(line.subject);
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.count === CHUNK_LINES || chunk.bytes.length - chunk.used < need || chunk.subjects !== this.subjects) {
      if (chunk) {
        if (chunk.head === chunk.count) this.chunks.pop(); // all taken: nothing left to hand out
        chunk.seal();
      }
      chunk = this.newChunk(need);
      this.chunks.push(chunk);
    }
    const bytes = chunk.bytes;
    const start = chunk.used;
    let at = start;
    bytes.set(line.reply, at);
    at += line.reply.length;
    if (idLength > 0) at += h.bytes.copy(bytes, at, h.idFrom, h.idTo);
    if (partLength > 0) at += h.bytes.copy(bytes, at, h.partFrom, h.partTo);
    if (batchLength > 0) at += h.bytes.copy(bytes, at, h.batchFrom, h.batchTo);
    bytes.set(line.data, at);
    chunk.used = at + line.data.length;
    const n = chunk.numbers;
    const k = chunk.count * FIELDS;
    n[k + START] = start;
    n[k + REPLY] = line.reply.length;
    n[k + ID] = idLength;
    n[k + PART] = partLength;
    n[k + BATCH] = batchLength;
    n[k + DATA] = line.data.length;
    n[k + SUBJECT] = subject;
    n[k + DELIVERIES] = line.deliveries;
    const q = chunk.count * 2;
    chunk.sequences[q + SEQUENCE] = line.sequence;
    chunk.sequences[q + DELIVERY_SEQUENCE] = line.deliverySequence;
    chunk.count++;
    this.lines++;
  }

  /** Takes the oldest lines, at most `max`, as objects. */
  take(max: number): T[] {
    const out: T[] = [];
    while (out.length < max && this.first < this.chunks.length) {
      const chunk = this.chunks[this.first]!;
      const { bytes, numbers: n, sequences, subjects } = chunk;
      while (out.length < max && chunk.head < chunk.count) {
        const q = chunk.head * 2;
        const k = chunk.head++ * FIELDS;
        let at = n[k + START]!;
        const reply = bytes.toString("utf8", at, (at += n[k + REPLY]!));
        const msgId = text(bytes, at, (at += n[k + ID]!));
        const part = text(bytes, at, (at += n[k + PART]!));
        const batch = text(bytes, at, (at += n[k + BATCH]!));
        const data = bytes.subarray(at, at + n[k + DATA]!);
        out.push(this.make(chunk, subjects[n[k + SUBJECT]!]!, reply, data, msgId, part, batch, sequences[q + SEQUENCE]!, n[k + DELIVERIES]!, sequences[q + DELIVERY_SEQUENCE]!));
      }
      // A chunk still being filled stays (add() drops it once it is sealed and all taken).
      if (chunk.head === chunk.count && chunk.sealed) this.first++;
      else break;
    }
    this.lines -= out.length;
    if (this.first > 0) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
    return out;
  }

  /** Drops every line not yet taken (a chunk holding any of them is never reused). */
  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.lines = 0;
  }

  private newChunk(need: number): Chunk {
    const reused = need <= CHUNK_BYTES ? spare.pop() : undefined;
    if (reused) {
      reused.subjects = this.subjects;
      return reused;
    }
    // An oversized chunk (one large line) is not kept for reuse.
    return new Chunk(Math.max(CHUNK_BYTES, need), this.subjects, need <= CHUNK_BYTES);
  }

  private subjectNumber(subject: string): number {
    let i = this.subjectIndex.get(subject);
    if (i !== undefined) return i;
    if (this.subjects.length >= MAX_SUBJECTS) {
      // Lines already kept refer to the old table through their chunk; new ones start a new chunk.
      this.subjects = [];
      this.subjectIndex = new Map();
    }
    i = this.subjects.length;
    this.subjects.push(subject);
    this.subjectIndex.set(subject, i);
    return i;
  }
}

function text(bytes: Buffer, from: number, to: number): string | undefined {
  return to > from ? bytes.toString("utf8", from, to) : undefined;
}
