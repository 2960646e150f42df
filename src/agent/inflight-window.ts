// The messages sent and not yet settled, oldest first, addressed by a sequence number that is also
// the last token of their reply subject. Settling can happen in any order; the window reports
// progress only in send order (which is offset order per file), so a saved position never
// skips a line that is still unacknowledged.
//
// A ring of parallel arrays rather than an object per message: at 100k lines/s with thousands in
// flight, an object per line lived just long enough to be promoted to the old generation, which
// cost both collector time and tens of MB of peak memory. A message is a byte range of a read
// buffer (`data[from..to)`: one line, or a batch of consecutive lines) plus a few numbers.
import type { LineOrigin } from "./publisher.js";

/** What only rare messages have: parts of split lines, dead letters, lines the server refused. */
export interface MessageExtra {
  /** Its whole header block (parts, dead letters), instead of the line id header. */
  header?: Buffer;
  /** Sent to the agent dead-letter subject. */
  deadLetter?: boolean;
  /** The last error the server gave for it, shown when it is sent again. */
  error?: string;
}

/**
 * Sequence numbers wrap at 2^31, which keeps them small integers (ring index = seq & mask). A
 * PubAck arrives within seconds, or minutes after a reconnect, never two billion messages late.
 */
const SEQ_MASK = 0x7fffffff;

const FREE = 0;
const UNSETTLED = 1;
const SETTLED = 2;

export class InFlightWindow {
  private capacity = 1024;
  private mask = this.capacity - 1;
  private state = new Uint8Array(this.capacity);
  private subjects: (string | undefined)[] = new Array(this.capacity).fill(undefined);
  private datas: (Buffer | undefined)[] = new Array(this.capacity).fill(undefined);
  private origins: (LineOrigin | undefined)[] = new Array(this.capacity).fill(undefined);
  private froms = new Float64Array(this.capacity);
  private tos = new Float64Array(this.capacity);
  private offsets = new Float64Array(this.capacity);
  private sizes = new Float64Array(this.capacity);
  private lineCounts = new Uint32Array(this.capacity);
  private sentAts = new Float64Array(this.capacity);
  private readonly extras = new Map<number, MessageExtra>();
  /** Sequence number of the oldest message not yet released, and of the next one (both wrap, see SEQ_MASK). */
  private head = 1;
  private nextSeq = 1;

  /** Starts numbering at `seq` (tests of the wrap); only while empty. */
  startAt(seq: number): void {
    if (this.head !== this.nextSeq) throw new Error("the window is not empty");
    this.head = this.nextSeq = seq & SEQ_MASK;
  }
  /** Unsettled messages, their bytes, and the lines in them. */
  count = 0;
  bytes = 0;
  lines = 0;

  /**
   * Adds `data[from..to)`, the message of `lines` lines whose last one ends at `offset` of
   * `origin`; `bytes` (payload and headers) counts against the byte limit. Returns its sequence number.
   */
  add(subject: string, data: Buffer, from: number, to: number, origin: LineOrigin, offset: number, bytes: number, lines: number, now: number): number {
    if (((this.nextSeq - this.head) & SEQ_MASK) === this.capacity) this.grow();
    const seq = this.nextSeq;
    this.nextSeq = (seq + 1) & SEQ_MASK;
    const i = seq & this.mask;
    this.state[i] = UNSETTLED;
    this.subjects[i] = subject;
    this.datas[i] = data;
    this.origins[i] = origin;
    this.froms[i] = from;
    this.tos[i] = to;
    this.offsets[i] = offset;
    this.sizes[i] = bytes;
    this.lineCounts[i] = lines;
    this.sentAts[i] = now;
    this.count++;
    this.bytes += bytes;
    this.lines += lines;
    return seq;
  }

  /** True when `seq` is in the window and not settled. */
  isUnsettled(seq: number): boolean {
    return ((seq - this.head) & SEQ_MASK) < ((this.nextSeq - this.head) & SEQ_MASK) && this.state[seq & this.mask] === UNSETTLED;
  }

  settle(seq: number): void {
    if (!this.isUnsettled(seq)) return;
    const i = seq & this.mask;
    this.state[i] = SETTLED;
    this.datas[i] = undefined; // its bytes are not needed any more
    this.count--;
    this.bytes -= this.sizes[i]!;
    this.lines -= this.lineCounts[i]!;
    if (this.extras.size > 0) this.extras.delete(seq);
  }

  /** The oldest unsettled message, or -1. */
  oldest(): number {
    return this.head !== this.nextSeq && this.state[this.head & this.mask] === UNSETTLED ? this.head : -1;
  }

  /** Unsettled messages in send order. */
  *unsettled(): IterableIterator<number> {
    for (let seq = this.head; seq !== this.nextSeq; seq = (seq + 1) & SEQ_MASK) {
      if (this.state[seq & this.mask] === UNSETTLED) yield seq;
    }
  }

  /**
   * Releases settled messages from the front, calling `report` once per run of one origin with
   * the offset up to which that origin is now settled.
   */
  advance(report: (origin: LineOrigin, offset: number) => void): void {
    let origin: LineOrigin | undefined;
    let offset = 0;
    while (this.head !== this.nextSeq) {
      const i = this.head & this.mask;
      if (this.state[i] !== SETTLED) break;
      const o = this.origins[i]!;
      if (origin !== undefined && o !== origin) report(origin, offset);
      origin = o;
      offset = this.offsets[i]!;
      this.state[i] = FREE;
      this.origins[i] = undefined;
      this.subjects[i] = undefined;
      this.head = (this.head + 1) & SEQ_MASK;
    }
    if (origin !== undefined) report(origin, offset);
  }

  subject(seq: number): string {
    return this.subjects[seq & this.mask]!;
  }
  data(seq: number): Buffer {
    return this.datas[seq & this.mask]!;
  }
  from(seq: number): number {
    return this.froms[seq & this.mask]!;
  }
  to(seq: number): number {
    return this.tos[seq & this.mask]!;
  }
  /** The message's bytes, as a view (rare paths). */
  payload(seq: number): Buffer {
    const i = seq & this.mask;
    return this.datas[i]!.subarray(this.froms[i], this.tos[i]);
  }
  origin(seq: number): LineOrigin {
    return this.origins[seq & this.mask]!;
  }
  /** Offset just past the newline of the message's (last) line. */
  offset(seq: number): number {
    return this.offsets[seq & this.mask]!;
  }
  lineCount(seq: number): number {
    return this.lineCounts[seq & this.mask]!;
  }
  sentAt(seq: number): number {
    return this.sentAts[seq & this.mask]!;
  }
  setSentAt(seq: number, now: number): void {
    this.sentAts[seq & this.mask] = now;
  }
  extra(seq: number): MessageExtra | undefined {
    return this.extras.size > 0 ? this.extras.get(seq) : undefined;
  }
  /** The message's extra fields, made when it has none yet. */
  extraFor(seq: number): MessageExtra {
    let e = this.extras.get(seq);
    if (!e) this.extras.set(seq, (e = {}));
    return e;
  }

  private grow(): void {
    const old = {
      mask: this.mask,
      state: this.state,
      subjects: this.subjects,
      datas: this.datas,
      origins: this.origins,
      froms: this.froms,
      tos: this.tos,
      offsets: this.offsets,
      sizes: this.sizes,
      lineCounts: this.lineCounts,
      sentAts: this.sentAts,
    };
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.state = new Uint8Array(this.capacity);
    this.subjects = new Array(this.capacity).fill(undefined);
    this.datas = new Array(this.capacity).fill(undefined);
    this.origins = new Array(this.capacity).fill(undefined);
    this.froms = new Float64Array(this.capacity);
    this.tos = new Float64Array(this.capacity);
    this.offsets = new Float64Array(this.capacity);
    this.sizes = new Float64Array(this.capacity);
    this.lineCounts = new Uint32Array(this.capacity);
    this.sentAts = new Float64Array(this.capacity);
    for (let seq = this.head; seq !== this.nextSeq; seq = (seq + 1) & SEQ_MASK) {
      const a = seq & old.mask;
      const b = seq & this.mask;
      this.state[b] = old.state[a]!;
      this.subjects[b] = old.subjects[a];
      this.datas[b] = old.datas[a];
      this.origins[b] = old.origins[a];
      this.froms[b] = old.froms[a]!;
      this.tos[b] = old.tos[a]!;
      this.offsets[b] = old.offsets[a]!;
      this.sizes[b] = old.sizes[a]!;
      this.lineCounts[b] = old.lineCounts[a]!;
      this.sentAts[b] = old.sentAts[a]!;
    }
  }
}
