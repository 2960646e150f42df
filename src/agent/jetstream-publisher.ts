// JetStream publishing, pipelined: each line goes out as a core publish with a reply subject on
// ONE wildcard inbox subscription (`_INBOX.<8 random characters>.*`), and PubAcks are matched by
// the reply's last token. Many lines are in flight at once (bounded by count and bytes), which
// reaches ~150k lines/s here against ~25k for awaiting js.publish() per line (SPEC.md §8).
//
// Guarantees: every line carries a deterministic Nats-Msg-Id, so a re-send is stored once
// (within the stream's duplicate window). When the oldest line is not acknowledged in time, or
// after a reconnect, every unsettled line is sent again in order ("go-back"), so the stream keeps
// the file's order whenever the server lost a suffix of what was sent, which is what a broken
// connection or a stalled server does. While disconnected nothing is handed to nats.js (it would
// discard it at the next dial); new lines wait in the window until the reconnect's go-back.
// Caveat: if the server refused one line (PubAck error) yet stored later ones, the re-sent line
// lands after them.
// Lines are encoded as protocol frames straight into one buffer per read (frame-encoder.ts) and
// handed to the connection in one write (nats-wire.ts); where that is not possible, nc.publish()
// with a prepared header does the same, at about two thirds of the rate.
// With batching on (batchLines > 1; off by default), consecutive lines of one read go out as one
// message of up to batchLines lines and batchBytes bytes (src/protocol/batch.ts); everything
// above holds per message, and the counters still count lines.
// Nothing is dropped silently: a line larger than the largest message (the server's max payload,
// or the stream's max_msg_size when known) is split into parts (src/protocol/line-parts.ts) or
// sent to the agent dead-letter subject (src/protocol/agent-dead-letter.ts), by `oversize`, and
// counted. What can still not be stored (no stream for the dead letters, a stream refusing a
// message as too large) is refused: logged with its file and offset, counted, reported to
// onRefused listeners, and then settled so the file's position can move on.
import { randomBytes } from "node:crypto";
import { type Msg, type NatsConnection, type PublishOptions, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { NoStreamError, PublisherClosedError } from "./errors.js";
import { InFlightWindow } from "./inflight-window.js";
import type { Lines } from "./line-splitter.js";
import { encodeHeaders, MsgIdHeaderEncoder, PreparedHeaders } from "./msg-id-header.js";
import { FrameEncoder, lineHeaderBytes } from "./frame-encoder.js";
import { decimalIn, rawSender, replyToken } from "./nats-wire.js";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { formatPart, PART_HEADER } from "../protocol/line-parts.js";
import { lineMsgId, partMsgId } from "../protocol/msg-id.js";
import { agentDeadLetterSubject, ORIGINAL_SUBJECT_HEADER, REASON_HEADER } from "../protocol/agent-dead-letter.js";
import { readPubAck, storedAckIn } from "./pub-ack.js";
import { readFramesOf, type FrameReader, type FrameSpans } from "../shared/fast-msg-frames.js";
import {
  newPublisherCounters,
  type LineOrigin,
  type LinePublisher,
  type PublisherCounters,
  type RefusedListener,
  type SettledListener,
} from "./publisher.js";

export interface JetStreamPublisherOptions {
  /** The host name in every message id. */
  host: string;
  log: Logger;
  /** Most messages in flight (sent, not acknowledged): lines, or batches when batching. */
  maxInFlight?: number;
  /** Most bytes (payload and headers) in flight. */
  maxInFlightBytes?: number;
  /** How long the oldest line may wait for its PubAck before everything unsettled is sent again. */
  ackTimeoutMs?: number;
  /** The ack timeout doubles after each fruitless re-send, up to this. */
  maxAckTimeoutMs?: number;
  /** What to do with a line over the largest message: split it into parts (default), or dead-letter it. */
  oversize?: OversizeMode;
  /** The largest message the line's stream takes (its max_msg_size), when smaller than the server's max payload. */
  maxMessageBytes?: number;
  /** Encode protocol frames and write them in one go (default); false uses nc.publish() per message. */
  rawFrames?: boolean;
  /** Most lines in one message (src/protocol/batch.ts); 1, the default, sends one message per line. */
  batchLines?: number;
  /** Most payload bytes of a batch (it is also kept within the largest message). */
  batchBytes?: number;
}

export type OversizeMode = "split" | "dead-letter";
export const OVERSIZE_MODES: readonly OversizeMode[] = ["split", "dead-letter"];

// 5,000 is as fast as 10,000 here (pipelined enough for a 30 ms round trip at 150k lines/s) and keeps the
// agent about 30 MB smaller: fewer lines wait long enough to be promoted to the old generation.
export const DEFAULT_MAX_IN_FLIGHT = 5_000;
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_ACK_TIMEOUT_MS = 5_000;
export const DEFAULT_BATCH_BYTES = 64 * 1024;
/** Room kept in the largest message for a batch's header beyond its id prefix (offset, count twice, field name). */
const BATCH_HEADER_ROOM = 80;
const NEWLINE = 10;

/** JetStream's "message size exceeds maximum allowed" (the stream's max_msg_size). */
const JS_ERR_MESSAGE_TOO_LARGE = 10054;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class JetStreamPublisher implements LinePublisher, FrameReader {
  readonly counters: PublisherCounters = newPublisherCounters();
  readonly failed: Promise<never>;

  private readonly host: string;
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private readonly ackTimeoutMs: number;
  private readonly maxAckTimeoutMs: number;
  private currentAckTimeoutMs: number;
  private readonly oversize: OversizeMode;
  private readonly deadLetterSubject: string;
  private readonly batchLines: number;
  private readonly batchBytes: number;
  /** The stream's max_msg_size, when known and positive. */
  maxMessageBytes: number;
  /** Lines already logged as refused (parts of one line are refused together). */
  private lastRefused?: string;

  private readonly window = new InFlightWindow();
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly encoder = new MsgIdHeaderEncoder();
  private readonly headers = new PreparedHeaders();
  private readonly pubOpts: PublishOptions;
  private encodedOrigin?: LineOrigin;
  /** Frames for the connection, when it takes raw bytes (nats-wire.ts); else nc.publish() per message. */
  private readonly frames?: FrameEncoder;
  private flushQueued = false;
  private readonly flushFrames = () => {
    this.flushQueued = false;
    this.frames!.flush();
  };
  /** `HPUB <subject> <inbox>` of the last subject sent to. */
  private startSubject = "";
  private start: Uint8Array = new Uint8Array(0);
  /** PubAcks are taken one by one; settled positions are reported once per burst. */
  private advanceQueued = false;
  private readonly advanceNow = () => {
    this.advanceQueued = false;
    this.window.advance(this.reportSettled);
    this.updateGauges();
    this.wakeIfRoom();
  };
  private readonly timer: NodeJS.Timeout;
  private statusIterator?: { stop?: () => void };

  private settledListeners: SettledListener[] = [];
  private refusedListeners: RefusedListener[] = [];
  private roomWaiters: Waiter[] = [];
  private drainWaiters: Waiter[] = [];
  private failure?: Error;
  private rejectFailed!: (err: Error) => void;
  private closed = false;
  private connected = true;
  private readonly reportSettled = (origin: LineOrigin, offset: number) => {
    for (const l of this.settledListeners) l(origin, offset);
  };

  constructor(
    private readonly nc: NatsConnection,
    opts: JetStreamPublisherOptions,
  ) {
    this.host = opts.host;
    this.log = opts.log;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxInFlightBytes = opts.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.maxAckTimeoutMs = Math.max(this.ackTimeoutMs, opts.maxAckTimeoutMs ?? 60_000);
    this.currentAckTimeoutMs = this.ackTimeoutMs;
    this.oversize = opts.oversize ?? "split";
    this.deadLetterSubject = agentDeadLetterSubject(opts.host);
    this.batchLines = Math.max(1, Math.floor(opts.batchLines ?? 1));
    this.batchBytes = Math.max(1, opts.batchBytes ?? DEFAULT_BATCH_BYTES);
    this.maxMessageBytes = opts.maxMessageBytes && opts.maxMessageBytes > 0 ? opts.maxMessageBytes : Number.POSITIVE_INFINITY;
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => {}); // observed through publish()/drain() too; never unhandled

    // Short on purpose: nats.js reads every PubAck's subject byte by byte (twice), so 8 random
    // characters instead of a 22-character NUID save about a tenth of the agent's CPU time.
    this.inbox = `_INBOX.${randomBytes(6).toString("base64url")}.`;
    this.sub = nc.subscribe(`${this.inbox}*`, { callback: (err, msg) => this.onReply(err, msg) });
    // The usual PubAck is read in the connection's read buffer (readFrame), with no nats.js
    // message made for it; errors and statuses still come to onReply().
    readFramesOf(this.sub, this);
    this.pubOpts = { reply: "", headers: this.headers };
    const raw = opts.rawFrames === false ? undefined : rawSender(nc);
    if (raw) {
      this.frames = new FrameEncoder((bytes) => {
        if (this.nc.isClosed()) this.fail(new PublisherClosedError("the NATS connection is closed"));
        else raw(bytes);
      });
    }
    this.timer = setInterval(() => this.checkTimeouts(), Math.max(20, Math.min(250, this.ackTimeoutMs / 4)));
    this.timer.unref();
    this.watchConnection();
  }

  onSettled(listener: SettledListener): void {
    this.settledListeners.push(listener);
  }

  onRefused(listener: RefusedListener): void {
    this.refusedListeners.push(listener);
  }

  publishLines(subject: string, lines: Lines, from: number, origin: LineOrigin): number {
    this.checkOpen();
    this.useOrigin(origin);
    const { data, ends, dataOffset } = lines;
    const n = ends.length;
    const limit = this.largestMessage();
    const now = Date.now();
    // A batch's payload: at most batchBytes, and room for its header in the largest message.
    const batchRoom = Math.min(this.batchBytes, limit - this.encoder.prefixBytes.length - BATCH_HEADER_ROOM);
    const batching = this.batchLines > 1 && batchRoom > 0;
    let i = from;
    try {
      while (i < n) {
        const start = i === 0 ? 0 : ends[i - 1]! - dataOffset;
        let j = i + 1;
        if (batching) {
          const most = Math.min(n, i + this.batchLines);
          // Payload of lines i..j: up to the last one's newline, which it leaves out.
          while (j < most && ends[j]! - dataOffset - 1 - start <= batchRoom) j++;
        }
        let end = ends[j - 1]! - dataOffset;
        if (data[end - 1] === NEWLINE) end--;
        else if (j - i > 1) {
          // Only a line without newline could end here (a file's last, see takeHeld): never in a batch.
          j--;
          end = ends[j - 1]! - dataOffset - 1;
        }
        this.publishMessage(subject, data, start, end, origin, ends[j - 1]!, j - i, limit, now);
        i = j;
        if (this.isFull() || this.failure) break;
      }
    } finally {
      this.updateGauges();
    }
    return i;
  }

  publish(subject: string, payload: Uint8Array, origin: LineOrigin, offset: number): Promise<void> | undefined {
    this.checkOpen();
    this.useOrigin(origin);
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    this.publishMessage(subject, data, 0, data.length, origin, offset, 1, this.largestMessage(), Date.now());
    this.updateGauges();
    return this.isFull() ? this.room() : undefined;
  }

  room(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new PublisherClosedError("the publisher is closed"));
    if (!this.isFull()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.roomWaiters.push({ resolve, reject }));
  }

  async drain(timeoutMs: number): Promise<boolean> {
    if (this.failure) throw this.failure;
    if (this.window.count === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = new Promise<boolean>((resolve, reject) => this.drainWaiters.push({ resolve: () => resolve(true), reject }));
    try {
      return await Promise.race([drained, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.statusIterator?.stop?.();
    const err = new PublisherClosedError("the publisher was closed");
    this.wake(this.roomWaiters, err);
    this.wake(this.drainWaiters, err);
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private checkOpen(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new PublisherClosedError("the publisher is closed");
  }

  private isFull(): boolean {
    return this.window.count >= this.maxInFlight || this.window.bytes >= this.maxInFlightBytes;
  }

  /** The largest message the line's stream takes. */
  private largestMessage(): number {
    return Math.min(this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY, this.maxMessageBytes);
  }

  private useOrigin(origin: LineOrigin): void {
    if (origin !== this.encodedOrigin) {
      this.encoder.use(this.host, origin.key);
      this.encodedOrigin = origin;
    }
  }

  /** One message: `data[from..to)`, a line or a batch of `lines` lines, the last ending at `offset`. */
  private publishMessage(subject: string, data: Buffer, from: number, to: number, origin: LineOrigin, offset: number, lines: number, limit: number, now: number): void {
    const headerBytes = lineHeaderBytes(this.encoder.prefixBytes.length, offset, lines);
    this.counters.published += lines;
    if (to - from + headerBytes > limit) {
      // Only a single line gets here: batches are cut to fit.
      this.publishOversize(subject, data.subarray(from, to), origin, offset);
      return;
    }
    const seq = this.window.add(subject, data, from, to, origin, offset, to - from + headerBytes, lines, now);
    this.counters.messages++;
    if (lines > 1) this.counters.batches++;
    this.send(seq);
  }

  /**
   * A line over the largest message: split into parts on its own subject, or sent to the dead
   * letters (in parts too when it is over the server's max payload). Every message goes through
   * the window like a line, all with the line's offset, so the position moves past the line only
   * once every part is stored.
   */
  private publishOversize(subject: string, payload: Buffer, origin: LineOrigin, offset: number): void {
    const serverMax = this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const limit = Math.min(serverMax, this.maxMessageBytes);
    const lineId = lineMsgId(this.host, origin.key, offset);
    const toDeadLetters = this.oversize === "dead-letter";
    const target = toDeadLetters ? this.deadLetterSubject : subject;
    const room = toDeadLetters ? serverMax : limit;
    const extra: [string, string][] = toDeadLetters
      ? [
          [ORIGINAL_SUBJECT_HEADER, subject],
          [REASON_HEADER, `oversize: ${payload.length} bytes, the largest message is ${limit} bytes`],
        ]
      : [];
    const messages: { payload: Buffer; header: Buffer }[] = [];
    const whole = encodeHeaders([[MSG_ID_HEADER, lineId], ...extra]);
    const now = Date.now();
    if (toDeadLetters && payload.length + whole.length <= room) {
      messages.push({ payload, header: whole });
    } else {
      // The part count sets the header's length and the header's length the part count: settle it.
      let n = 2;
      let partBytes = 0;
      for (let i = 0; i < 4; i++) {
        const headerBytes = encodeHeaders([[MSG_ID_HEADER, partMsgId(lineId, n)], ...extra, [PART_HEADER, formatPart(n, n)]]).length;
        partBytes = room - headerBytes;
        if (partBytes <= 0) break;
        const next = Math.max(2, Math.ceil(payload.length / partBytes));
        if (next === n) break;
        n = next;
      }
      if (partBytes <= 0 || n * partBytes < payload.length) {
        const seq = this.window.add(subject, payload, 0, payload.length, origin, offset, payload.length, 1, now);
        this.refuse(seq, `it is ${payload.length} bytes, and a max payload of ${room} bytes leaves no room to split it`);
        return;
      }
      for (let k = 1; k <= n; k++) {
        const part = payload.subarray((k - 1) * partBytes, Math.min(payload.length, k * partBytes));
        messages.push({ payload: part, header: encodeHeaders([[MSG_ID_HEADER, partMsgId(lineId, k)], ...extra, [PART_HEADER, formatPart(k, n)]]) });
      }
    }
    if (toDeadLetters) this.counters.deadLettered++;
    else this.counters.split++;
    this.counters.parts += messages.length > 1 ? messages.length : 0;
    this.log.warn(
      `line ending at offset ${offset} of "${origin.path}" is ${payload.length} bytes, over the largest message of ${limit} bytes: ` +
        (toDeadLetters ? `sent to "${target}"` : `sent`) + (messages.length > 1 ? ` as ${messages.length} parts` : ""),
    );
    // The line counts once, on its last message: acknowledged when every part is.
    messages.forEach((m, k) => {
      const last = k === messages.length - 1;
      const seq = this.window.add(target, m.payload, 0, m.payload.length, origin, offset, m.payload.length + m.header.length, last ? 1 : 0, now);
      const e = this.window.extraFor(seq);
      e.header = m.header;
      e.deadLetter = toDeadLetters || undefined;
      this.counters.messages++;
      this.send(seq);
    });
  }

  private send(seq: number): void {
    // While disconnected nats.js would buffer and then discard the message, or send it after
    // reconnecting ahead of older ones; it waits in the window and goes out, in order, on reconnect.
    if (!this.connected) return;
    const w = this.window;
    const subject = w.subject(seq);
    const header = w.extra(seq)?.header;
    const frames = this.frames;
    if (frames) {
      if (subject !== this.startSubject) {
        this.startSubject = subject;
        this.start = Buffer.from(`HPUB ${subject} ${this.inbox}`, "utf8");
      }
      if (header) {
        frames.frame(this.start, seq, header, w.data(seq), w.from(seq), w.to(seq));
      } else {
        this.useOrigin(w.origin(seq));
        frames.line(this.start, seq, this.encoder.prefixBytes, w.offset(seq), w.data(seq), w.from(seq), w.to(seq), w.lineCount(seq));
      }
      // Everything published in this turn of the event loop goes out in one write.
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushFrames);
      }
      return;
    }
    if (header) {
      this.headers.bytes = header;
    } else {
      this.useOrigin(w.origin(seq));
      this.headers.bytes = this.encoder.encode(w.offset(seq), w.lineCount(seq));
    }
    this.pubOpts.reply = this.inbox + seq;
    try {
      this.nc.publish(subject, w.payload(seq), this.pubOpts);
    } catch (err) {
      if (this.nc.isClosed()) this.fail(new PublisherClosedError(`the NATS connection is closed: ${(err as Error).message}`));
      else this.fail(err as Error);
    }
  }

  /** Gives up a message that can never be stored (after counting and logging it) and settles it. */
  private refuse(seq: number, reason: string): void {
    const origin = this.window.origin(seq);
    const offset = this.window.offset(seq);
    const which = `${origin.key}:${offset}`;
    if (which !== this.lastRefused) {
      // Parts of one line are refused together: counted and logged once.
      this.lastRefused = which;
      const lines = Math.max(1, this.window.lineCount(seq));
      this.counters.refused += lines;
      const what = lines > 1 ? `batch of ${lines} lines` : "line";
      this.log.error(`${what} ending at offset ${offset} of "${origin.path}" (file ${origin.key}) not stored: ${reason}; counted as refused`);
      for (const l of this.refusedListeners) l(origin, offset, this.window.payload(seq), reason);
    }
    this.window.settle(seq);
    this.queueAdvance();
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) {
      this.log.error(`the PubAck subscription failed: ${err.message}`);
      return;
    }
    const w = this.window;
    const seq = replyToken(msg, this.inbox.length);
    if (!w.isUnsettled(seq)) return; // a late PubAck for a message already settled by an earlier answer
    const ack = readPubAck(msg);
    switch (ack.kind) {
      case "stored":
        this.stored(seq, ack.duplicate);
        break;
      case "no-stream":
        if (w.extra(seq)?.deadLetter) {
          this.refuse(seq, `no JetStream stream captures the dead-letter subject "${w.subject(seq)}" (create one, or use --oversize split)`);
          break;
        }
        this.fail(new NoStreamError(w.subject(seq)));
        return;
      case "error":
        this.counters.ackErrors++;
        if (ack.errCode === JS_ERR_MESSAGE_TOO_LARGE) {
          this.refuse(seq, `the stream refused it: ${ack.description}`);
        } else {
          // Kept in flight: the next go-back sends it again with the same id.
          const e = w.extraFor(seq);
          if (e.error === undefined) {
            this.log.error(`the server refused the line ending at offset ${w.offset(seq)} of "${w.origin(seq).path}": ${ack.description}; it will be sent again`);
          }
          e.error = ack.description;
        }
        break;
    }
    this.queueAdvance();
  }

  /**
   * A PubAck to this inbox, read where it arrived (FrameReader, see src/shared/fast-msg-frames.ts):
   * taken when it is the usual "stored"; anything else (a status has headers, an error another
   * body) is declined, and nats.js hands it to onReply().
   */
  readFrame(buf: Buffer, frame: FrameSpans): boolean {
    if (frame.headersTo > frame.headersFrom) return false;
    const seq = decimalIn(buf, frame.subjectFrom + this.inbox.length, frame.subjectTo);
    const ack = storedAckIn(buf, frame.dataFrom, frame.dataTo);
    if (!ack || Number.isNaN(seq)) return false;
    if (this.window.isUnsettled(seq)) {
      this.stored(seq, ack.duplicate);
      this.queueAdvance();
    } // else late: settled by an earlier answer
    return true;
  }

  /** Message `seq` is in the stream (again, when `duplicate`): its lines are settled. */
  private stored(seq: number, duplicate: boolean): void {
    const w = this.window;
    const lines = w.lineCount(seq);
    this.counters.acknowledged += lines;
    if (duplicate) this.counters.duplicates += lines;
    w.settle(seq);
    this.currentAckTimeoutMs = this.ackTimeoutMs;
  }

  private queueAdvance(): void {
    if (this.advanceQueued) return;
    this.advanceQueued = true;
    queueMicrotask(this.advanceNow);
  }

  private checkTimeouts(): void {
    const w = this.window;
    const oldest = w.oldest();
    if (oldest < 0 || this.failure || this.closed) return;
    if (Date.now() - w.sentAt(oldest) < this.currentAckTimeoutMs) return;
    if (!this.connected) return; // everything is sent again on reconnect
    this.counters.ackTimeouts++;
    const error = w.extra(oldest)?.error;
    const where = `the line ending at offset ${w.offset(oldest)} of "${w.origin(oldest).path}"`;
    const why = error
      ? `the server refused ${where} (${error})`
      : `no acknowledgement within ${this.currentAckTimeoutMs} ms for ${where}`;
    this.log.warn(`${why}; sending the ${w.lines} unacknowledged lines again with the same message ids`);
    this.goBack();
    this.currentAckTimeoutMs = Math.min(this.currentAckTimeoutMs * 2, this.maxAckTimeoutMs);
  }

  /** Sends every unsettled message again, in order, with the same message ids. */
  private goBack(): void {
    const now = Date.now();
    for (const seq of this.window.unsettled()) {
      if (this.failure) return;
      this.window.setSentAt(seq, now);
      this.counters.retried += this.window.lineCount(seq);
      this.send(seq);
    }
  }

  private watchConnection(): void {
    const status = this.nc.status();
    this.statusIterator = status as { stop?: () => void };
    void (async () => {
      for await (const s of status) {
        if (this.closed) break;
        if (s.type === "disconnect") {
          this.connected = false;
        } else if (s.type === "reconnect") {
          this.connected = true;
          // nats.js drops what was buffered while disconnected; the server may have lost the rest.
          if (this.window.count > 0) {
            this.log.info(`reconnected: sending the ${this.window.lines} unacknowledged lines again with the same message ids`);
            this.goBack();
          }
        }
      }
    })().catch(() => {});
    void this.nc.closed().then(() => {
      if (!this.closed && this.window.count > 0) this.fail(new PublisherClosedError("the NATS connection closed with lines unacknowledged"));
    });
  }

  private updateGauges(): void {
    this.counters.inFlight = this.window.lines;
    this.counters.inFlightMessages = this.window.count;
    this.counters.inFlightBytes = this.window.bytes;
  }

  /** Wakes the publishing loop once the window is back below three quarters, not on every ack. */
  private wakeIfRoom(): void {
    if (this.window.count === 0 && this.drainWaiters.length > 0) this.wake(this.drainWaiters);
    if (
      this.roomWaiters.length > 0 &&
      this.window.count <= this.maxInFlight * 0.75 &&
      this.window.bytes <= this.maxInFlightBytes * 0.75
    ) {
      this.wake(this.roomWaiters);
    }
  }

  private wake(waiters: Waiter[], err?: Error): void {
    const all = waiters.splice(0, waiters.length);
    for (const w of all) (err ? w.reject(err) : w.resolve());
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    clearInterval(this.timer);
    this.rejectFailed(err);
    this.wake(this.roomWaiters, err);
    this.wake(this.drainWaiters, err);
  }
}
