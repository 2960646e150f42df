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
// - on stop, asks for nothing more and lets open pull requests finish while lines still flow,
//   so everything the server sent is received, written and acknowledged before it exits.
// Pull requests are flow-controlled (puller.ts), so memory stays bounded however large the backlog.
import { AckPolicy, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { delay } from "./delay.js";
import type { MessageBatch, PartitionReader } from "./partition-reader.js";
import { Puller, type PulledLine, type ReadAheadBudget } from "./puller.js";
import type { LineChunk } from "./arrived-lines.js";
import { BatchReplies } from "./batch-replies.js";
import type { InFlightBytes } from "./in-flight-bytes.js";
import { JetStreamSource, type StreamSource } from "./stream-gap.js";

export const DEFAULT_MAX_BATCH = 10_000;
/** 10 ms: at 100k lines/s end to end, collector CPU 5.4-5.8 -> 4.1 us a line, p99 latency 12-14 -> 19 ms. */
export const DEFAULT_LINGER_MS = 10;
const DEFAULT_ACK_WAIT_MS = 30_000;
/** Slack after the ack wait before the server is expected to have queued redeliveries. */
const REDELIVERY_MARGIN_MS = 1_000;
const ACK = new TextEncoder().encode("+ACK");
const WORKING = new TextEncoder().encode("+WPI");

export interface PullReaderOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  consumer: string;
  partition: number;
  log: Logger;
  /**
   * Most messages per batch (default 10,000, lowered to the consumer's max ack pending). At most
   * about two batches of this partition are in memory at once: the one being written, and one
   * batch's worth requested or waiting, asked for in quarter-batch pull requests.
   */
  maxBatch?: number;
  /** How long a small batch waits for more while lines keep coming (message-queue.ts); 0: not at all. */
  lingerMs?: number;
  /** Called when a gap in delivery sequences is found (for counters). */
  onGap?: (missing: number) => void;
  /** The consumer's filter subject (empty: the whole stream), to read skipped lines from the stream. */
  filter?: string;
  /** Lines in memory shared with the collector's other partitions (puller.ts); without it, per partition. */
  readAhead?: ReadAheadBudget;
  /** Bytes the collector's pull requests may have in flight (in-flight-bytes.ts). */
  inFlight?: InFlightBytes;
}

export class PullReader implements PartitionReader {
  readonly partition: number;
  readonly source: string;
  private stopping = false;
  private readonly stopped = new AbortController();
  private puller?: Puller;
  readonly streamSource: JetStreamSource;

  constructor(private readonly opts: PullReaderOptions) {
    this.partition = opts.partition;
    this.source = `${opts.stream} > ${opts.consumer}`;
    this.streamSource = new JetStreamSource(opts.nc, opts.stream, opts.filter ?? "");
  }

  async *batches(): AsyncGenerator<MessageBatch> {
    const { nc, jsm, stream, consumer, log } = this.opts;
    const info = await jsm.consumers.info(stream, consumer);
    const policy = info.config.ack_policy;
    if (policy === AckPolicy.None) {
      log.warn(`${this.source} has ack policy "none": lines delivered while the collector fails are lost; use \`shipper setup\` consumers`);
    }
    const ackWaitMs = info.config.ack_wait ? info.config.ack_wait / 1e6 : DEFAULT_ACK_WAIT_MS;
    const maxPending = info.config.max_ack_pending && info.config.max_ack_pending > 0 ? info.config.max_ack_pending : Infinity;
    const maxBatch = Math.max(1, Math.min(this.opts.maxBatch ?? DEFAULT_MAX_BATCH, maxPending));
    if (policy !== AckPolicy.None) await this.waitForLeftovers(info, ackWaitMs);

    let created = (await jsm.streams.info(stream)).created;
    while (!this.stopping) {
      let expected = (await jsm.consumers.info(stream, consumer)).delivered.consumer_seq + 1;
      // A stream made again starts its sequences again: say so once. (A consumer's own creation
      // time changes when the server restarts, so it cannot tell.)
      const streamCreated = (await jsm.streams.info(stream)).created;
      let fresh = streamCreated !== created;
      created = streamCreated;
      this.streamSource.readCreated(streamCreated);
      const puller = new Puller({ nc, stream, consumer, log, source: this.source, budget: maxBatch, pullSize: Math.ceil(maxBatch / 4), shared: this.opts.readAhead, inFlight: this.opts.inFlight, terminable: policy !== AckPolicy.None, deliveredBefore: expected - 1 });
      this.puller = puller;
      puller.start();
      if (this.stopping) await puller.stop();
      let gap: { expected: number; got: number } | undefined;
      const linger = { ms: this.opts.lingerMs ?? 0, lines: Math.ceil(maxBatch / 2) };
      for await (const batch of puller.queue.batches(maxBatch, linger)) {
        puller.took(batch.length);
        puller.refill(); // the batch left the queue: ask for more while it is written
        const read: PulledLine[] = [];
        for (const m of batch) {
          if (m.deliverySequence < 0) throw new Error(`${this.source}: cannot read the delivery of ${m.subject} from its reply subject "${m.reply}"`);
          if (policy !== AckPolicy.None && m.deliverySequence !== expected) {
            gap = { expected, got: m.deliverySequence };
            break;
          }
          expected++;
          read.push(m);
        }
        // The pulled records are not needed any more; the queue's generator still holds this array.
        const taken = batch.length;
        batch.length = 0;
        if (read.length > 0) {
          yield this.toBatch(read, policy, fresh, puller, taken);
          fresh = false;
        } else puller.release(taken);
        if (gap) break;
      }
      if (!gap) return; // stopped, or the subscription ended
      // Nothing after the gap is written or acknowledged; the server sends all of it again.
      await puller.abandon();
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
    await this.puller?.stop();
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

  /**
   * Once the writer has routed its lines (routed()), the batch keeps only its reply subjects,
   * which its acknowledgement and "in progress" need (copied into one buffer: a string a line,
   * kept until the acknowledgement, outlived the young generation), and which chunks its lines'
   * bytes are in (released once written, so the chunks are reused). The line objects are garbage
   * from then on. (The array handed out is emptied: this generator's frame holds it too.)
   */
  private toBatch(lines: PulledLine[], policy: AckPolicy, fresh: boolean, puller: Puller, taken: number): MessageBatch {
    const { nc } = this.opts;
    let replies: BatchReplies | undefined;
    let chunks: [LineChunk, number][] | undefined;
    const routed = () => {
      if (replies) return;
      replies = new BatchReplies(policy === AckPolicy.None ? [] : lines);
      chunks = chunkRuns(lines);
      lines.length = 0;
    };
    let done = false;
    return {
      messages: lines,
      fresh,
      routed,
      written: () => {
        if (done) return;
        done = true;
        routed();
        for (const [chunk, n] of chunks!) chunk.release(n);
        chunks = undefined;
        puller.release(taken);
      },
      ack: async () => {
        routed();
        // AckAll acknowledges with the last reply; "in progress" (+WPI) still goes to every message.
        if (policy === AckPolicy.All) {
          const last = replies!.last();
          if (last) nc.publish(last, ACK);
        } else if (policy === AckPolicy.Explicit) replies!.each((r) => nc.publish(r, ACK));
        replies!.release();
      },
      working: () => {
        routed();
        if (policy !== AckPolicy.None) replies!.each((r) => nc.publish(r, WORKING));
      },
    };
  }
}

/** The chunks of consecutive lines, with how many lines each holds (lines come in chunk order). */
function chunkRuns(lines: readonly PulledLine[]): [LineChunk, number][] {
  const runs: [LineChunk, number][] = [];
  let last: [LineChunk, number] | undefined;
  for (const l of lines) {
    if (last && last[0] === l.chunk) last[1]++;
    else runs.push((last = [l.chunk, 1]));
  }
  return runs;
}
