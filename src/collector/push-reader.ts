// Reads one partition from the article's push delivery subject `<target>.p<N>` (SPEC.md §4), so
// the collector runs unchanged against a deployment made with the `nats` CLI as in Part 8. A
// pushed message keeps its original subject, which is where the host comes from. When the push
// consumer acknowledges (ack policy "explicit" or "all"), each message is acked after its batch
// is written; Part 8's `TAIL` consumers use "none", and get no acks. Flow-control requests are
// answered only after the messages before them are written, so the server cannot outrun the disk.
import { AckPolicy, type JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { parseAckReply } from "./ack-reply.js";
import { MessageQueue } from "./message-queue.js";
import type { MessageBatch, PartitionReader, ReadMessage } from "./partition-reader.js";
import { DEFAULT_MAX_BATCH } from "./pull-reader.js";

export interface PushReaderOptions {
  nc: NatsConnection;
  /** Used once per push consumer to learn its ack policy; without it every message is acked. */
  jsm?: JetStreamManager;
  /** Delivery prefix, e.g. `out.logs`; the reader subscribes to `<target>.p<partition>`. */
  target: string;
  partition: number;
  log: Logger;
  maxBatch?: number;
}

/** Idle heartbeats and flow-control requests of push consumers: status 100, no payload. */
function isControl(m: Msg): boolean {
  return m.headers !== undefined && m.headers.code === 100 && m.data.length === 0;
}

export class PushReader implements PartitionReader {
  readonly partition: number;
  readonly source: string;
  private sub?: Subscription;
  private stopping = false;
  /** Last delivery sequence per `<stream>.<consumer>`: going backwards means the consumer was made again. */
  private readonly lastDelivery = new Map<string, number>();
  /** Creation time per stream, to tell a recreated stream from a restarted consumer. */
  private readonly streamCreated = new Map<string, string>();
  /** Ack policy per `<stream>.<consumer>` behind the delivery subject, looked up once. */
  private readonly policies = new Map<string, AckPolicy>();

  constructor(private readonly opts: PushReaderOptions) {
    this.partition = opts.partition;
    this.source = `${opts.target}.p${opts.partition}`;
  }

  async *batches(): AsyncGenerator<MessageBatch> {
    if (this.stopping) return;
    const queue = new MessageQueue<Msg>();
    const sub = this.opts.nc.subscribe(this.source, { callback: (err, m) => (err ? queue.end(err) : queue.push(m)) });
    void sub.closed.then(() => queue.end());
    this.sub = sub;
    this.opts.log.info(`Waiting for messages on subject ${this.source} @ ${this.opts.nc.getServer()}`);
    for await (const batch of queue.batches(this.opts.maxBatch ?? DEFAULT_MAX_BATCH)) {
      const messages: ReadMessage[] = [];
      let fresh = false;
      const toAck: Msg[] = [];
      const controls: Msg[] = [];
      for (const m of batch) {
        if (isControl(m)) {
          if (m.reply) controls.push(m);
          continue;
        }
        const delivery = parseAckReply(m.reply);
        messages.push({
          subject: m.subject,
          data: m.data,
          stream: delivery?.stream,
          sequence: delivery?.streamSequence,
          deliveries: delivery?.deliveries ?? 1,
        });
        if (delivery) {
          const key = `${delivery.stream}.${delivery.consumer}`;
          if (this.opts.jsm && !this.streamCreated.has(delivery.stream)) await this.streamRecreated(delivery.stream);
          const last = this.lastDelivery.get(key);
          if (last !== undefined && delivery.deliverySequence <= last && (await this.streamRecreated(delivery.stream))) fresh = true;
          this.lastDelivery.set(key, delivery.deliverySequence);
          const policy = this.policies.get(key) ?? (await this.lookUpPolicy(key, delivery.stream, delivery.consumer));
          if (policy !== AckPolicy.None) toAck.push(m);
        }
      }
      if (messages.length === 0 && controls.length === 0) continue;
      yield {
        messages,
        fresh,
        ack: async () => {
          for (const m of toAck) m.respond();
          for (const m of controls) m.respond();
        },
        working: () => {
          for (const m of toAck) m.respond("+WPI");
        },
      };
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const sub = this.sub;
    // Draining receives everything already sent, so with ack policy "none" nothing is lost in flight.
    if (sub && !sub.isClosed()) await sub.drain().catch(() => sub.unsubscribe());
  }

  /**
   * Whether the stream was made again since we last looked (its sequences start again). The
   * delivery sequence going back says only that the consumer restarted, which also happens when
   * the server rolls back after a crash; then the stream sequences still hold.
   */
  private async streamRecreated(stream: string): Promise<boolean> {
    if (!this.opts.jsm) return false;
    try {
      const created = (await this.opts.jsm.streams.info(stream)).created;
      const before = this.streamCreated.get(stream);
      this.streamCreated.set(stream, created);
      return before !== undefined && before !== created;
    } catch {
      return false;
    }
  }

  private async lookUpPolicy(key: string, stream: string, consumer: string): Promise<AckPolicy> {
    const { jsm, log } = this.opts;
    let policy: AckPolicy = AckPolicy.Explicit;
    if (jsm) {
      try {
        policy = (await jsm.consumers.info(stream, consumer)).config.ack_policy;
      } catch (err) {
        log.warn(`cannot read the ack policy of ${stream} > ${consumer} (${(err as Error).message}); acknowledging every line`);
      }
    }
    this.policies.set(key, policy);
    return policy;
  }
}
