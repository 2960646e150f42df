// JetStream publishing, pipelined: each line goes out as a core publish with a reply subject on
// ONE wildcard inbox subscription (`_INBOX.<nuid>.*`), and PubAcks are matched by the reply's last
// token. Many lines are in flight at once (bounded by count and bytes), which reaches ~150k
// lines/s here against ~25k for awaiting js.publish() per line (SPEC.md §8).
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
// Nothing is dropped silently: a line larger than the largest message (the server's max payload,
// or the stream's max_msg_size when known) is split into parts (src/protocol/line-parts.ts) or
// sent to the agent dead-letter subject (src/protocol/agent-dead-letter.ts), by `oversize`, and
// counted. What can still not be stored (no stream for the dead letters, a stream refusing a
// message as too large) is refused: logged with its file and offset, counted, reported to
// onRefused listeners, and then settled so the file's position can move on.
import { createInbox, type Msg, type NatsConnection, type PublishOptions, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { NoStreamError, PublisherClosedError } from "./errors.js";
import { InFlightWindow, type InFlightLine } from "./inflight-window.js";
import { encodeHeaders, MsgIdHeaderEncoder, PreparedHeaders } from "./msg-id-header.js";
import { decimalLength, FrameEncoder } from "./frame-encoder.js";
import { rawSender, replyToken } from "./nats-wire.js";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { formatPart, PART_HEADER } from "../protocol/line-parts.js";
import { lineMsgId, partMsgId } from "../protocol/msg-id.js";
import { agentDeadLetterSubject, ORIGINAL_SUBJECT_HEADER, REASON_HEADER } from "../protocol/agent-dead-letter.js";
import { readPubAck } from "./pub-ack.js";
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
  /** Most lines in flight (sent, not acknowledged). */
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
  /** Encode protocol frames and write them in one go (default); false uses nc.publish() per line. */
  rawFrames?: boolean;
}

export type OversizeMode = "split" | "dead-letter";
export const OVERSIZE_MODES: readonly OversizeMode[] = ["split", "dead-letter"];

export const DEFAULT_MAX_IN_FLIGHT = 10_000;
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_ACK_TIMEOUT_MS = 5_000;

/** JetStream's "message size exceeds maximum allowed" (the stream's max_msg_size). */
const JS_ERR_MESSAGE_TOO_LARGE = 10054;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class JetStreamPublisher implements LinePublisher {
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
  /** Frames for the connection, when it takes raw bytes (nats-wire.ts); else nc.publish() per line. */
  private readonly frames?: FrameEncoder;
  private flushQueued = false;
  private readonly flushFrames = () => {
    this.flushQueued = false;
    this.frames!.flush();
  };
  /** `HPUB <subject> <inbox>` of the last subject sent to. */
  private startSubject = "";
  private start: Uint8Array = new Uint8Array(0);
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
    this.maxMessageBytes = opts.maxMessageBytes && opts.maxMessageBytes > 0 ? opts.maxMessageBytes : Number.POSITIVE_INFINITY;
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => {}); // observed through publish()/drain() too; never unhandled

    this.inbox = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.inbox}*`, { callback: (err, msg) => this.onReply(err, msg) });
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

  publish(subject: string, payload: Uint8Array, origin: LineOrigin, offset: number): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (this.closed) throw new PublisherClosedError("the publisher is closed");
    this.useOrigin(origin);
    const headerBytes = this.encoder.prefixBytes.length + decimalLength(offset) + 4;
    this.counters.published++;
    const serverMax = this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (payload.length + headerBytes > Math.min(serverMax, this.maxMessageBytes)) {
      this.publishOversize(subject, payload, origin, offset, serverMax);
    } else {
      this.send(this.window.add(subject, payload, origin, offset, payload.length + headerBytes, Date.now()));
    }
    this.updateGauges();
    if (this.window.count >= this.maxInFlight || this.window.bytes >= this.maxInFlightBytes) {
      return new Promise<void>((resolve, reject) => this.roomWaiters.push({ resolve, reject }));
    }
    return undefined;
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

  private useOrigin(origin: LineOrigin): void {
    if (origin !== this.encodedOrigin) {
      this.encoder.use(this.host, origin.key);
      this.encodedOrigin = origin;
    }
  }

  /**
   * A line over the largest message: split into parts on its own subject, or sent to the dead
   * letters (in parts too when it is over the server's max payload). Every message goes through
   * the window like a line, all with the line's offset, so the position moves past the line only
   * once every part is stored.
   */
  private publishOversize(subject: string, payload: Uint8Array, origin: LineOrigin, offset: number, serverMax: number): void {
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
    const messages: { payload: Uint8Array; header: Buffer }[] = [];
    const whole = encodeHeaders([[MSG_ID_HEADER, lineId], ...extra]);
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
        const line = this.window.add(subject, payload, origin, offset, payload.length, Date.now());
        this.refuse(line, `it is ${payload.length} bytes, and a max payload of ${room} bytes leaves no room to split it`);
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
    for (const m of messages) {
      const line = this.window.add(target, m.payload, origin, offset, m.payload.length + m.header.length, Date.now());
      line.header = m.header;
      line.deadLetter = toDeadLetters || undefined;
      this.send(line);
    }
  }

  private send(line: InFlightLine): void {
    // While disconnected nats.js would buffer and then discard the line, or send it after
    // reconnecting ahead of older lines; it waits in the window and goes out, in order, on reconnect.
    if (!this.connected) return;
    const frames = this.frames;
    if (frames) {
      if (line.subject !== this.startSubject) {
        this.startSubject = line.subject;
        this.start = Buffer.from(`HPUB ${line.subject} ${this.inbox}`, "utf8");
      }
      if (line.header) {
        frames.frame(this.start, line.seq, line.header, line.payload);
      } else {
        this.useOrigin(line.origin);
        frames.line(this.start, line.seq, this.encoder.prefixBytes, line.offset, line.payload);
      }
      // Everything published in this turn of the event loop goes out in one write.
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushFrames);
      }
      return;
    }
    if (line.header) {
      this.headers.bytes = line.header;
    } else {
      this.useOrigin(line.origin);
      this.headers.bytes = this.encoder.encode(line.offset);
    }
    this.pubOpts.reply = this.inbox + line.seq;
    try {
      this.nc.publish(line.subject, line.payload, this.pubOpts);
    } catch (err) {
      if (this.nc.isClosed()) this.fail(new PublisherClosedError(`the NATS connection is closed: ${(err as Error).message}`));
      else this.fail(err as Error);
    }
  }

  private refuse(line: InFlightLine, reason: string): void {
    const which = `${line.origin.key}:${line.offset}`;
    if (which !== this.lastRefused) {
      // Parts of one line are refused together: counted and logged once.
      this.lastRefused = which;
      this.counters.refused++;
      this.log.error(
        `line ending at offset ${line.offset} of "${line.origin.path}" (file ${line.origin.key}) not stored: ${reason}; counted as refused`,
      );
      for (const l of this.refusedListeners) l(line.origin, line.offset, line.payload, reason);
    }
    this.window.settle(line);
    this.window.advance(this.reportSettled);
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) {
      this.log.error(`the PubAck subscription failed: ${err.message}`);
      return;
    }
    const seq = replyToken(msg, this.inbox.length);
    const line = this.window.get(seq);
    if (!line) return; // a late PubAck for a line already settled by an earlier answer
    const ack = readPubAck(msg);
    switch (ack.kind) {
      case "stored":
        this.counters.acknowledged++;
        if (ack.duplicate) this.counters.duplicates++;
        this.window.settle(line);
        this.currentAckTimeoutMs = this.ackTimeoutMs;
        break;
      case "no-stream":
        if (line.deadLetter) {
          this.refuse(line, `no JetStream stream captures the dead-letter subject "${line.subject}" (create one, or use --oversize split)`);
          break;
        }
        this.fail(new NoStreamError(line.subject));
        return;
      case "error":
        this.counters.ackErrors++;
        if (ack.errCode === JS_ERR_MESSAGE_TOO_LARGE) {
          this.refuse(line, `the stream refused it: ${ack.description}`);
        } else {
          // Kept in flight: the next go-back sends it again with the same id.
          if (line.error === undefined) {
            this.log.error(`the server refused the line ending at offset ${line.offset} of "${line.origin.path}": ${ack.description}; it will be sent again`);
          }
          line.error = ack.description;
        }
        break;
    }
    this.window.advance(this.reportSettled);
    this.updateGauges();
    this.wakeIfRoom();
  }

  private checkTimeouts(): void {
    const oldest = this.window.oldest();
    if (!oldest || this.failure || this.closed) return;
    if (Date.now() - oldest.sentAt < this.currentAckTimeoutMs) return;
    if (!this.connected) return; // everything is sent again on reconnect
    this.counters.ackTimeouts++;
    const why = oldest.error
      ? `the server refused the line ending at offset ${oldest.offset} of "${oldest.origin.path}" (${oldest.error})`
      : `no acknowledgement within ${this.currentAckTimeoutMs} ms for the line ending at offset ${oldest.offset} of "${oldest.origin.path}"`;
    this.log.warn(`${why}; sending the ${this.window.count} unacknowledged lines again with the same message ids`);
    this.goBack();
    this.currentAckTimeoutMs = Math.min(this.currentAckTimeoutMs * 2, this.maxAckTimeoutMs);
  }

  /** Sends every unsettled line again, in order, with the same message ids. */
  private goBack(): void {
    const now = Date.now();
    for (const line of this.window.unsettled()) {
      if (this.failure) return;
      line.sentAt = now;
      this.counters.retried++;
      this.send(line);
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
            this.log.info(`reconnected: sending the ${this.window.count} unacknowledged lines again with the same message ids`);
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
    this.counters.inFlight = this.window.count;
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
