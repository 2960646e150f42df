// Splits a file's bytes, arriving in chunks, into lines (SPEC.md §3): each line without its "\n"
// (a "\r" stays), an empty line is an empty payload, and a last line without "\n" is held until
// its newline arrives. Each line carries the file offset just past its newline, which is what a
// saved position records. Lines are views into the chunk (no copy) unless they span two chunks.

const NEWLINE = 10;

/** Lines found in one chunk: `lines[i]` ends (newline included) at file offset `ends[i]`. */
export interface SplitLines {
  lines: Buffer[];
  ends: number[];
}

export class LineSplitter {
  /** Bytes of a line whose newline has not arrived yet (copies, so the chunk can be freed). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** File offset of the next byte to be pushed. */
  private nextOffset: number;

  constructor(startOffset = 0) {
    this.nextOffset = startOffset;
  }

  /** File offset just past the last complete line: where reading must resume after a restart. */
  get completeOffset(): number {
    return this.nextOffset - this.heldBytes;
  }

  /** File offset of the next byte expected. */
  get offset(): number {
    return this.nextOffset;
  }

  /** Size of the held, unterminated last line. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** Forgets any held bytes and continues at `offset` (after truncation or a file switch). */
  reset(offset = 0): void {
    this.held = [];
    this.heldBytes = 0;
    this.nextOffset = offset;
  }

  /** Splits `chunk` (the bytes at `offset`), appending complete lines to `out`. */
  push(chunk: Buffer, out: SplitLines): void {
    const base = this.nextOffset;
    this.nextOffset += chunk.length;
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, 0);
    if (nl !== -1 && this.heldBytes > 0) {
      // The held start of a line is completed by the first newline of this chunk.
      this.held.push(chunk.subarray(0, nl));
      out.lines.push(Buffer.concat(this.held, this.heldBytes + nl));
      out.ends.push(base + nl + 1);
      this.held = [];
      this.heldBytes = 0;
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    while (nl !== -1) {
      out.lines.push(chunk.subarray(start, nl));
      out.ends.push(base + nl + 1);
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      // Copy the tail: holding a view would pin the whole chunk while waiting for a newline.
      this.held.push(Buffer.from(chunk.subarray(start)));
      this.heldBytes += chunk.length - start;
    }
  }

  /**
   * Hands out the held, unterminated line as a line of its own (used when its file is finished
   * for good, e.g. rotated away), or undefined when nothing is held.
   */
  takeHeld(): { line: Buffer; end: number } | undefined {
    if (this.heldBytes === 0) return undefined;
    const line = Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    return { line, end: this.nextOffset };
  }
}
