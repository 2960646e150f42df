// Splits a file's bytes, read in chunks, into lines (SPEC.md §3): each line without its "\n"
// (a "\r" stays), an empty line is an empty payload, and a last line without "\n" is held until
// its newline arrives. Each line carries the file offset just past its newline, which is what a
// saved position records.
//
// Lines are not objects: a read's complete lines come out as one `Lines` (their bytes one after
// the other, and where each ends), so a line costs a number, nothing the garbage collector has to
// follow while it waits for its acknowledgement, and consecutive lines are consecutive bytes (a
// batch is a view, no copy). For that the held start of an unfinished line goes first into the
// buffer the next read fills (readBuffer()).

const NEWLINE = 10;

/** Complete lines, one after the other in `data`. */
export interface Lines {
  /** The lines' bytes, each followed by its newline (except a last line handed out by takeHeld()). */
  readonly data: Buffer;
  /** File offset of data[0], where the first line starts. */
  readonly dataOffset: number;
  /** ends[i]: the file offset just past line i's newline (past its last byte when it has none). */
  readonly ends: number[];
}

/** Where line `i` starts in `lines.data`. */
export function lineStart(lines: Lines, i: number): number {
  return i === 0 ? 0 : lines.ends[i - 1]! - lines.dataOffset;
}

/** Where line `i`'s bytes end in `lines.data` (its newline excluded). */
export function lineEnd(lines: Lines, i: number): number {
  const end = lines.ends[i]! - lines.dataOffset;
  return lines.data[end - 1] === NEWLINE ? end - 1 : end;
}

/** Line `i` as a view (tests and rare paths; the hot path uses lineStart/lineEnd). */
export function lineAt(lines: Lines, i: number): Buffer {
  return lines.data.subarray(lineStart(lines, i), lineEnd(lines, i));
}

/** Every line as a view. */
export function linesOf(lines: Lines): Buffer[] {
  return lines.ends.map((_, i) => lineAt(lines, i));
}

export class LineSplitter {
  /** Bytes of a line whose newline has not arrived yet (a copy, unless it fills most of its buffer). */
  private held?: Buffer;
  /** File offset of the next byte to be read. */
  private nextOffset: number;

  constructor(startOffset = 0) {
    this.nextOffset = startOffset;
  }

  /** File offset just past the last complete line: where reading must resume after a restart. */
  get completeOffset(): number {
    return this.nextOffset - this.pendingBytes;
  }

  /** File offset of the next byte expected. */
  get offset(): number {
    return this.nextOffset;
  }

  /** Size of the held, unterminated last line. */
  get pendingBytes(): number {
    return this.held?.length ?? 0;
  }

  /** Forgets any held bytes and continues at `offset` (after truncation or a file switch). */
  reset(offset = 0): void {
    this.held = undefined;
    this.nextOffset = offset;
  }

  /**
   * A buffer for the next read of up to `want` bytes (at file offset `offset`): the held bytes
   * come first, the read goes at `at`. `spare` is used when it is large enough. A long held line
   * doubles the room, so a line over many reads is copied a bounded number of times.
   */
  readBuffer(want: number, spare?: Buffer): { buf: Buffer; at: number } {
    const held = this.held;
    const at = held?.length ?? 0;
    const room = at + Math.max(want, at);
    const buf = spare && spare.length >= room ? spare : Buffer.allocUnsafe(room);
    if (held) held.copy(buf, 0);
    return { buf, at };
  }

  /**
   * Takes `n` bytes read into `buf` at `at` (a buffer from readBuffer()): the complete lines, or
   * undefined when none is complete yet. The returned lines keep `buf` alive; the rest of an
   * unfinished line is copied out unless it fills most of `buf`.
   */
  split(buf: Buffer, at: number, n: number): Lines | undefined {
    const total = at + n;
    const base = this.nextOffset - at; // file offset of buf[0]
    this.nextOffset += n;
    const ends: number[] = [];
    const data = total === buf.length ? buf : buf.subarray(0, total);
    // The held bytes hold no newline: search only what was read.
    let nl = n > 0 ? data.indexOf(NEWLINE, at) : -1;
    let last = 0; // just past the last newline
    while (nl !== -1) {
      last = nl + 1;
      ends.push(base + last);
      nl = data.indexOf(NEWLINE, last);
    }
    if (last < total) {
      const tail = data.subarray(last);
      // Holding a view would keep the whole buffer while waiting for a newline.
      this.held = tail.length * 2 >= buf.length ? tail : Buffer.from(tail);
    } else {
      this.held = undefined;
    }
    if (ends.length === 0) return undefined;
    return { data: last === data.length ? data : data.subarray(0, last), dataOffset: base, ends };
  }

  /** Splits `chunk`, the next bytes of the file (a copy is made: tests and small inputs). */
  push(chunk: Buffer): Lines | undefined {
    const { buf, at } = this.readBuffer(chunk.length);
    chunk.copy(buf, at);
    return this.split(buf, at, chunk.length);
  }

  /**
   * Hands out the held, unterminated line as a line of its own (used when its file is finished
   * for good, e.g. rotated away), or undefined when nothing is held.
   */
  takeHeld(): Lines | undefined {
    const held = this.held;
    if (!held || held.length === 0) return undefined;
    this.held = undefined;
    return { data: held, dataOffset: this.nextOffset - held.length, ends: [this.nextOffset] };
  }
}
