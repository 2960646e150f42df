// The collector: one loop per partition reader, each taking a batch, writing it through the sink
// (quarantining what must not become a path), flushing, saving the partition state, and only then
// acknowledging it. Pipelined per partition: the next batch is written while the one before is
// made durable and acknowledged, and acknowledgements keep delivery order (batch-writer.ts).
// Stopping: readers stop fetching and hand out what the server already sent; every loop writes
// it, makes it durable and acknowledges it; then every file is closed.
import { setMaxListeners } from "node:events";
import type { SubjectParser } from "../protocol/subjects.js";
import type { Logger } from "../shared/log.js";
import { BatchWriter } from "./batch-writer.js";
import type { RetryPolicy } from "./retry-in-place.js";
import { newCounters, type CollectorCounters } from "./counters.js";
import type { LineSink } from "./line-sink.js";
import type { PartitionReader } from "./partition-reader.js";
import type { Quarantine } from "./quarantine.js";
import type { PartitionStateData, PartitionStateFile } from "./partition-state.js";
import type { PartitionJournal } from "./partition-journal.js";

export interface CollectorParts {
  readers: readonly PartitionReader[];
  sink: LineSink;
  quarantine: Quarantine;
  parser: SubjectParser;
  log: Logger;
  retry?: RetryPolicy;
  /**
   * Saved state per partition (exactly once across restarts), loaded and applied to the files
   * (cutBackUnsavedWrites) before the run. Partitions without one de-duplicate in memory only.
   */
  states?: ReadonlyMap<number, { file: PartitionStateFile; data?: PartitionStateData; journal?: PartitionJournal }>;
  /** Shared with the readers when they count too (delivery gaps); fresh by default. */
  counters?: CollectorCounters;
  /** Lines per partition written and waiting while earlier ones are made durable (default 10,000). */
  maxWaitingLines?: number;
}

export class Collector {
  readonly counters: CollectorCounters;

  constructor(private readonly parts: CollectorParts) {
    this.counters = parts.counters ?? newCounters();
  }

  /**
   * Runs until `signal` aborts (resolves after a clean stop) or a reader fails (rejects, after
   * closing the files). Files are closed in both cases.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { readers, sink, quarantine, log } = this.parts;
    const stopAll = () => {
      for (const r of readers) void r.stop().catch((err: Error) => log.warn(`stopping ${r.source}: ${err.message}`));
    };
    // Each partition loop listens too (one listener each, removed when it ends): many partitions
    // are expected, not a leak, so Node's warning past 10 listeners would only mislead operators.
    setMaxListeners(readers.length + 10, signal);
    signal.addEventListener("abort", stopAll, { once: true });
    let failure: unknown;
    try {
      const results = await Promise.allSettled(readers.map((r) => this.runPartition(r, signal)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) failure = failed.reason;
    } finally {
      signal.removeEventListener("abort", stopAll);
      stopAll();
      try {
        await sink.close();
        await quarantine.close();
      } catch (err) {
        log.error(`closing the output files: ${(err as Error).message}`);
        failure ??= err;
      }
    }
    if (failure) throw failure;
  }

  private async runPartition(reader: PartitionReader, signal: AbortSignal): Promise<void> {
    const { sink, quarantine, parser, log, retry, maxWaitingLines } = this.parts;
    const state = this.parts.states?.get(reader.partition);
    // Stops this partition's retries when its reader fails, as well as on shutdown.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const writer = new BatchWriter({
      sink,
      quarantine,
      parser,
      counters: this.counters,
      log,
      source: reader.source,
      retry,
      maxWaitingLines,
      ...(state ? { state, streamSource: reader.streamSource } : {}),
    });
    try {
      for await (const batch of reader.batches()) {
        // Written, and queued to be made durable and acknowledged behind the batches before it.
        if (!(await writer.pipeline(batch, stop.signal))) {
          await writer.drain(); // the batch before may still finish (stopped: its retries end at once)
          return; // stopped mid-retry: unacknowledged, so redelivered
        }
      }
      // Everything received is written: make it durable and acknowledge it before stopping (and
      // with a journal, checkpoint it, so the next start has nothing to replay).
      if (!(await writer.close())) return;
    } catch (err) {
      // One partition failing stops the others: a collector half-running is worse than a clear exit.
      if (!signal.aborted) for (const r of this.parts.readers) void r.stop().catch(() => undefined);
      stop.abort();
      await writer.drain().catch(() => undefined); // nothing of this partition runs on once it has failed
      throw new Error(`${reader.source}: ${(err as Error).message}`, { cause: err });
    } finally {
      signal.removeEventListener("abort", onAbort);
      writer.dispose();
    }
    if (!signal.aborted) {
      for (const r of this.parts.readers) void r.stop().catch(() => undefined);
      throw new Error(`${reader.source} stopped delivering (connection closed?)`);
    }
  }
}
