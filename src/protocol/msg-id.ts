// Message ids of line messages: what the agent puts in `Nats-Msg-Id`, and how a reader takes one
// apart. Shared by the agent (format) and the collector (parse, to join parts and de-duplicate).
//
// A line:  <origin>:<offset>                 e.g. `Q2hw9Xk_aT0e:1a2b3`
// A part:  <origin>:<offset>:p<k>            (k = 1..n)
// A batch: <origin>:<offset>:b<count>        (count >= 2, batch.ts)
//
// - origin: 12 base64url characters, the first 72 bits of SHA-256 of the long origin key
//   `<host>:<dev>:<ino>:<fingerprint>:<generation>` (originToken()): one version of one file on
//   one host, where
//   - host: the agent's host name, as in the subject;
//   - dev, ino: the source file's device and inode, decimal;
//   - fingerprint: 8 lowercase hex digits, FNV-1a of the file's first line (at most 4 KiB), so a
//     replaced file or a reused inode gives other ids;
//   - generation: decimal, bumped each time the same file is truncated and read again from 0.
//   72 bits keep two origins apart (a clash needs two of them, in one stream's duplicate window or
//   one host's collector state, to share a hash among ~2^36) while the id stays short: the server
//   scans every header for the id, copies it and keeps it in a map for its duplicate window; with
//   the long form below (~65 bytes for the bench's host names) nats-server 2.9 spent 8.7-8.8 us of
//   CPU per agent line, with this one (18 bytes) 7.2 us; 5.1-5.5 us without any header (issue 4).
// - offset: base 36 (digits and lowercase letters, no leading zeros), the file offset just past
//   the line's newline. Within one origin offsets only grow, in the order lines are published.
// - p<k>: present only on the parts of a line split because it is over the server's max payload
//   (see line-parts.ts); all parts of a line share the line's offset. k is decimal.
// - b<count>: present only on a batch of `count` lines (batch.ts, off by default); the offset is
//   its last line's. count is decimal.
//
// The long form written before (still in streams, so still parsed):
//   <host>:<dev>:<ino>:<fingerprint>:<generation>:<offset>[:p<k>|:b<count>]   (offset decimal)
// Its host may itself contain ":", so it is parsed from the right (the last five fields never
// contain ":"). Its originKey stays what it was (`<host>:<dev>:<ino>:<fingerprint>:<generation>`),
// so collector state saved before the short form keeps working; a short id's originKey is its
// origin token. The two keys of one origin differ: lines in flight when an older agent was
// killed, and sent again by a newer one, are not recognised as re-sends (stop agents with SIGTERM
// before an upgrade: they settle what is in flight first).
//
// The same line sent again (after a timeout, a reconnect or a restart) gets the same id, so the
// stream stores it once within its duplicate window. A reader that must be exact beyond that
// window de-duplicates by (origin key, offset): per origin, an offset at or below the last one
// written is a re-send.
import { createHash } from "node:crypto";

/** Where a line comes from: one version of one file on one host (only a long-form id spells it out). */
export interface LineOriginId {
  host: string;
  dev: string;
  ino: string;
  fingerprint: string;
  generation: number;
}

export interface ParsedMsgId {
  /** The unit in which offsets only grow: the origin token (short form), or `<host>:<dev>:<ino>:<fingerprint>:<generation>` (long form). */
  originKey: string;
  offset: number;
  /** The part number (1-based) when the message is one part of a split line. */
  part?: number;
  /** The line count when the message is a batch of lines (batch.ts); `offset` is its last line's. */
  batch?: number;
  /** The origin spelled out, when the id has the long form. */
  origin?: LineOriginId;
}

/** `<dev>:<ino>:<fingerprint>:<generation>`: the file-version part of an origin. */
export function fileVersionKey(dev: string, ino: string, fingerprint: string, generation: number): string {
  return `${dev}:${ino}:${fingerprint}:${generation}`;
}

/** Length of an origin token. */
export const ORIGIN_TOKEN_LENGTH = 12;

/** The origin token of `<host>:<versionKey>` (`versionKey` from fileVersionKey); see the format above. */
export function originToken(host: string, versionKey: string): string {
  return createHash("sha256").update(`${host}:${versionKey}`, "utf8").digest().subarray(0, 9).toString("base64url");
}

/** The id of a whole line. `versionKey` comes from fileVersionKey. */
export function lineMsgId(host: string, versionKey: string, offset: number): string {
  return `${originToken(host, versionKey)}:${offset.toString(36)}`;
}

/** The long form written before the short one (parsed still; tests and old streams). */
export function longLineMsgId(host: string, versionKey: string, offset: number): string {
  return `${host}:${versionKey}:${offset}`;
}

/** The id of a batch of `count` lines whose last line's id is `lastLineId`. */
export function batchMsgId(lastLineId: string, count: number): string {
  return `${lastLineId}:b${count}`;
}

/** The id of part `k` (1-based) of a split line. */
export function partMsgId(lineId: string, k: number): string {
  return `${lineId}:p${k}`;
}

/** `<origin>:<offset>[:p<k>|:b<count>]`. */
const SHORT_ID = /^([A-Za-z0-9_-]{12}):(0|[1-9a-z][0-9a-z]{0,10})(?::([pb])([1-9][0-9]*))?$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const FINGERPRINT = /^[0-9a-f]{8}$/;
const PART = /^p([1-9][0-9]*)$/;
const BATCH = /^b([1-9][0-9]*)$/;

/** Takes a line, part or batch id of either form apart; undefined when it is not one of ours. */
export function parseMsgId(id: string): ParsedMsgId | undefined {
  const plain = parsePlainShortId(id);
  if (plain) return plain;
  const short = SHORT_ID.exec(id);
  if (short) {
    const offset = parseInt(short[2]!, 36);
    if (!Number.isSafeInteger(offset)) return undefined;
    const parsed: ParsedMsgId = { originKey: short[1]!, offset };
    if (short[3] === "p") parsed.part = Number(short[4]);
    else if (short[3] === "b") {
      parsed.batch = Number(short[4]);
      if (parsed.batch < 2) return undefined;
    }
    return parsed;
  }
  return parseLongMsgId(id);
}

/**
 * The id of a whole line in the short form, read without the regular expression: this is every
 * line's id, and the match (with its capture strings) showed in the collector's profile.
 * Undefined for anything else, which SHORT_ID then decides.
 */
function parsePlainShortId(id: string): ParsedMsgId | undefined {
  const n = id.length;
  if (n < ORIGIN_TOKEN_LENGTH + 2 || n > ORIGIN_TOKEN_LENGTH + 12) return undefined;
  // Its characters into a reused buffer (readers that parse ids as strings do so for every line);
  // an id of ours is ASCII, so anything else is not one.
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (c > 0x7f) return undefined;
    idScratch[i] = c;
  }
  const offset = plainShortIdOffset(idScratch, 0, n);
  return offset < 0 ? undefined : { originKey: id.substring(0, ORIGIN_TOKEN_LENGTH), offset };
}

const idScratch = new Uint8Array(ORIGIN_TOKEN_LENGTH + 12);

/**
 * The offset of a whole line's short id in `bytes[from, to)`, read where it arrived (the collector
 * takes every line's id apart this way, without a string); -1 when it is not one (a part's or a
 * batch's id, the long form, or not ours: parseMsgId decides those). Its origin token is
 * `bytes[from, from + ORIGIN_TOKEN_LENGTH)`.
 */
export function plainShortIdOffset(bytes: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n < ORIGIN_TOKEN_LENGTH + 2 || n > ORIGIN_TOKEN_LENGTH + 12 || bytes[from + ORIGIN_TOKEN_LENGTH] !== 58 /* ":" */) return -1;
  for (let i = from; i < from + ORIGIN_TOKEN_LENGTH; i++) if (!isTokenChar(bytes[i]!)) return -1;
  const digits = from + ORIGIN_TOKEN_LENGTH + 1;
  if (bytes[digits] === 48 /* "0" */ && to > digits + 1) return -1; // no leading zeros
  let offset = 0;
  for (let i = digits; i < to; i++) {
    const digit = base36Digit(bytes[i]!);
    if (digit < 0) return -1; // a ":p"/":b" suffix, or not ours
    offset = offset * 36 + digit;
  }
  return Number.isSafeInteger(offset) ? offset : -1;
}

/** [A-Za-z0-9_-] */
function isTokenChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
}

/** The value of [0-9a-z], or -1. */
function base36Digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  return -1;
}

function parseLongMsgId(id: string): ParsedMsgId | undefined {
  let end = id.length;
  // Fields are taken from the right: the host (first) may contain ":" itself.
  const take = (): string | undefined => {
    const colon = id.lastIndexOf(":", end - 1);
    if (colon <= 0) return undefined;
    const field = id.substring(colon + 1, end);
    end = colon;
    return field;
  };
  let last = take();
  let part: number | undefined;
  let batch: number | undefined;
  const partMatch = last === undefined ? null : PART.exec(last);
  const batchMatch = last === undefined || partMatch ? null : BATCH.exec(last);
  if (partMatch) {
    part = Number(partMatch[1]);
    last = take();
  } else if (batchMatch) {
    batch = Number(batchMatch[1]);
    if (batch < 2) return undefined;
    last = take();
  }
  const offset = last;
  const generation = take();
  const fingerprint = take();
  const ino = take();
  const dev = take();
  if (offset === undefined || generation === undefined || fingerprint === undefined || ino === undefined || dev === undefined) return undefined;
  if (!DECIMAL.test(offset) || !DECIMAL.test(generation) || !FINGERPRINT.test(fingerprint) || !DECIMAL.test(ino) || !DECIMAL.test(dev)) {
    return undefined;
  }
  const host = id.substring(0, end);
  const origin: LineOriginId = { host, dev, ino, fingerprint, generation: Number(generation) };
  const parsed: ParsedMsgId = {
    originKey: `${host}:${fileVersionKey(dev, ino, fingerprint, origin.generation)}`,
    offset: Number(offset),
    origin,
  };
  if (part !== undefined) parsed.part = part;
  if (batch !== undefined) parsed.batch = batch;
  return parsed;
}
