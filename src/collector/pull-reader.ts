// Reads one partition from the durable pull consumer of the layout with `consume()`, in batches
// of what has arrived. A batch is acknowledged by the collector after it is written and flushed:
// with ack policy "all" (what `shipper setup` creates) by acking its last message, which
// acknowledges everything before it; with "explicit" by acking each message.
//
// AckAll needs care: acking message N also acknowledges any earlier delivery this reader never
// received (lost in flight when the connection broke, or left unacknowledged by a collector that
// died), and those lines would be lost. So the reader
// - at start, when a previous session left deliveries unacknowledged, waits until the server
//   redelivers them (the ack wait), so they come first and in order;
// - checks that delivery sequences are contiguous; at a gap it hands out only what came before
//   it, stops, waits for the missing deliveries to become due again, and reads on from there;
// - on stop, drains its subscription, so everything the server sent is received and written
//   before the program exits (no delivery is left behind).
import { AckPolicy, type Consumer, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import type { Subscription } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { delay } from "./delay.js";
import { MessageQueue } from "./message-queue.js";
import type { MessageBatch, PartitionReader, ReadMessage } from "./partition-reader.js";
import { scanAckReply, type DeliveryNumbers } from "./ack-reply.js";

export const DEFAULT_MAX_BATCH = 10_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
/** Slack after the ack wait before the server is expected to have queued redeliveries. */
const REDELIVERY_MARGIN_MS = 1_000;

export interface PullReaderOptions {
  js: JetStreamClient;
  stream: string;
  consumer: string;
  partition: number;
  log: Logger;
  /** Most messages per batch, and per pull request (default 10,000, lowered to the consumer's max ack pending). */
  maxBatch?: number;
  /** Called when a gap in delivery sequences is found (for counters). */
  onGap?: (missing: number) => void;
}

export class PullReader implements PartitionReader {
  readonly partition: number;
  readonly source: string;
  private stopping = false;
  private readonly stopped = new AbortController();
  private messages?: ConsumerMessages;

  constructor(private readonly opts: PullReaderOptions) {
    this.partition = opts.partition;
    this.source = `${opts.stream} > ${opts.consumer}`;
  }

  async *batches(): AsyncGenerator<MessageBatch> {
    const { js, stream, consumer: name, log } = this.opts;
    const consumer = await js.consumers.get(stream, name);
    let info = await consumer.info(false);
    const policy = info.config.ack_policy;
    if (policy === AckPolicy.None) {
      log.warn(`${this.source} has ack policy "none": lines delivered while the collector fails are lost; use \`shipper setup\` consumers`);
    }
    const ackWaitMs = info.config.ack_wait ? info.config.ack_wait / 1e6 : DEFAULT_ACK_WAIT_MS;
    const maxPending = info.config.max_ack_pending && info.config.max_ack_pending > 0 ? info.config.max_ack_pending : Infinity;
    const maxBatch = Math.max(1, Math.min(this.opts.maxBatch ?? DEFAULT_MAX_BATCH, maxPending));
    if (policy !== AckPolicy.None) await this.waitForLeftovers(info, ackWaitMs);

    while (!this.stopping) {
      info = await consumer.info(false);
      let expected = info.delivered.consumer_seq + 1;
      const { messages, queue } = await this.start(consumer, maxBatch);
      let gap: { expected: number; got: number } | undefined;
      for await (const batch of queue.batches(maxBatch)) {
        const read: ReadMessage[] = [];
        for (const m of batch) {
          const d = deliveryOf(m);
          if (policy !== AckPolicy.None && d.deliverySequence !== expected) {
            gap = { expected, got: d.deliverySequence };
            break;
          }
          expected++;
          read.push({ subject: m.subject, data: m.data, stream, sequence: d.streamSequence, deliveries: d.deliveries });
        }
        if (read.length > 0) yield this.toBatch(read.length === batch.length ? batch : batch.slice(0, read.length), read, policy);
        if (gap) break;
      }
      this.messages = undefined;
      if (!gap) return; // stopped (drained), or the connection closed
      messages.stop();
      this.opts.onGap?.(Math.max(1, gap.got - gap.expected));
      log.warn(
        `${this.source}: delivery ${gap.got} arrived where ${gap.expected} was expected, so deliveries never reached this collector (a reconnect, another collector on this consumer, or the consumer was recreated); pausing ${Math.round((ackWaitMs + REDELIVERY_MARGIN_MS) / 1000)} s until they are redelivered, so nothing is acknowledged past them`,
      );
      await delay(ackWaitMs + REDELIVERY_MARGIN_MS, this.stopped.signal);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    const messages = this.messages;
    if (!messages) return;
    // Draining the subscription receives everything the server sent before it saw the
    // unsubscribe; consume() then ends its iterator after those messages. stop() would discard
    // them in flight and leave them delivered but unacknowledged.
    const sub = (messages as unknown as { sub?: Subscription }).sub;
    if (sub && !sub.isClosed()) {
      await sub.drain().catch(() => messages.stop());
    } else {
      messages.stop();
    }
  }

  private async start(consumer: Consumer, maxBatch: number): Promise<{ messages: ConsumerMessages; queue: MessageQueue<JsMsg> }> {
    const queue = new MessageQueue<JsMsg>();
    const messages = await consumer.consume({ max_messages: maxBatch, callback: (m) => queue.push(m) });
    void messages.closed().then(
      (err) => queue.end(err ?? undefined),
      (err: Error) => queue.end(err),
    );
    this.messages = messages;
    if (this.stopping) await this.stop();
    void this.watch(messages);
    return { messages, queue };
  }

  /** Logs what the consume loop reports (missing consumer, heartbeats) instead of hiding it. */
  private async watch(messages: ConsumerMessages): Promise<void> {
    const { log } = this.opts;
    try {
      for await (const n of messages.status()) {
        switch (n.type) {
          case "heartbeats_missed":
            if (n.count === 2) log.warn(`${this.source}: no heartbeats from the server; pulling again`);
            break;
          case "consumer_not_found":
          case "consumer_deleted":
            log.error(`${this.source}: the consumer is gone; run \`shipper setup\` to create it again (retrying)`);
            break;
          case "stream_not_found":
            log.error(`${this.source}: the stream is gone; run \`shipper setup\` to create it again (retrying)`);
            break;
          case "no_responders":
            log.warn(`${this.source}: JetStream is not answering (retrying)`);
            break;
          default:
            break;
        }
      }
    } catch {
      // the status iterator ends with the messages; nothing to report
    }
  }

  /** Waits until deliveries a previous session left unacknowledged are due again, so they come first. */
  private async waitForLeftovers(info: ConsumerInfo, ackWaitMs: number): Promise<void> {
    if (info.num_ack_pending === 0) return;
    // Typed as a number, but the server sends an RFC 3339 time.
    const lastActive = Date.parse(String(info.delivered.last_active ?? ""));
    const due = Number.isFinite(lastActive) ? lastActive + ackWaitMs - Date.now() : ackWaitMs;
    const wait = Math.min(ackWaitMs, Math.max(0, due)) + REDELIVERY_MARGIN_MS;
    this.opts.log.warn(
      `${this.source}: ${info.num_ack_pending} lines were delivered before but never acknowledged (a collector stopped abruptly?); waiting ${Math.round(wait / 1000)} s for their redelivery so they are written first and in order`,
    );
    await delay(wait, this.stopped.signal);
  }

  private toBatch(msgs: JsMsg[], messages: ReadMessage[], policy: AckPolicy): MessageBatch {
    return {
      messages,
      ack: async () => {
        if (policy === AckPolicy.All) msgs[msgs.length - 1]!.ack();
        else if (policy === AckPolicy.Explicit) for (const m of msgs) m.ack();
      },
      working: () => {
        if (policy !== AckPolicy.None) for (const m of msgs) m.working();
      },
    };
  }
}

/** A message's delivery numbers, read from its reply subject without the library's split-based parse. */
function deliveryOf(m: JsMsg): DeliveryNumbers {
  // JsMsgImpl exposes its reply subject, though the JsMsg type does not list it.
  const reply = (m as JsMsg & { reply?: string }).reply;
  const fast = reply !== undefined ? scanAckReply(reply) : undefined;
  if (fast) return fast;
  const info = m.info;
  return { deliveries: info.deliveryCount, streamSequence: info.streamSequence, deliverySequence: info.deliverySequence };
}
