// A faster reader for the one frame that carries every log line: `MSG` and `HMSG`. A frame cut by
// the end of a socket read is held (up to 256 KB) and read whole with the next. Everything else
// (PING, +OK, -ERR, INFO, larger cut frames, anything unusual) goes to nats.js's own parser, which
// this only runs ahead of.
//
// Written by hand because nats.js's parser is a byte-at-a-time state machine that makes seven
// Buffer views per message (the control line, each of its fields, the payload): with one line a
// message it was ~17% of the collector's CPU and most of the agent's PubAck cost. Here one tight
// loop finds the fields, numbers are read in place, and only the subject, reply and payload views
// are made: exactly the message arguments nats.js builds, handed to the same dispatcher, so
// subscriptions, statistics and errors behave as before (test/fast-msg-frames.test.ts compares
// both on real server traffic cut at every byte).
//
// It reaches nats.js internals (the connection's protocol handler and its parser), checked at
// install time; when they are not as expected, nothing is changed and nats.js parses alone.
// @nats-io/nats-core is pinned to the version @nats-io/transport-node pins, so both load one
// Parser class. SHIPPER_NATS_PARSER=nats turns it off (to compare, or should it ever misread).
import type { NatsConnection } from "@nats-io/transport-node";
import { Kind, Parser, State } from "@nats-io/nats-core/internal";

/** The nats.js message arguments (MsgArg): the same fields in the same order. */
interface MsgArg {
  subject: Uint8Array;
  sid: number;
  hdr: number;
  size: number;
  reply?: Uint8Array;
}

export interface ParserInternals {
  state: number;
  argBuf?: unknown;
  msgBuf?: unknown;
  dispatcher: { push(e: { kind: number; msg: MsgArg; data: Uint8Array }): void };
  parse(buf: Uint8Array): void;
}

/** How often each way was taken (tests check the fast one is). */
export const frameReads = { fast: 0, nats: 0 };

const H = 0x48, M = 0x4d, S = 0x53, G = 0x47, SP = 0x20, CR = 0x0d, NL = 0x0a, ZERO = 0x30, NINE = 0x39;
const MAX_SIZE = 64 * 1024 * 1024; // nats.js refuses larger (MAX_64MB)
const MAX_FIELDS = 5; // subject sid reply hdr size
const HMSG_OP = Buffer.from("HMSG ", "latin1");
const MSG_OP = Buffer.from("MSG ", "latin1");
// A cut frame is held for the next read only when small: a large one is copied once more with
// every read it spans, so it goes to nats.js, which gathers it in one buffer.
const MAX_HELD_LINE = 4096;
const MAX_HELD_PAYLOAD = 256 * 1024;

/** Set SHIPPER_NATS_PARSER=nats to leave parsing to nats.js alone (for comparison). */
export function fastFramesWanted(): boolean {
  return process.env.SHIPPER_NATS_PARSER !== "nats";
}

/**
 * Runs the fast frame reader ahead of the connection's parser, now and after every reconnect
 * (nats.js makes a new parser for each). False when the internals are not as expected.
 */
export function installFastMsgFrames(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Record<string, unknown> }).protocol;
  if (!protocol || !(protocol.parser instanceof Parser)) return false;
  let current = protocol.parser as unknown as ParserInternals;
  wrap(current);
  Object.defineProperty(protocol, "parser", {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (p: ParserInternals) => {
      current = p;
      if (p instanceof Parser) wrap(p);
    },
  });
  return true;
}

/** Runs the fast frame reader ahead of one nats.js parser (exported for the tests). */
export function wrap(parser: ParserInternals): void {
  const natsParse = parser.parse;
  // The start of a frame cut by the end of the last read, kept here rather than handed to
  // nats.js: its split-frame path copies argument and payload buffers byte by byte.
  let held: Uint8Array | undefined;
  parser.parse = function parse(chunk: Uint8Array): void {
    const buf = held === undefined ? chunk : Buffer.concat([held, chunk]);
    held = undefined;
    const n = buf.length;
    let at = 0;
    while (at < n) {
      if (parser.state === State.OP_START && parser.argBuf === undefined && parser.msgBuf === undefined) {
        at = readFrames(parser, buf, at);
        if (at === n) return;
        if (cutShort) {
          held = Buffer.from(buf.subarray(at)); // a copy: the read's buffer is not kept alive
          return;
        }
      }
      // The frame here is not one for the fast path (or nats.js holds part of one from an
      // earlier read): nats.js reads on, a line at a time, until it is between frames again.
      const nl = buf.indexOf(NL, at);
      const end = nl < 0 ? n : nl + 1;
      frameReads.nats++;
      natsParse.call(parser, at === 0 && end === n ? buf : buf.subarray(at, end));
      at = end;
    }
  };
}

// Field boundaries of the control line being read (reused: one frame at a time).
const starts = new Int32Array(MAX_FIELDS);
const ends = new Int32Array(MAX_FIELDS);
/** Set by readFrames: it stopped at a frame of its kind that the read ends inside. */
let cutShort = false;

/**
 * Dispatches the complete MSG/HMSG frames of `buf` from `from` on; returns where the first frame
 * it did not take begins (buf.length when it took them all), with `cutShort` telling whether
 * that frame only lacks bytes still to come (and is small enough to hold until they do).
 */
function readFrames(parser: ParserInternals, buf: Uint8Array, from: number): number {
  const n = buf.length;
  let i = from;
  cutShort = false;
  while (i < n) {
    let p: number;
    let headers: boolean;
    if (buf[i] === H && buf[i + 1] === M && buf[i + 2] === S && buf[i + 3] === G && buf[i + 4] === SP) {
      headers = true;
      p = i + 5;
    } else if (buf[i] === M && buf[i + 1] === S && buf[i + 2] === G && buf[i + 3] === SP) {
      headers = false;
      p = i + 4;
    } else {
      cutShort = n - i < 5 && isPrefixOfOp(buf, i);
      return i;
    }
    // Fields separated by spaces up to CR LF; tabs and a lone CR or LF are left to nats.js.
    let fields = 0;
    let start = p;
    for (;;) {
      if (p + 1 >= n) {
        cutShort = p - i < MAX_HELD_LINE;
        return i;
      }
      const c = buf[p]!;
      if (c > SP) {
        p++;
        continue;
      }
      if (p > start) {
        // A run of spaces separates like one: nats-server writes JetStream API replies (PubAcks
        // among them) as `MSG <subject> <sid>  <size>`, with the empty reply's two spaces.
        if (fields === MAX_FIELDS) return i;
        starts[fields] = start;
        ends[fields++] = p;
      }
      if (c === SP) {
        start = ++p;
        continue;
      }
      if (c !== CR || buf[p + 1] !== NL) return i;
      break;
    }
    const withReply = fields === (headers ? 5 : 4);
    if (!withReply && fields !== (headers ? 4 : 3)) return i;
    const sid = digits(buf, starts[1]!, ends[1]!);
    const size = digits(buf, starts[fields - 1]!, ends[fields - 1]!);
    const hdr = headers ? digits(buf, starts[fields - 2]!, ends[fields - 2]!) : -1;
    if (sid < 0 || size < 0 || size > MAX_SIZE || (headers && (hdr < 0 || hdr > size))) return i;
    const dataStart = p + 2;
    const dataEnd = dataStart + size;
    if (dataEnd + 2 > n) {
      cutShort = size <= MAX_HELD_PAYLOAD;
      return i;
    }
    if (buf[dataEnd] !== CR || buf[dataEnd + 1] !== NL) return i;
    const reply = withReply ? buf.subarray(starts[2]!, ends[2]!) : undefined;
    const msg: MsgArg = { subject: buf.subarray(starts[0]!, ends[0]!), sid, hdr, size, reply };
    frameReads.fast++;
    i = dataEnd + 2;
    parser.dispatcher.push({ kind: Kind.MSG, msg, data: buf.subarray(dataStart, dataEnd) });
  }
  return i;
}

/** Whether `buf` from `i` to its end could be the start of "HMSG " or "MSG ". */
function isPrefixOfOp(buf: Uint8Array, i: number): boolean {
  const op = buf[i] === H ? HMSG_OP : MSG_OP;
  for (let k = i; k < buf.length; k++) if (buf[k] !== op[k - i]) return false;
  return true;
}

/** A decimal field as nats.js reads it: digits only, at most 15; -1 otherwise. */
function digits(buf: Uint8Array, from: number, to: number): number {
  if (to - from > 15) return -1;
  let v = 0;
  for (let k = from; k < to; k++) {
    const c = buf[k]!;
    if (c < ZERO || c > NINE) return -1;
    v = v * 10 + (c - ZERO);
  }
  return v;
}
