// Encodes JetStream publishes as NATS protocol frames, many into one buffer, so a whole read of a
// file goes to the connection in one write (handed over by nats-wire.ts):
//
//   HPUB <subject> <reply> <header bytes> <total bytes>\r\n<header block><payload>\r\n
//
// The reply is `<inbox prefix><seq>` (the publisher's wildcard inbox; seq matches the PubAck to its
// message) and the header block of a line is `NATS/1.0\r\nNats-Msg-Id: <id prefix><offset>\r\n\r\n`
// with the offset in base 36 (src/protocol/msg-id.ts)
// (a batch of n lines: `...<offset>:b<n>\r\nShipper-Batch: <n>\r\n\r\n`, src/protocol/batch.ts):
// both prefixes are prepared once (per subject, per file version), so a line costs a few copies and
// three numbers written as digits, with no string and no object made for it.
//
// Frames go into an arena (256 KiB by default) and out to `sink` at flush(), or when the arena is
// full; bytes handed out are never written again (the socket may still hold them): later frames go
// into the arena's free rest or a new arena.

import { BATCH_HEADER } from "../protocol/batch.js";

const CR = 13;
const LOWER_A = 97;
const LOWER_B = 98;
/** `\r\nShipper-Batch: ` between a batch's id and its count. */
const BATCH_FIELD = Buffer.from(`\r\n${BATCH_HEADER}: `, "latin1");
const LF = 10;
const SPACE = 32;
const ZERO = 48;
const HEADER_END = [CR, LF, CR, LF] as const;

export const DEFAULT_ARENA_BYTES = 1024 * 1024;

/** Digits of a non-negative integer (below 2^53). */
export function decimalLength(n: number): number {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1_000) return 3;
  if (n < 10_000) return 4;
  if (n < 100_000) return 5;
  if (n < 1_000_000) return 6;
  if (n < 10_000_000) return 7;
  if (n < 100_000_000) return 8;
  if (n < 1_000_000_000) return 9;
  return String(n).length;
}

/** Writes `n` (`len` digits) at `pos`. */
function writeDecimal(buf: Uint8Array, pos: number, n: number, len: number): void {
  let i = pos + len - 1;
  if (n < 2_147_483_648) {
    do {
      const q = (n / 10) | 0;
      buf[i--] = ZERO + n - q * 10;
      n = q;
    } while (n > 0);
    return;
  }
  do {
    const d = n % 10; // exact below 2^53, where n / 10 is not
    buf[i--] = ZERO + d;
    n = (n - d) / 10;
  } while (n > 0);
}

/** Base-36 digits of a non-negative integer (below 2^53), as Number.prototype.toString(36) writes it. */
export function base36Length(n: number): number {
  if (n < 36) return 1;
  if (n < 1_296) return 2;
  if (n < 46_656) return 3;
  if (n < 1_679_616) return 4;
  if (n < 60_466_176) return 5;
  if (n < 2_176_782_336) return 6;
  let len = 7;
  for (n = Math.floor(n / 78_364_164_096); n > 0; n = Math.floor(n / 36)) len++;
  return len;
}

/** Writes `n` (`len` base-36 digits, lowercase) at `pos`. */
function writeBase36(buf: Uint8Array, pos: number, n: number, len: number): void {
  let i = pos + len - 1;
  if (n < 2_147_483_648) {
    do {
      const q = (n / 36) | 0;
      const d = n - q * 36;
      buf[i--] = d < 10 ? ZERO + d : LOWER_A - 10 + d;
      n = q;
    } while (n > 0);
    return;
  }
  do {
    const d = n % 36; // exact below 2^53
    buf[i--] = d < 10 ? ZERO + d : LOWER_A - 10 + d;
    n = (n - d) / 36;
  } while (n > 0);
}

/** Header bytes of a line (lines = 1) or batch message whose id prefix has `idPrefixLength` bytes. */
export function lineHeaderBytes(idPrefixLength: number, offset: number, lines: number): number {
  const base = idPrefixLength + base36Length(offset) + 4;
  if (lines <= 1) return base;
  const n = decimalLength(lines);
  return base + 2 + n + BATCH_FIELD.length + n;
}

/** Copies `src` to `dst` at `pos`; a loop for the short prefixes, where it beats a native call. */
function copy(dst: Uint8Array, pos: number, src: Uint8Array): void {
  const n = src.length;
  if (n > 48) {
    dst.set(src, pos);
    return;
  }
  for (let i = 0; i < n; i++) dst[pos + i] = src[i]!;
}

/** Copies `src[from..to)` to `dst` at `pos`; returns the position after it. */
function copyRange(dst: Uint8Array, pos: number, src: Buffer, from: number, to: number): number {
  const n = to - from;
  if (n > 48) {
    src.copy(dst, pos, from, to);
    return pos + n;
  }
  for (let i = 0; i < n; i++) dst[pos + i] = src[from + i]!;
  return pos + n;
}

export class FrameEncoder {
  private arena: Uint8Array = new Uint8Array(0);
  /** Start of the bytes not handed out yet, and end of what is written. */
  private from = 0;
  private pos = 0;

  constructor(
    private readonly sink: (frames: Uint8Array) => void,
    private readonly arenaBytes = DEFAULT_ARENA_BYTES,
  ) {}

  /** Bytes written and not taken yet. */
  get pendingBytes(): number {
    return this.pos - this.from;
  }

  /**
   * One line, or a batch of `lines` lines (> 1), whose bytes are `data[from..to)`: `start` is
   * `HPUB <subject> <inbox prefix>` (ASCII or UTF-8 bytes), `idPrefix` is
   * `NATS/1.0\r\nNats-Msg-Id: <origin token>:`, `offset` the (last) line's.
   */
  line(start: Uint8Array, seq: number, idPrefix: Uint8Array, offset: number, data: Buffer, from: number, to: number, lines = 1): void {
    const offsetLen = base36Length(offset);
    const linesLen = lines > 1 ? decimalLength(lines) : 0;
    const headerBytes = lineHeaderBytes(idPrefix.length, offset, lines);
    const total = headerBytes + (to - from);
    const buf = this.beginFrame(start, seq, headerBytes, total);
    let p = this.pos;
    copy(buf, p, idPrefix);
    p += idPrefix.length;
    writeBase36(buf, p, offset, offsetLen);
    p += offsetLen;
    if (lines > 1) {
      buf[p++] = 58; // ":"
      buf[p++] = LOWER_B;
      writeDecimal(buf, p, lines, linesLen);
      p += linesLen;
      copy(buf, p, BATCH_FIELD);
      p += BATCH_FIELD.length;
      writeDecimal(buf, p, lines, linesLen);
      p += linesLen;
    }
    buf[p++] = HEADER_END[0];
    buf[p++] = HEADER_END[1];
    buf[p++] = HEADER_END[2];
    buf[p++] = HEADER_END[3];
    p = copyRange(buf, p, data, from, to);
    buf[p++] = CR;
    buf[p++] = LF;
    this.pos = p;
  }

  /** A message with a whole prepared header block (`NATS/1.0\r\n...\r\n\r\n`): parts, dead letters. */
  frame(start: Uint8Array, seq: number, header: Uint8Array, data: Buffer, from: number, to: number): void {
    const total = header.length + (to - from);
    const buf = this.beginFrame(start, seq, header.length, total);
    let p = this.pos;
    copy(buf, p, header);
    p += header.length;
    p = copyRange(buf, p, data, from, to);
    buf[p++] = CR;
    buf[p++] = LF;
    this.pos = p;
  }

  /**
   * Makes room for a whole frame and writes its control line,
   * `<start><seq> <header bytes> <total bytes>\r\n`; `pos` is left after it.
   */
  private beginFrame(start: Uint8Array, seq: number, headerBytes: number, total: number): Uint8Array {
    const seqLen = decimalLength(seq);
    const headerLen = decimalLength(headerBytes);
    const totalLen = decimalLength(total);
    const size = start.length + seqLen + 1 + headerLen + 1 + totalLen + 2 + total + 2;
    const buf = this.room(size);
    let p = this.pos;
    copy(buf, p, start);
    p += start.length;
    writeDecimal(buf, p, seq, seqLen);
    p += seqLen;
    buf[p++] = SPACE;
    writeDecimal(buf, p, headerBytes, headerLen);
    p += headerLen;
    buf[p++] = SPACE;
    writeDecimal(buf, p, total, totalLen);
    p += totalLen;
    buf[p++] = CR;
    buf[p++] = LF;
    this.pos = p;
    return buf;
  }

  /** Hands the frames written since the last flush to the sink. */
  flush(): void {
    if (this.pos === this.from) return;
    const out = this.arena.subarray(this.from, this.pos);
    this.from = this.pos;
    this.sink(out);
  }

  /** The arena with `size` free bytes at `pos` (what is pending is flushed first when a new one is needed). */
  private room(size: number): Uint8Array {
    if (this.pos + size <= this.arena.length) return this.arena;
    this.flush();
    // Not zero-filled: every byte handed out is written first.
    this.arena = Buffer.allocUnsafeSlow(Math.max(this.arenaBytes, size));
    this.from = 0;
    this.pos = 0;
    return this.arena;
  }
}
