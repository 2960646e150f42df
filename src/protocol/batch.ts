// Batched line messages: several consecutive lines of one file in one message, for rates one
// message per line cannot reach (issue 4). OFF by default (agent --batch-lines): other consumers
// of the stream see one line per message unless an operator turns batching on, and then every
// reader of the stream must split batches (the collector does).
//
// Wire format of a batch (on the lines' own subject `<prefix>.p<N>.<host>`):
// - payload: the lines joined by "\n": each line's bytes without its newline (a "\r" stays), one
//   "\n" between two lines, none after the last. So it is exactly the file's bytes from the first
//   line's start to the last line's end, its last newline left out. Lines may be empty.
// - header `Shipper-Batch: <count>`: the number of lines, decimal, >= 2 (one line is always sent
//   as a plain line message, without this header).
// - header `Nats-Msg-Id: <id of the last line>:b<count>` (msg-id.ts, batchMsgId): the last line's
//   offset and the count fix the first line too, so two batches with one id hold the same lines
//   and JetStream may drop the second. (Without the count, a batch re-sent after a restart from
//   an earlier position would share an id with a shorter batch that has different lines.)
// Lines in a batch always end with a newline in the file: a last line without one (sent when
// its file is left for good) is always a plain line message. A line over the largest message
// is never batched either (it goes out in parts, line-parts.ts).
//
// What a reader (the collector) does with a message that has `Shipper-Batch`:
// 1. count = parseBatchCount(header value); undefined (malformed) => not a batch we made: treat it
//    like any other bad message (dead letter), never write part of it.
// 2. splitBatch(payload, count, lastOffset) with lastOffset = parseMsgId(id).offset: the lines,
//    and for each the offset just past its newline in the file, exactly as if the line had been
//    sent alone (line k ends at lastOffset - payload.length + (index of the "\n" after line k),
//    the last one at lastOffset). undefined when the payload does not hold `count` lines: treat
//    it as malformed, as in 1.
// 3. De-duplicate line by line, as for plain lines: per origin key (parseMsgId(id).originKey), a
//    line whose end offset is at or below the last one written is a re-send and is skipped. This
//    matters for batches: after a restart the agent may cut batches at other lines than before,
//    so a re-sent batch can overlap a stored one without having its id.
// 4. Write the remaining lines in order, each plus "\n", as for plain lines, and acknowledge the
//    message once all of them are written.

export const BATCH_HEADER = "Shipper-Batch";

const NEWLINE = 10;
const DECIMAL = /^[1-9][0-9]*$/;

export function formatBatchCount(count: number): string {
  return String(count);
}

/** The line count of a `Shipper-Batch` value; undefined when it is malformed (or below 2). */
export function parseBatchCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!DECIMAL.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 2 ? n : undefined;
}

export interface SplitBatch {
  /** The lines, without newlines: views into the payload, in order. */
  lines: Uint8Array[];
  /** ends[k]: the file offset just past line k's newline (its line id's offset). */
  ends: number[];
}

/**
 * Splits a batch's payload back into its `count` lines; `lastOffset` is the offset in its message
 * id (the end of the last line). Undefined when the payload does not hold exactly `count` lines or
 * the offsets cannot be right (the message is not a batch the agent made).
 */
export function splitBatch(payload: Uint8Array, count: number, lastOffset: number): SplitBatch | undefined {
  if (!Number.isSafeInteger(count) || count < 2) return undefined;
  // Where the payload starts in the file: its bytes plus the last line's newline end at lastOffset.
  const base = lastOffset - payload.length - 1;
  if (!Number.isSafeInteger(lastOffset) || base < 0) return undefined;
  const lines: Uint8Array[] = [];
  const ends: number[] = [];
  let start = 0;
  let nl = payload.indexOf(NEWLINE, start);
  while (nl !== -1) {
    if (lines.length === count - 1) return undefined; // more lines than counted
    lines.push(payload.subarray(start, nl));
    ends.push(base + nl + 1);
    start = nl + 1;
    nl = payload.indexOf(NEWLINE, start);
  }
  if (lines.length !== count - 1) return undefined; // fewer lines than counted
  lines.push(payload.subarray(start));
  ends.push(lastOffset);
  return { lines, ends };
}
