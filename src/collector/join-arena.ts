// The bytes of one batch, each host's lines joined with "\n" (joinLines), copied into one buffer
// that the partition reuses batch after batch. A fresh buffer per host per batch is garbage outside
// the JavaScript heap, which V8 collects only once a lot has piled up: ~50 MB more resident memory
// at 1,000 hosts. A batch is written (and journaled) before the next is joined, so one buffer a
// partition is enough; a batch larger than the reused buffer may grow to gets a buffer of its own.
import { joinedLength, joinInto, joinLines } from "./line-sink.js";

/** Most bytes kept for reuse per partition (a batch of 10,000 lines of 200 bytes). */
const MAX_REUSED_BYTES = 2 * 1024 * 1024;

export class JoinArena {
  private buffer?: Buffer;

  /**
   * Each host's lines joined, as views into one buffer; valid until the next call (the caller
   * must be done writing them by then).
   */
  join(perHost: readonly (readonly [string, readonly Uint8Array[]])[]): [string, Buffer][] {
    let total = 0;
    for (const [, lines] of perHost) total += joinedLength(lines);
    if (total > MAX_REUSED_BYTES) return perHost.map(([host, lines]) => [host, joinLines(lines)]);
    if (!this.buffer || this.buffer.length < total) {
      this.buffer = Buffer.allocUnsafeSlow(Math.min(MAX_REUSED_BYTES, Math.max(total, 2 * (this.buffer?.length ?? 32 * 1024))));
    }
    const out: [string, Buffer][] = [];
    const buf = this.buffer;
    let at = 0;
    for (const [host, lines] of perHost) {
      const start = at;
      at = joinInto(buf, at, lines);
      out.push([host, buf.subarray(start, at)]);
    }
    return out;
  }
}
