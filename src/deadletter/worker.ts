// The dead-letter worker (Part 9): reads the max-deliveries and terminated advisories that
// SHIPPER_ADVISORIES kept, through the deployment's durable consumer, and copies each message
// one of the deployment's collector consumers gave up on into SHIPPER_DLQ (copy.ts). Because the
// advisories are in a stream, a worker that was down catches up when it starts again; several
// workers (one per collector) share the durable, so each advisory is handled once.
//
// An advisory is acknowledged only after its dead letter is stored (or found already stored, or
// recorded as lost); a failed attempt is tried again after a delay, forever, and counted.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../shared/log.js";
import { consumerFor, partitionIds, streamFor, type Layout } from "../streams/layout.js";
import { parseAdvisory, type DeadLetterAdvisory } from "./advisory.js";
import { copyDeadLetter } from "./copy.js";
import { newDeadLetterCounters, type DeadLetterCounters } from "./counters.js";
import { ADVISORY_STREAM, DLQ_STREAM, workerConsumerFor } from "./names.js";

export interface DeadLetterWorkerOptions {
  /** Wait before trying a failed copy again, and between looks for a missing consumer. */
  retryDelayMs?: number;
  /**
   * Say "not set up" at info level rather than as a warning: for a worker inside another program
   * (the collector), where a deployment set up with --no-dead-letters is a choice, not a fault.
   */
  quietWhenMissing?: boolean;
}

export interface DeadLetterWorker {
  readonly counters: DeadLetterCounters;
  /** Resolves once the worker reads its consumer (it waits while `shipper setup` has not made it). */
  readonly reading: Promise<void>;
  /** Finishes the advisory in hand, stops reading and logs the counts. */
  stop(): Promise<void>;
}

/**
 * Starts the worker of one deployment on an open connection (the collector's, or `shipper dlq
 * worker`'s). It never throws: problems are logged and retried until `stop()`.
 */
export function startDeadLetterWorker(nc: NatsConnection, layout: Layout, log: Logger, opts: DeadLetterWorkerOptions = {}): DeadLetterWorker {
  const worker = new Worker(nc, layout, log, opts.retryDelayMs ?? 5_000, opts.quietWhenMissing === true);
  worker.start();
  return worker;
}

/** `<stream> <consumer>` of every collector consumer of the layout: the advisories this worker owns. */
function ownedConsumers(layout: Layout): Set<string> {
  return new Set(partitionIds(layout).map((p) => `${streamFor(layout, p)} ${consumerFor(layout, p)}`));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

class Worker implements DeadLetterWorker {
  readonly counters = newDeadLetterCounters();
  readonly reading: Promise<void>;
  private markReading!: () => void;
  private readonly durable: string;
  private readonly owned: Set<string>;
  private readonly stopping = new AbortController();
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly layout: Layout,
    private readonly log: Logger,
    private readonly retryDelayMs: number,
    private readonly quietWhenMissing: boolean,
  ) {
    this.durable = workerConsumerFor(layout);
    this.owned = ownedConsumers(layout);
    this.reading = new Promise((resolve) => (this.markReading = resolve));
  }

  start(): void {
    this.loop = this.run().catch((err) => this.log.error(`dead-letter worker stopped by an unexpected error: ${(err as Error).stack ?? err}`));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.messages?.stop();
    await this.loop;
    const c = this.counters;
    this.log.info(
      `dead-letter worker stopped: ${plural(c.stored, "dead letter")} stored, ${c.alreadyStored} already stored, ` +
        `${c.lost} lost before they could be copied, ${c.otherConsumers} advisories of other consumers skipped, ` +
        `${c.malformed} malformed, ${plural(c.failedAttempts, "failed attempt")} retried`,
    );
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const js = jetstream(this.nc);
    const jsm = await jetstreamManager(this.nc);
    let warned = false;
    while (!this.stopped) {
      let messages: ConsumerMessages;
      try {
        const consumer = await js.consumers.get(ADVISORY_STREAM, this.durable);
        // Ends when the consumer or its stream is deleted, so the loop finds it again once
        // setup made it again (the default would wait for missed heartbeats first).
        messages = await consumer.consume({ max_messages: 100, abort_on_missing_resource: true });
      } catch (err) {
        if (!warned) {
          this.log[this.quietWhenMissing ? "info" : "warn"](
            `dead-letter worker: cannot read consumer ${this.durable} of stream ${ADVISORY_STREAM} (${(err as Error).message}); ` +
              `run \`shipper setup\` to create the dead-letter store; while ${ADVISORY_STREAM} exists, the advisories wait there. Looking again every ${this.retryDelayMs / 1000}s`,
          );
          warned = true;
        }
        await this.pause();
        continue;
      }
      this.messages = messages;
      if (this.stopped) messages.stop();
      this.log.info(
        `dead-letter worker: copying the lines the collector consumers of ${describeStreams(this.layout)} give up on into ${DLQ_STREAM} (advisories from ${ADVISORY_STREAM} > ${this.durable})`,
      );
      this.markReading();
      try {
        for await (const m of messages) {
          await this.handle(js, jsm, m);
        }
      } catch (err) {
        // The consumer was deleted or the stream went away under us: look for it again.
        if (this.stopped) break;
        this.log.warn(`dead-letter worker: reading ${ADVISORY_STREAM} > ${this.durable} stopped (${(err as Error).message}); looking for it again`);
        warned = false;
      }
    }
    this.markReading(); // stopped before it ever read: nobody should wait for it
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.retryDelayMs);
      const signal = this.stopping.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private async handle(js: ReturnType<typeof jetstream>, jsm: Awaited<ReturnType<typeof jetstreamManager>>, m: JsMsg): Promise<void> {
    const adv = parseAdvisory(m.data);
    if ("invalid" in adv) {
      this.counters.malformed++;
      this.log.warn(`dead-letter worker: skipped ${ADVISORY_STREAM} message ${m.seq} on "${m.subject}": not a dead-letter advisory (${adv.invalid})`);
      m.ack();
      return;
    }
    if (!this.owned.has(`${adv.stream} ${adv.consumer}`)) {
      this.counters.otherConsumers++;
      this.log.debug(`dead-letter worker: advisory of ${adv.stream} > ${adv.consumer} belongs to no collector of this deployment; skipped`);
      m.ack();
      return;
    }
    const what = describeAdvisory(adv);
    try {
      const out = await copyDeadLetter(js, jsm, adv);
      switch (out.kind) {
        case "stored":
          this.counters.stored++;
          this.log.warn(`dead letter: ${what}; copied to ${DLQ_STREAM} #${out.dlqSeq} (${out.size} bytes; \`shipper dlq show ${out.dlqSeq}\`)`);
          break;
        case "already-stored":
          this.counters.alreadyStored++;
          this.log.info(`dead letter: ${what}; already in ${DLQ_STREAM} as #${out.dlqSeq} (repeated advisory), not stored again`);
          break;
        case "lost":
          this.counters.lost++;
          this.log.error(`dead letter LOST: ${what}, but ${out.why}, so its line could not be copied; recorded without the line as ${DLQ_STREAM} #${out.dlqSeq}`);
          break;
      }
      m.ack();
    } catch (err) {
      this.counters.failedAttempts++;
      this.log.warn(`dead-letter worker: could not copy ${what} (${(err as Error).message}); trying again in ${this.retryDelayMs / 1000}s`);
      m.nak(this.retryDelayMs);
    }
  }
}

function describeAdvisory(a: DeadLetterAdvisory): string {
  const how = a.reason === "terminated" ? "terminated" : "gave up after the last allowed delivery";
  return `message ${a.stream}#${a.streamSeq}: consumer ${a.consumer} ${how} (${a.deliveries} ${a.deliveries === 1 ? "delivery" : "deliveries"})`;
}

function describeStreams(layout: Layout): string {
  const names = [...new Set(partitionIds(layout).map((p) => streamFor(layout, p)))];
  return names.length === 1 ? `stream ${names[0]}` : `streams ${names[0]}..${names[names.length - 1]}`;
}
