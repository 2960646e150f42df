// Pull requests for one durable pull consumer, all answered on one inbox, with flow control by
// credit: at most `budget` messages are ever requested-but-not-arrived or arrived-but-not-taken,
// so memory stays bounded however large the backlog. (nats.js consume() pulls again as soon as
// messages arrive, before they are written, so its buffer grows to the consumer's max ack pending.)
// Pausing is simply not asking for more; nothing is unsubscribed while requests are open, which
// is what leaves deliveries in flight to nobody.
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { isAckReply, scanAckReply } from "./ack-reply.js";
import { readFramesOf, type FrameReader, type FrameSpans } from "../shared/fast-msg-frames.js";
import { ArrivedLines, type ArrivingLine, type LineChunk } from "./arrived-lines.js";
import { lineHeaderSpans, lineHeaderSpansIn } from "./line-headers.js";
import { MessageQueue } from "./message-queue.js";
import type { InFlightBytes } from "./in-flight-bytes.js";
import type { ReadMessage } from "./partition-reader.js";

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
  /** Whether a delivered line can be terminated (the consumer acknowledges: not ack policy "none"). */
  terminable?: boolean;
  /** The consumer's delivered count when this puller starts (its deliveries so far went elsewhere or were handled). */
  deliveredBefore?: number;
  /**
   * One allowance shared with the pullers of the collector's other partitions: what they all
   * requested, hold waiting, or handed out and not yet written (release()) stays within it, so ten
   * partitions do not each hold two batches. Partitions take turns; one with nothing requested or
   * waiting may always ask for a little, so none is starved and an idle one still answers at once.
   */
  shared?: ReadAheadBudget;
  /** Bytes requested and not yet arrived, bounded for the whole connection (in-flight-bytes.ts). */
  inFlight?: InFlightBytes;
}

/**
 * The lines in memory of every partition of a collector, bounded together: requested and not yet
 * arrived, arrived and not yet taken, or taken and not yet written. What a partition frees is
 * offered to the others in turn.
 */
export class ReadAheadBudget {
  private readonly members: Puller[] = [];
  private turn = 0;
  private offering = false;

  private timer?: NodeJS.Timeout;

  constructor(readonly total: number) {}

  join(puller: Puller): void {
    if (!this.members.includes(puller)) this.members.push(puller);
    // Requests of a partition that went quiet stop counting after a moment: offer again then.
    this.timer ??= setInterval(() => this.offer(), OPEN_REQUEST_IDLE_MS);
    this.timer.unref();
  }

  leave(puller: Puller): void {
    const i = this.members.indexOf(puller);
    if (i >= 0) this.members.splice(i, 1);
    if (this.members.length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.offer();
  }

  /** Lines requested, waiting or being written, over every partition. */
  used(): number {
    let n = 0;
    const now = Date.now();
    for (const p of this.members) n += p.inMemory(now);
    return n;
  }

  /** Something was freed: each partition may ask again, starting after the one served last. */
  offer(): void {
    if (this.offering) return; // refill() calls back here
    this.offering = true;
    try {
      // Round after round, one request each, until nobody may ask for more.
      for (let any = true; any; ) {
        any = false;
        const n = this.members.length;
        for (let k = 0; k < n; k++) {
          const i = (this.turn + k) % n;
          if (this.members[i]!.ask()) {
            any = true;
            this.turn = (i + 1) % n;
          }
        }
      }
    } finally {
      this.offering = false;
    }
  }
}

const PENDING_MESSAGES = "Nats-Pending-Messages";
/** Before any line arrived: a guess on the large side (agents' lines are about 300 bytes on the wire). */
const FIRST_MESSAGE_BYTES_GUESS = 1024;
/** A message's subject, reply and protocol line on top of its payload and headers, at most. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;
/** What a partition may always ask for when it has nothing requested or waiting (shared budget spent). */
const LEAST_REQUEST = 250;
/** A partition that received nothing for this long has its open requests left out of the shared budget. */
const OPEN_REQUEST_IDLE_MS = 100;
/** On stop, open requests are waited for while messages still flow; this much silence ends the wait. */
const QUIET_MS = 250;

const nanos = (ms: number) => ms * 1_000_000;

const TERM = new TextEncoder().encode("+TERM");

/** What the lines of one puller share. */
interface LineContext {
  readonly nc: NatsConnection;
  readonly stream: string;
  /** Whether a delivered line can be terminated (the consumer acknowledges). */
  readonly terminable: boolean;
}

/**
 * A delivered line taken for a batch: a place in the chunk its bytes were copied to on arrival
 * (arrived-lines.ts), read from there while its batch is routed and written. Once the batch is
 * written the chunk is reused; reading the line then throws rather than give another line's bytes.
 */
export class PulledLine implements ReadMessage {
  private readonly generation: number;

  constructor(
    /** Where its bytes are: released once the line is written, and they are reused. */
    readonly chunk: LineChunk,
    private readonly index: number,
    private readonly context: LineContext,
  ) {
    this.generation = chunk.generation;
  }

  get stream(): string {
    return this.context.stream;
  }

  get subject(): string {
    return this.held().subject(this.index);
  }

  /** The `$JS.ACK...` subject: delivery numbers, and where acknowledgements go. */
  get reply(): string {
    return this.held().reply(this.index);
  }

  get data(): Uint8Array {
    return this.held().data(this.index);
  }

  /** `Nats-Msg-Id`, when the publisher set one (agents do: origin and offset of the line). */
  get msgId(): string | undefined {
    return this.held().msgId(this.index);
  }

  /** A whole line's short id, read on arrival (see ReadMessage). */
  get originKey(): string | undefined {
    return this.held().originKey(this.index);
  }

  get offset(): number | undefined {
    return this.held().offset(this.index);
  }

  /** `Shipper-Part`, on the parts of a split line. */
  get part(): string | undefined {
    return this.held().part(this.index);
  }

  /** `Shipper-Batch`, on a message holding several lines. */
  get batch(): string | undefined {
    return this.held().batch(this.index);
  }

  get sequence(): number {
    return this.held().sequence(this.index);
  }

  get deliveries(): number {
    return this.held().deliveries(this.index);
  }

  /** The consumer's delivery sequence, -1 when the reply subject could not be read. */
  get deliverySequence(): number {
    return this.held().deliverySequence(this.index);
  }

  /** Terminates the line; the reply is read now, so the function may run after the line is written. */
  get term(): (() => void) | undefined {
    if (!this.context.terminable) return undefined;
    const { nc } = this.context;
    const reply = this.reply;
    return () => nc.publish(reply, TERM);
  }

  /** Copies the reply subject's bytes to `target` at `at`; returns how many (replyLength). */
  copyReply(target: Buffer, at: number): number {
    return this.held().copyReply(this.index, target, at);
  }

  get replyLength(): number {
    return this.held().replyLength(this.index);
  }

  private held(): LineChunk {
    if (this.chunk.generation !== this.generation) throw new Error("a delivered line was read after its batch was written (its memory is reused)");
    return this.chunk;
  }
}

export class Puller implements FrameReader {
  /** Data messages in delivery order; ends after stop(), or with an error. */
  readonly queue: MessageQueue<PulledLine, ArrivingLine>;
  /** The line being received, filled in place (no object per message). */
  private readonly arriving: ArrivingLine = {
    subject: EMPTY, subjectFrom: 0, subjectTo: 0, bytes: EMPTY, replyFrom: 0, replyTo: 0,
    idFrom: 0, idTo: 0, partFrom: 0, partTo: 0, batchFrom: 0, batchTo: 0, dataFrom: 0, dataTo: 0,
    sequence: -1, deliveries: 0, deliverySequence: -1,
  };
  /** Messages taken from the queue and not yet written (counted against the shared budget). */
  taken = 0;
  /** Messages requested and not yet arrived (the sum over open requests). */
  private outstanding = 0;
  private sub?: Subscription;
  private stopping = false;
  private lastTraffic = Date.now();
  private lastData = 0;
  /** The delivery sequence of the last line received (what the consumer's delivered count is compared with). */
  private lastDelivery = 0;
  /** A check of the consumer runs (check()). */
  private verifying = false;
  /** When a slow server was last reported (check()). */
  private slowSaidAt = 0;
  private readonly infoSubject: string;
  /** When the last pull request was sent. */
  private lastAsked = 0;
  private watchdog?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private statuses?: AsyncIterable<unknown>;
  private lastComplaint = "";
  private lastComplaintAt = 0;
  private readonly nextSubject: string;
  private readonly expiresMs: number;
  private readonly heartbeatMs: number;
  /** Bytes a delivered message takes on the wire, on average (subject, reply, headers, payload). */
  private messageBytes = FIRST_MESSAGE_BYTES_GUESS;

  constructor(private readonly opts: PullerOptions) {
    const api = opts.apiPrefix ?? "$JS.API";
    this.nextSubject = `${api}.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`;
    this.infoSubject = `${api}.CONSUMER.INFO.${opts.stream}.${opts.consumer}`;
    this.lastDelivery = opts.deliveredBefore ?? 0;
    this.expiresMs = opts.expiresMs ?? 5_000;
    this.heartbeatMs = opts.heartbeatMs ?? 1_000;
    const context: LineContext = { nc: opts.nc, stream: opts.stream, terminable: opts.terminable ?? false };
    this.queue = new MessageQueue(new ArrivedLines((chunk, index) => new PulledLine(chunk, index, context)));
  }

  start(): void {
    this.opts.shared?.join(this);
    this.opts.inFlight?.join(this);
    this.subscribe();
    this.watchdog = setInterval(() => this.check(), this.heartbeatMs);
    this.watchdog.unref();
    void this.watchReconnects();
    this.refill();
  }

  private subscribe(): void {
    const sub = this.opts.nc.subscribe(createInbox(), { callback: (err, msg) => (err ? this.fail(err) : this.receive(msg)) });
    readFramesOf(sub, this); // lines straight from the read buffer (readFrame); statuses still come to receive()
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

  /** Messages requested and not yet arrived, or arrived and not yet taken. */
  get held(): number {
    return this.outstanding + this.queue.size;
  }

  /**
   * What counts against the shared budget: lines waiting or being written, and lines requested
   * while they still arrive. A request left open on a drained stream (nothing came for a moment)
   * holds no budget: it may deliver later, at most this partition's own budget.
   */
  inMemory(now: number): number {
    const open = now - Math.max(this.lastData, this.lastAsked) < OPEN_REQUEST_IDLE_MS ? this.outstanding : 0;
    return this.queue.size + this.taken + open;
  }

  /** The reader took `n` messages from the queue; call release(n) once they are written. */
  took(n: number): void {
    if (this.opts.shared) this.taken += n;
  }

  /** `n` taken messages were written (their lines are no longer held): others may ask again. */
  release(n: number): void {
    if (!this.opts.shared) return;
    this.taken = Math.max(0, this.taken - n);
    this.opts.shared.offer();
  }

  /** Asks for more while the budget allows; call after taking messages from the queue. */
  refill(): void {
    if (this.opts.shared) this.opts.shared.offer();
    else this.ask();
  }

  /** Sends pull requests while this partition's budget (and the shared one) allows; true when it sent any. */
  ask(): boolean {
    if (this.stopping || !this.sub) return false;
    const shared = this.opts.shared;
    let asked = false;
    while (true) {
      let size = this.opts.pullSize;
      if (this.opts.budget - this.held < size) break;
      if (shared && shared.total - shared.used() < size) {
        // Over the shared budget: only a partition with nothing requested or waiting asks, and little.
        if (this.held > 0 || this.taken >= this.opts.budget) break;
        size = Math.min(size, LEAST_REQUEST);
      }
      const inFlight = this.opts.inFlight;
      if (inFlight) {
        // Lines by bytes: this puller's share of what may be in flight, at the size lines have had.
        const fits = Math.floor(inFlight.share / this.messageBytes) - this.outstanding;
        if (fits < size) {
          if (fits < 1 && this.outstanding > 0) break;
          size = Math.max(1, fits);
        }
      }
      this.outstanding += size;
      this.lastAsked = Date.now();
      asked = true;
      this.opts.nc.publish(this.nextSubject, JSON.stringify(this.request(size)), { reply: this.sub.getSubject() });
      if (shared) break; // one request per turn: the others get theirs
    }
    return asked;
  }

  /**
   * A pull request for `size` messages. With an in-flight bound it also has max_bytes, so a run of
   * lines much larger than those before cannot make it deliver more than twice its share (never
   * less than the largest message the server takes, which would otherwise never be delivered).
   */
  private request(size: number): Record<string, number> {
    const request: Record<string, number> = { batch: size, expires: nanos(this.expiresMs), idle_heartbeat: nanos(this.heartbeatMs) };
    if (this.opts.inFlight) {
      const largest = (this.opts.nc.info?.max_payload ?? 1024 * 1024) + MESSAGE_OVERHEAD_BYTES;
      request.max_bytes = Math.max(largest, Math.ceil(2 * size * this.messageBytes));
    }
    return request;
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
    this.outstanding = 0;
    this.opts.shared?.leave(this);
    this.opts.inFlight?.leave(this);
    (this.statuses as { stop?: () => void } | undefined)?.stop?.();
    const sub = this.sub;
    this.sub = undefined;
    if (sub && !sub.isClosed()) sub.unsubscribe();
  }

  /** A line's frame, read in the connection's buffer (fast-msg-frames.ts); false leaves it to receive(). */
  readFrame(buf: Buffer, f: FrameSpans): boolean {
    if (!isAckReply(buf, f.replyFrom, f.replyTo)) return false; // a status: no `$JS.ACK` reply
    const h = lineHeaderSpansIn(buf, f.headersFrom, f.headersTo);
    if (!h) return false; // headers only nats.js reads right
    const a = this.arriving;
    a.subject = a.bytes = buf;
    a.subjectFrom = f.subjectFrom;
    a.subjectTo = f.subjectTo;
    a.replyFrom = f.replyFrom;
    a.replyTo = f.replyTo;
    a.idFrom = h.idFrom;
    a.idTo = h.idTo;
    a.partFrom = h.partFrom;
    a.partTo = h.partTo;
    a.batchFrom = h.batchFrom;
    a.batchTo = h.batchTo;
    a.dataFrom = f.dataFrom;
    a.dataTo = f.dataTo;
    this.arrived(f.subjectTo - f.subjectFrom + (f.replyTo - f.replyFrom) + (f.dataTo - f.headersFrom));
    return true;
  }

  /** `this.arriving` is filled in: counts it, reads its delivery numbers and queues it. */
  private arrived(wireBytes: number): void {
    const a = this.arriving;
    this.lastTraffic = this.lastData = Date.now();
    if (this.outstanding > 0) this.outstanding--;
    this.messageBytes += (wireBytes - this.messageBytes) / 64;
    const d = scanAckReply(a.bytes, a.replyFrom, a.replyTo);
    if (d && d.deliverySequence > this.lastDelivery) this.lastDelivery = d.deliverySequence;
    a.sequence = d ? d.streamSequence : -1;
    a.deliveries = d ? d.deliveries : 0;
    a.deliverySequence = d ? d.deliverySequence : -1;
    this.queue.push(a);
    a.subject = a.bytes = EMPTY; // not kept: the connection's read buffer
  }

  private receive(msg: Msg): void {
    this.lastTraffic = Date.now();
    const reply = replyBytes(msg);
    if (reply && isAckReply(reply)) {
      // A line nats.js made a message of (the fast frame reader is off, or left this frame to it):
      // its parts gathered in one buffer.
      const h = lineHeaderSpans(msg);
      const id = h.bytes.subarray(h.idFrom, Math.max(h.idFrom, h.idTo));
      const part = h.bytes.subarray(h.partFrom, Math.max(h.partFrom, h.partTo));
      const batch = h.bytes.subarray(h.batchFrom, Math.max(h.batchFrom, h.batchTo));
      const bytes = Buffer.concat([reply, id, part, batch, msg.data]);
      const subject = Buffer.from(msg.subject);
      const a = this.arriving;
      a.subject = subject;
      a.subjectFrom = 0;
      a.subjectTo = subject.length;
      a.bytes = bytes;
      a.replyFrom = 0;
      a.idFrom = a.replyTo = reply.length;
      a.partFrom = a.idTo = a.idFrom + id.length;
      a.batchFrom = a.partTo = a.partFrom + part.length;
      a.dataFrom = a.batchTo = a.batchFrom + batch.length;
      a.dataTo = bytes.length;
      const frame = (msg as unknown as { _msg?: { size?: unknown } })._msg?.size; // headers and payload
      this.arrived(subject.length + reply.length + (typeof frame === "number" ? frame : msg.data.length));
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

  /**
   * Open requests send heartbeats; silence may mean they are gone (server restart, lost
   * connection), but also that the server, the disk or this process is only slow (a collector
   * opening thousands of new host files). Pulling again on a fresh inbox leaves whatever the
   * server is still sending to the old one undelivered, and that gap costs a pause of the ack
   * wait (30 s), so the consumer is asked first: requests still waiting there, or deliveries
   * beyond the last one received, mean the server is slow, not silent.
   */
  private check(): void {
    if (this.stopping || this.outstanding === 0 || this.verifying) return;
    const silentMs = Date.now() - this.lastTraffic;
    if (silentMs <= 3 * this.heartbeatMs) return;
    this.verifying = true;
    void this.requestsGone().then((gone) => {
      this.verifying = false;
      if (this.stopping || Date.now() - this.lastTraffic <= 3 * this.heartbeatMs) return; // traffic came meanwhile
      if (gone) {
        this.opts.log.warn(`${this.opts.source}: no heartbeats from the server for ${Math.round((Date.now() - this.lastTraffic) / 1000)} s and ${gone}; pulling again`);
        this.renew();
      } else {
        // Said once a stall, and again every 30 s while it lasts (the check runs every heartbeat).
        if (Date.now() - this.slowSaidAt > 30_000) {
          this.opts.log.info(`${this.opts.source}: no heartbeats for ${Math.round((Date.now() - this.lastTraffic) / 1000)} s, but the server still holds the pull requests (it or this collector is slow); waiting`);
          this.slowSaidAt = Date.now();
        }
        this.lastTraffic = Date.now();
      }
    });
  }

  /** Why the open requests look gone (the consumer does not answer, or holds none and sent nothing more), or "" when they are not. */
  private async requestsGone(): Promise<string> {
    try {
      const reply = await this.opts.nc.request(this.infoSubject, "", { timeout: 3 * this.heartbeatMs });
      const info = reply.json<{ num_waiting?: number; delivered?: { consumer_seq?: number }; error?: { description?: string } }>();
      if (info.error) return `the consumer info failed (${info.error.description ?? "error"})`;
      const waiting = info.num_waiting ?? 0;
      const delivered = info.delivered?.consumer_seq ?? 0;
      if (waiting > 0 || delivered > this.lastDelivery) return "";
      return "the consumer holds no pull request of this collector";
    } catch (err) {
      return `the consumer info did not come (${(err as Error).message})`;
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

const EMPTY = Buffer.alloc(0);

/** The reply subject's bytes as received (nats.js's message internals), or encoded when they are not there. */
function replyBytes(msg: Msg): Uint8Array | undefined {
  const raw = (msg as unknown as { _msg?: { reply?: unknown } })._msg?.reply;
  if (raw instanceof Uint8Array) return raw;
  return msg.reply ? new TextEncoder().encode(msg.reply) : undefined;
}
