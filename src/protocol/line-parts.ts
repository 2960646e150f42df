// Lines too large for one message. A line over the server's max payload (or the stream's
// max_msg_size) is never dropped: by the agent's --oversize setting it is split into parts that a
// reader joins back, or sent to the agent dead-letter subject (see agent-dead-letter.ts).
//
// Wire format of a split line (all parts on the line's own subject, published in order, one
// after the other, before any later line of the same file):
// - payload of part k: the k-th consecutive slice of the line's bytes (no newline); the parts
//   concatenated in order are exactly the line;
// - header `Shipper-Part: <k>/<n>` (1 <= k <= n, n >= 2, decimal);
// - header `Nats-Msg-Id: <line id>:p<k>` (msg-id.ts), where every part carries the line's offset.
// A reader joins parts 1..n of one (origin key, offset) and writes the line once, when part n
// arrives. Parts of a line are stored contiguously and in order, except when the server stored
// some parts and refused one (then a later re-send may land after other lines): a reader that
// sees a new line or a new (origin, offset) before part n should count the unfinished line as
// incomplete and say so, never write half of it as a line.
// A message without the header is a whole line (the usual case: other consumers of the stream
// see one line per message).

export const PART_HEADER = "Shipper-Part";

export interface PartNumber {
  /** 1-based. */
  k: number;
  n: number;
}

export function formatPart(k: number, n: number): string {
  return `${k}/${n}`;
}

/** Parses a `Shipper-Part` value; undefined when it is malformed. */
export function parsePart(value: string | undefined): PartNumber | undefined {
  if (value === undefined) return undefined;
  const m = /^([1-9][0-9]*)\/([1-9][0-9]*)$/.exec(value.trim());
  if (!m) return undefined;
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (k > n || n < 2) return undefined;
  return { k, n };
}
