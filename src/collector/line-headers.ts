// The three headers the collector reads from every delivered line (`Nats-Msg-Id`, `Shipper-Part`,
// `Shipper-Batch`), read straight from the header bytes of the message.
//
// Written by hand because nats.js has no cheaper way: `msg.headers` decodes the whole header block
// into a map of arrays (UTF-8 decode, split, trim, key validation) and `get()` filters every key,
// which was ~10% of the collector's CPU with one line a message. The bytes are reached through
// nats.js's message internals (`_rdata`, `_msg.hdr`), checked at run time; when they are not
// there (another nats.js version) or the block is not plain ASCII, `msg.headers` is used, so the
// result is always what nats.js itself would say (test/collector-line-headers.test.ts compares
// both on messages from a real server).
import type { Msg } from "@nats-io/transport-node";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { PART_HEADER } from "../protocol/line-parts.js";
import { BATCH_HEADER } from "../protocol/batch.js";

/** What the fast path needs of nats.js's MsgImpl: the payload with headers first, and the header length. */
interface MsgInternals {
  _rdata?: unknown;
  _msg?: { hdr?: unknown };
}

const NAMES = [MSG_ID_HEADER, PART_HEADER, BATCH_HEADER].map((name) => Buffer.from(`${name}:`, "latin1"));

/** How often each way was taken (tests check the fast one is). */
export const lineHeaderReads = { fast: 0, nats: 0 };

/**
 * Where the three values are: byte ranges of `bytes` (to <= from: absent). The puller copies them
 * as bytes (arrived-lines.ts), so no string is made per line until the line is taken.
 */
export interface LineHeaderSpans extends HeaderValueRanges {
  bytes: Buffer;
}

/** Where `Nats-Msg-Id`, `Shipper-Part` and `Shipper-Batch` values are in some bytes (to <= from: absent). */
export interface HeaderValueRanges {
  idFrom: number;
  idTo: number;
  partFrom: number;
  partTo: number;
  batchFrom: number;
  batchTo: number;
}

/** Reused result (no object per line): read its fields before the next call. */
const spans: LineHeaderSpans = { bytes: Buffer.alloc(0), idFrom: 0, idTo: 0, partFrom: 0, partTo: 0, batchFrom: 0, batchTo: 0 };

/** Where the line headers of a delivered message are; shared and overwritten by the next call. */
export function lineHeaderSpans(msg: Msg): LineHeaderSpans {
  const raw = msg as unknown as MsgInternals;
  const data = raw._rdata;
  const hdr = raw._msg?.hdr;
  if (typeof hdr === "number" && Buffer.isBuffer(data) && hdr <= data.length) {
    const found = lineHeaderSpansIn(data, 0, Math.max(0, hdr));
    if (found) return found;
  }
  lineHeaderReads.nats++;
  const h = msg.headers;
  const msgId = (h && h.get(MSG_ID_HEADER)) || "";
  const part = (h && h.get(PART_HEADER)) || "";
  const batch = (h && h.get(BATCH_HEADER)) || "";
  spans.bytes = Buffer.from(msgId + part + batch, "utf8");
  spans.idFrom = 0;
  spans.idTo = spans.partFrom = Buffer.byteLength(msgId);
  spans.partTo = spans.batchFrom = spans.partFrom + Buffer.byteLength(part);
  spans.batchTo = spans.bytes.length;
  return spans;
}

/**
 * The same read straight from a frame's header block, `bytes[from, to)` (fast-msg-frames.ts); an
 * empty block has none of the headers. Undefined when the block is one nats.js must read.
 */
export function lineHeaderSpansIn(bytes: Buffer, from: number, to: number): LineHeaderSpans | undefined {
  if (to <= from) {
    lineHeaderReads.fast++;
    return clear();
  }
  if (!scan(bytes, from, to)) return undefined;
  lineHeaderReads.fast++;
  return spans;
}

/**
 * Finds the three headers in `data[from, end)` and sets `spans`, as nats.js would read them: each
 * `\r\n` line after the first is `Name: value`, names compared exactly, the first of repeated
 * names wins, values trimmed, an empty value counts as absent. False when a byte is not ASCII
 * (nats.js decodes UTF-8 and trims Unicode spaces) or a CR or LF stands alone: those are left to
 * nats.js.
 */
function scan(data: Buffer, from: number, end: number): boolean {
  let idFrom = 0, idTo = 0, partFrom = 0, partTo = 0, batchFrom = 0, batchTo = 0;
  let seen = 0; // bit k: NAMES[k] was met
  let lineStart = -1; // the status line ("NATS/1.0", maybe a code) is skipped
  for (let i = from; i < end; i++) {
    const c = data[i]!;
    if (c >= 0x80 || c === 0x0a) return false;
    if (c !== 0x0d) continue;
    if (data[i + 1] !== 0x0a) return false;
    if (lineStart >= 0 && i > lineStart) {
      for (let k = 0; k < NAMES.length; k++) {
        const name = NAMES[k]!;
        if (i - lineStart < name.length || !startsWith(data, lineStart, name)) continue;
        if (seen & (1 << k)) break; // the first of repeated names wins
        seen |= 1 << k;
        let from = lineStart + name.length;
        let to = i;
        while (from < to && isSpace(data[from]!)) from++;
        while (to > from && isSpace(data[to - 1]!)) to--;
        if (k === 0) (idFrom = from), (idTo = to);
        else if (k === 1) (partFrom = from), (partTo = to);
        else (batchFrom = from), (batchTo = to);
        break;
      }
    }
    i++;
    lineStart = i + 1;
  }
  if (lineStart !== end) return false; // not ended by CRLF: nats.js reads it its own way
  spans.bytes = data;
  spans.idFrom = idFrom;
  spans.idTo = idTo;
  spans.partFrom = partFrom;
  spans.partTo = partTo;
  spans.batchFrom = batchFrom;
  spans.batchTo = batchTo;
  return true;
}

function clear(): LineHeaderSpans {
  spans.idFrom = spans.idTo = spans.partFrom = spans.partTo = spans.batchFrom = spans.batchTo = 0;
  return spans;
}

function startsWith(data: Buffer, at: number, name: Buffer): boolean {
  for (let i = 0; i < name.length; i++) if (data[at + i] !== name[i]) return false;
  return true;
}

/** The whitespace String.prototype.trim removes, in ASCII. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
