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
// Nothing is dropped silently: a line larger than the server's max payload is refused before
// sending, logged with its file and offset, counted, and reported to onRefused listeners (issue 3
// splits or dead-letters it); it then counts as settled so the file's position can move on.
import { createInbox, type Msg, type NatsConnection, type PublishOptions, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { NoStreamError, PublisherClosedError } from "./errors.js";
import { InFlightWindow, type InFlightLine } from "./inflight-window.js";
import { MsgIdHeaderEncoder, PreparedHeaders } from "./msg-id.js";
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
}

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

  private readonly window = new InFlightWindow();
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly encoder = new MsgIdHeaderEncoder();
  private readonly headers = new PreparedHeaders();
  private readonly pubOpts: PublishOptions;
  private encodedOrigin?: LineOrigin;
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
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => {}); // observed through publish()/drain() too; never unhandled

    this.inbox = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.inbox}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.pubOpts = { reply: "", headers: this.headers };
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
    const header = this.headerFor(origin, offset);
    const line = this.window.add(subject, payload, origin, offset, payload.length + header.length, Date.now());
    this.counters.published++;
    const maxPayload = this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (line.bytes > maxPayload) {
      this.refuse(line, `it is ${payload.length} bytes and, with its ${header.length}-byte header, over the server's max payload of ${maxPayload} bytes`);
    } else {
      this.send(line, header);
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

  private headerFor(origin: LineOrigin, offset: number): Buffer {
    if (origin !== this.encodedOrigin) {
      this.encoder.use(this.host, origin.key);
      this.encodedOrigin = origin;
    }
    return this.encoder.encode(offset);
  }

  private send(line: InFlightLine, header: Buffer): void {
    // While disconnected nats.js would buffer and then discard the line, or send it after
    // reconnecting ahead of older lines; it waits in the window and goes out, in order, on reconnect.
    if (!this.connected) return;
    this.headers.bytes = header;
    this.pubOpts.reply = this.inbox + line.seq;
    try {
      this.nc.publish(line.subject, line.payload, this.pubOpts);
    } catch (err) {
      if (this.nc.isClosed()) this.fail(new PublisherClosedError(`the NATS connection is closed: ${(err as Error).message}`));
      else this.fail(err as Error);
    }
  }

  private refuse(line: InFlightLine, reason: string): void {
    this.counters.refused++;
    this.log.error(
      `line ending at offset ${line.offset} of "${line.origin.path}" (file ${line.origin.key}) not sent: ${reason}; counted as refused`,
    );
    for (const l of this.refusedListeners) l(line.origin, line.offset, line.payload, reason);
    this.window.settle(line);
    this.window.advance(this.reportSettled);
  }

  private onReply(err: Error | null, msg: Msg): void {
    if (err) {
      this.log.error(`the PubAck subscription failed: ${err.message}`);
      return;
    }
    const seq = Number(msg.subject.substring(this.inbox.length));
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
      this.send(line, this.headerFor(line.origin, line.offset));
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
