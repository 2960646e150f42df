// Encodes JetStream publishes as NATS protocol frames, many into one buffer, so a whole read of a
// file goes to the connection in one write (handed over by nats-wire.ts):
//
//   HPUB <subject> <reply> <header bytes> <total bytes>\r\n<header block><payload>\r\n
//
// The reply is `<inbox prefix><seq>` (the publisher's wildcard inbox; seq matches the PubAck to its
// message) and the header block of a line is `NATS/1.0\r\nNats-Msg-Id: <id prefix><offset>\r\n\r\n`:
// both prefixes are prepared once (per subject, per file version), so a line costs a few copies and
// three numbers written as digits, with no string and no object made for it.
//
// Frames go into an arena (256 KiB by default) and out to `sink` at flush(), or when the arena is
// full; bytes handed out are never written again (the socket may still hold them): later frames go
// into the arena's free rest or a new arena.

const CR = 13;
const LF = 10;
const SPACE = 32;
const ZERO = 48;
const HEADER_END = [CR, LF, CR, LF] as const;

export const DEFAULT_ARENA_BYTES = 256 * 1024;

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

/** Copies `src` to `dst` at `pos`; a loop for the short prefixes, where it beats a native call. */
function copy(dst: Uint8Array, pos: number, src: Uint8Array): void {
  const n = src.length;
  if (n > 48) {
    dst.set(src, pos);
    return;
  }
  for (let i = 0; i < n; i++) dst[pos + i] = src[i]!;
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
   * One line: `start` is `HPUB <subject> <inbox prefix>` (ASCII or UTF-8 bytes), `idPrefix` is
   * `NATS/1.0\r\nNats-Msg-Id: <host>:<file version>:`. Returns the frame's header and payload bytes.
   */
  line(start: Uint8Array, seq: number, idPrefix: Uint8Array, offset: number, payload: Uint8Array): number {
    const offsetLen = decimalLength(offset);
    const headerBytes = idPrefix.length + offsetLen + 4;
    const total = headerBytes + payload.length;
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
    copy(buf, p, idPrefix);
    p += idPrefix.length;
    writeDecimal(buf, p, offset, offsetLen);
    p += offsetLen;
    buf[p++] = HEADER_END[0];
    buf[p++] = HEADER_END[1];
    buf[p++] = HEADER_END[2];
    buf[p++] = HEADER_END[3];
    copy(buf, p, payload);
    p += payload.length;
    buf[p++] = CR;
    buf[p++] = LF;
    this.pos = p;
    return total;
  }

  /** A message with a whole prepared header block (`NATS/1.0\r\n...\r\n\r\n`): parts, dead letters. */
  frame(start: Uint8Array, seq: number, header: Uint8Array, payload: Uint8Array): void {
    const total = header.length + payload.length;
    const seqLen = decimalLength(seq);
    const headerLen = decimalLength(header.length);
    const totalLen = decimalLength(total);
    const size = start.length + seqLen + 1 + headerLen + 1 + totalLen + 2 + total + 2;
    const buf = this.room(size);
    let p = this.pos;
    copy(buf, p, start);
    p += start.length;
    writeDecimal(buf, p, seq, seqLen);
    p += seqLen;
    buf[p++] = SPACE;
    writeDecimal(buf, p, header.length, headerLen);
    p += headerLen;
    buf[p++] = SPACE;
    writeDecimal(buf, p, total, totalLen);
    p += totalLen;
    buf[p++] = CR;
    buf[p++] = LF;
    copy(buf, p, header);
    p += header.length;
    copy(buf, p, payload);
    p += payload.length;
    buf[p++] = CR;
    buf[p++] = LF;
    this.pos = p;
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
