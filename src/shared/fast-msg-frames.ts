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
// A subscription may also read its frames itself (readFramesOf): the collector's pull inbox takes
// each line's bytes straight from the read buffer into its own compact store, and the agent's
// PubAck inbox settles each usual PubAck from its bytes, so no message arguments, views or nats.js
// message object are made for them at all. What a reader declines (status messages, anything
// unusual) goes the ordinary way.
//
// It reaches nats.js internals (the connection's protocol handler and its parser), checked at
// install time; when they are not as expected, nothing is changed and nats.js parses alone.
// @nats-io/nats-core is pinned to the version @nats-io/transport-node pins, so both load one
// Parser class. SHIPPER_NATS_PARSER=nats turns it off (to compare, or should it ever misread).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Kind, Parser, State } from "@nats-io/nats-core/internal";

/** The nats.js message arguments (MsgArg): the same fields in the same order. */
interface MsgArg {
  subject: Uint8Array;
  sid: number;
  hdr: number;
  size: number;
  reply?: Uint8Array;
}

/** What the fast path needs of nats.js's subscription (SubscriptionImpl). */
interface SubscriptionInternals {
  received: number;
  max?: number;
  [OWN_READER]?: FrameReader;
}

/** nats.js's ProtocolHandler, as far as a frame read by its subscription needs it (its statistics). */
interface DispatcherInternals {
  push(e: { kind: number; msg: MsgArg; data: Uint8Array }): void;
  inMsgs?: number;
  inBytes?: number;
  subscriptions?: { get(sid: number): SubscriptionInternals | undefined };
}

export interface ParserInternals {
  state: number;
  argBuf?: unknown;
  msgBuf?: unknown;
  dispatcher: DispatcherInternals;
  parse(buf: Uint8Array): void;
}

/**
 * Where the parts of one MSG/HMSG frame are in the read buffer. Each part is [from, to); a part
 * that is absent (no reply, no headers) is empty. Valid only during the reader's call: it is
 * reused, and the buffer is the connection's.
 */
export interface FrameSpans {
  subjectFrom: number;
  subjectTo: number;
  replyFrom: number;
  replyTo: number;
  /** The header block (`NATS/1.0\r\n...\r\n\r\n`), as counted by the frame's header size. */
  headersFrom: number;
  headersTo: number;
  dataFrom: number;
  dataTo: number;
}

/**
 * A subscription's own reader of its frames. An object with a method, not a function: the readers
 * of many subscriptions (one puller a partition) are then one call target, which V8 keeps optimized.
 */
export interface FrameReader {
  /** True when it took the frame (nats.js then only counts it), false to have nats.js make its message and call the subscription's callback as usual. */
  readFrame(buf: Buffer, frame: FrameSpans): boolean;
}

const OWN_READER = Symbol("shipper.frameReader");

/**
 * Has `reader` see the subscription's frames first (when the fast reader is installed on its
 * connection; otherwise every message goes to the callback). Its callback still gets what the
 * reader declines, and every message when the fast reader is off.
 */
export function readFramesOf(sub: Subscription, reader: FrameReader): void {
  (sub as unknown as SubscriptionInternals)[OWN_READER] = reader;
  anyOwnReader = true;
}

/** Until some subscription reads its own frames, no frame's subscription is looked up. */
let anyOwnReader = false;

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
/** Handed to a subscription's own reader (one frame at a time). */
const frame: FrameSpans = { subjectFrom: 0, subjectTo: 0, replyFrom: 0, replyTo: 0, headersFrom: 0, headersTo: 0, dataFrom: 0, dataTo: 0 };
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
    // Never read past the end (an out-of-bounds read sends V8 back from optimized code): no frame is
    // complete in under 5 bytes.
    if (n - i < 5) {
      cutShort = isPrefixOfOp(buf, i);
      return i;
    }
    if (buf[i] === H && buf[i + 1] === M && buf[i + 2] === S && buf[i + 3] === G && buf[i + 4] === SP) {
      headers = true;
      p = i + 5;
    } else if (buf[i] === M && buf[i + 1] === S && buf[i + 2] === G && buf[i + 3] === SP) {
      headers = false;
      p = i + 4;
    } else return i;
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
    if (anyOwnReader && ownReader(parser.dispatcher, sid, buf, withReply, dataStart, dataEnd, hdr)) {
      frameReads.fast++;
      i = dataEnd + 2;
      continue;
    }
    const reply = withReply ? buf.subarray(starts[2]!, ends[2]!) : undefined;
    const msg: MsgArg = { subject: buf.subarray(starts[0]!, ends[0]!), sid, hdr, size, reply };
    frameReads.fast++;
    i = dataEnd + 2;
    parser.dispatcher.push({ kind: Kind.MSG, msg, data: buf.subarray(dataStart, dataEnd) });
  }
  return i;
}

/**
 * Offers the frame (its fields in `starts`/`ends`) to its subscription's own reader; when taken,
 * counts it as nats.js's processMsg would (messages and bytes in, the subscription's received).
 */
function ownReader(dispatcher: DispatcherInternals, sid: number, buf: Uint8Array, withReply: boolean, dataStart: number, dataEnd: number, hdr: number): boolean {
  const sub = dispatcher.subscriptions?.get(sid);
  const reader = sub?.[OWN_READER];
  // A subscription with a message limit is left to nats.js, which unsubscribes it at the limit.
  if (!sub || !reader || sub.max !== undefined || !Buffer.isBuffer(buf)) return false;
  frame.subjectFrom = starts[0]!;
  frame.subjectTo = ends[0]!;
  frame.replyFrom = withReply ? starts[2]! : 0;
  frame.replyTo = withReply ? ends[2]! : 0;
  const headersTo = hdr > 0 ? dataStart + hdr : dataStart;
  frame.headersFrom = dataStart;
  frame.headersTo = headersTo;
  frame.dataFrom = headersTo;
  frame.dataTo = dataEnd;
  if (!reader.readFrame(buf, frame)) return false;
  if (dispatcher.inMsgs !== undefined) dispatcher.inMsgs++;
  if (dispatcher.inBytes !== undefined) dispatcher.inBytes += dataEnd - dataStart;
  sub.received++;
  return true;
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
