// The lines sent and not yet settled, oldest first, addressed by a sequence number that is also
// the last token of their reply subject. Settling can happen in any order; the window reports
// progress only in send order (which is offset order per file), so a saved position never
// skips a line that is still unacknowledged.
import type { LineOrigin } from "./publisher.js";

export interface InFlightLine {
  readonly seq: number;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly origin: LineOrigin;
  /** Offset just past the line's newline. */
  readonly offset: number;
  /** Payload plus header bytes, counted against the byte limit. */
  readonly bytes: number;
  sentAt: number;
  settled: boolean;
  /** The last error the server gave for this line, shown when it is sent again. */
  error?: string;
  /** Its whole header, for messages other than a plain line (parts, dead letters). */
  header?: Buffer;
  /** Sent to the agent dead-letter subject. */
  deadLetter?: boolean;
}

export class InFlightWindow {
  private items: (InFlightLine | undefined)[] = [];
  /** Index in `items` of the oldest line not yet released. */
  private head = 0;
  /** Sequence number of items[0]. */
  private baseSeq = 1;
  private nextSeq = 1;
  /** Unsettled lines and their bytes. */
  count = 0;
  bytes = 0;

  add(subject: string, payload: Uint8Array, origin: LineOrigin, offset: number, bytes: number, now: number): InFlightLine {
    const line: InFlightLine = { seq: this.nextSeq++, subject, payload, origin, offset, bytes, sentAt: now, settled: false };
    this.items.push(line);
    this.count++;
    this.bytes += bytes;
    return line;
  }

  /** The unsettled line with this sequence number, if any. */
  get(seq: number): InFlightLine | undefined {
    const line = this.items[seq - this.baseSeq];
    return line && !line.settled ? line : undefined;
  }

  settle(line: InFlightLine): void {
    if (line.settled) return;
    line.settled = true;
    this.count--;
    this.bytes -= line.bytes;
  }

  /** The oldest unsettled line. */
  oldest(): InFlightLine | undefined {
    const line = this.items[this.head];
    return line && !line.settled ? line : undefined;
  }

  /**
   * Releases settled lines from the front, calling `report` once per run of one origin with the
   * offset up to which that origin is now settled.
   */
  advance(report: (origin: LineOrigin, offset: number) => void): void {
    let origin: LineOrigin | undefined;
    let offset = 0;
    while (this.head < this.items.length) {
      const line = this.items[this.head];
      if (!line || !line.settled) break;
      if (origin !== undefined && line.origin !== origin) report(origin, offset);
      origin = line.origin;
      offset = line.offset;
      this.items[this.head++] = undefined; // let the payload go now
    }
    if (origin !== undefined) report(origin, offset);
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.baseSeq += this.head;
      this.head = 0;
    }
  }

  /** Unsettled lines in send order. */
  *unsettled(): IterableIterator<InFlightLine> {
    for (let i = this.head; i < this.items.length; i++) {
      const line = this.items[i];
      if (line && !line.settled) yield line;
    }
  }
}
