// Pull requests for one durable pull consumer, all answered on one inbox, with flow control by
// credit: at most `budget` messages are ever requested-but-not-arrived or arrived-but-not-taken,
// so memory stays bounded however large the backlog. (nats.js consume() pulls again as soon as
// messages arrive, before they are written, so its buffer grows to the consumer's max ack pending.)
// Pausing is simply not asking for more; nothing is unsubscribed while requests are open, which
// is what leaves deliveries in flight to nobody.
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { PART_HEADER } from "../protocol/line-parts.js";
import { BATCH_HEADER } from "../protocol/batch.js";
import type { Logger } from "../shared/log.js";
import { MessageQueue } from "./message-queue.js";

export interface PullerOptions {
  nc: NatsConnection;
  stream: string;
  consumer: string;
  log: Logger;
  /** For log lines. */
  source: string;
  /** Most messages requested or waiting to be taken. */
  budget: number;
  /** Messages asked for per pull request. */
  pullSize: number;
  /** How long a pull request waits on the server for messages (default 5 s). */
  expiresMs?: number;
  /** Server heartbeat while a request waits (default 1 s); silence for 3 of them means the requests are lost. */
  heartbeatMs?: number;
  /** JetStream API prefix (default `$JS.API`). */
  apiPrefix?: string;
}

const PENDING_MESSAGES = "Nats-Pending-Messages";
/** On stop, open requests are waited for while messages still flow; this much silence ends the wait. */
const QUIET_MS = 250;

const nanos = (ms: number) => ms * 1_000_000;

/** A delivered line, kept compact while it waits: a nats.js message holds views into large read buffers. */
export interface PulledMessage {
  readonly subject: string;
  /** The `$JS.ACK...` subject: delivery numbers, and where acknowledgements go. */
  readonly reply: string;
  readonly data: Uint8Array;
  /** `Nats-Msg-Id`, when the publisher set one (agents do: origin and offset of the line). */
  readonly msgId?: string;
  /** `Shipper-Part`, on the parts of a split line. */
  readonly part?: string;
  /** `Shipper-Batch`, on a message holding several lines. */
  readonly batch?: string;
}

export class Puller {
  /** Data messages in delivery order; ends after stop(), or with an error. */
  readonly queue = new MessageQueue<PulledMessage>();
  /** Messages requested and not yet arrived (the sum over open requests). */
  private outstanding = 0;
  private sub?: Subscription;
  private stopping = false;
  private lastTraffic = Date.now();
  private lastData = 0;
  private watchdog?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private statuses?: AsyncIterable<unknown>;
  private lastComplaint = "";
  private lastComplaintAt = 0;
  private readonly nextSubject: string;
  private readonly expiresMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly opts: PullerOptions) {
    this.nextSubject = `${opts.apiPrefix ?? "$JS.API"}.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`;
    this.expiresMs = opts.expiresMs ?? 5_000;
    this.heartbeatMs = opts.heartbeatMs ?? 1_000;
  }

  start(): void {
    this.subscribe();
    this.watchdog = setInterval(() => this.check(), this.heartbeatMs);
    this.watchdog.unref();
    void this.watchReconnects();
    this.refill();
  }

  private subscribe(): void {
    const sub = this.opts.nc.subscribe(createInbox(), { callback: (err, msg) => (err ? this.fail(err) : this.receive(msg)) });
    this.sub = sub;
    void sub.closed.then(() => {
      if (this.sub === sub) this.queue.end(); // the connection closed for good
    });
  }

  /**
   * Forgets open requests and asks again on a fresh inbox, so requests that may still be open
   * on the server (it was only slow, or the connection came back) cannot deliver beyond the
   * budget. A delivery caught in between shows up as a gap, which the reader handles.
   */
  private renew(): void {
    if (this.stopping) return;
    const old = this.sub;
    this.subscribe();
    if (old && !old.isClosed()) old.unsubscribe();
    this.outstanding = 0;
    this.lastTraffic = Date.now();
    this.refill();
  }

  /** Asks for more while the budget allows; call after taking messages from the queue. */
  refill(): void {
    if (this.stopping || !this.sub) return;
    while (this.opts.budget - this.outstanding - this.queue.size >= this.opts.pullSize) {
      this.outstanding += this.opts.pullSize;
      this.opts.nc.publish(
        this.nextSubject,
        JSON.stringify({ batch: this.opts.pullSize, expires: nanos(this.expiresMs), idle_heartbeat: nanos(this.heartbeatMs) }),
        { reply: this.sub.getSubject() },
      );
    }
  }

  /**
   * Stops asking; waits while open requests still deliver (so nothing is left in flight to
   * nobody), then unsubscribes. The queue ends once what arrived was taken.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.retryTimer);
    // While requests are open and lines still arrive, let them finish: unsubscribing now would
    // leave deliveries in flight to nobody. Once nothing has arrived for a moment, the open
    // requests wait for lines that are not there, and unsubscribing ends them safely enough (a
    // line landing in that instant is redelivered, and the next start waits for it).
    const deadline = Date.now() + this.expiresMs + 2 * this.heartbeatMs;
    while (this.sub && this.outstanding > 0 && Date.now() < deadline && Date.now() - this.lastData < QUIET_MS) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.close();
    this.queue.end();
  }

  /** Drops everything at once (after a delivery gap: what was sent will come again). */
  async abandon(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.queue.clear();
    await this.close();
    this.queue.end();
  }

  private async close(): Promise<void> {
    clearInterval(this.watchdog);
    (this.statuses as { stop?: () => void } | undefined)?.stop?.();
    const sub = this.sub;
    this.sub = undefined;
    if (sub && !sub.isClosed()) sub.unsubscribe();
  }

  private receive(msg: Msg): void {
    this.lastTraffic = Date.now();
    const reply = msg.reply;
    if (reply?.startsWith("$JS.ACK.")) {
      this.lastData = this.lastTraffic;
      if (this.outstanding > 0) this.outstanding--;
      // One fixed-shape object per line (no spread temporaries): this runs for every line.
      const h = msg.headers;
      this.queue.push({
        subject: msg.subject,
        reply,
        data: Buffer.from(msg.data),
        msgId: (h && h.get(MSG_ID_HEADER)) || undefined,
        part: (h && h.get(PART_HEADER)) || undefined,
        batch: (h && h.get(BATCH_HEADER)) || undefined,
      });
      return;
    }
    const code = msg.headers?.code ?? 0;
    const description = msg.headers?.description ?? "";
    switch (code) {
      case 100: // idle heartbeat
        return;
      case 404: // no messages (no-wait requests only)
      case 408: // request expired: the rest of it will not come
        this.requestEnded(msg);
        this.refill();
        return;
      case 409:
        this.requestEnded(msg);
        if (/deleted|push based/i.test(description)) {
          this.complain(`${description}; run \`shipper setup\` to create the consumer again (retrying)`);
          this.retryLater();
        } else {
          // e.g. "Exceeded MaxWaiting", "Leadership Change": ask again.
          this.opts.log.debug(`${this.opts.source}: pull request ended: ${code} ${description}`);
          this.refill();
        }
        return;
      case 503:
        this.outstanding = 0;
        this.complain("JetStream did not answer the pull request (no responders: is the consumer or stream gone?); retrying");
        this.retryLater();
        return;
      default:
        this.opts.log.warn(`${this.opts.source}: unexpected status ${code} ${description} on the pull inbox`);
        return;
    }
  }

  /** Logs a trouble once, and again only every 30 s while it lasts (retries run every second). */
  private complain(what: string): void {
    const now = Date.now();
    if (what === this.lastComplaint && now - this.lastComplaintAt < 30_000) return;
    this.lastComplaint = what;
    this.lastComplaintAt = now;
    this.opts.log.error(`${this.opts.source}: ${what}`);
  }

  private requestEnded(msg: Msg): void {
    const pending = Number(msg.headers?.get(PENDING_MESSAGES) || NaN);
    // Without the count (older servers) the open requests are unknown: assume none, ask again.
    this.outstanding = Number.isFinite(pending) ? Math.max(0, this.outstanding - pending) : 0;
  }

  private retryLater(): void {
    if (this.stopping) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.renew(), 1_000);
  }

  /** Open requests send heartbeats; silence means they are gone (server restart, reconnect). */
  private check(): void {
    if (this.stopping || this.outstanding === 0) return;
    if (Date.now() - this.lastTraffic > 3 * this.heartbeatMs) {
      this.opts.log.warn(`${this.opts.source}: no heartbeats from the server for ${Math.round((Date.now() - this.lastTraffic) / 1000)} s; pulling again`);
      this.renew();
    }
  }

  private async watchReconnects(): Promise<void> {
    const statuses = this.opts.nc.status();
    this.statuses = statuses;
    for await (const s of statuses) {
      if (this.stopping) return;
      if (s.type === "reconnect") this.renew(); // requests open before the disconnect may be gone
    }
  }

  private fail(err: Error): void {
    this.opts.log.error(`${this.opts.source}: the pull subscription failed: ${err.message}`);
    void this.close();
    this.queue.end(err);
  }
}
