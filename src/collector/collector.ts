// The collector: one loop per partition reader, each taking a batch, writing it through the sink
// (quarantining what must not become a path), flushing, and only then acknowledging it.
// Stopping: readers stop fetching and hand out what the server already sent; every loop finishes
// its write and acknowledges it; then every file is closed.
import type { SubjectParser } from "../protocol/subjects.js";
import type { Logger } from "../shared/log.js";
import { BatchWriter, type RetryPolicy } from "./batch-writer.js";
import { newCounters, type CollectorCounters } from "./counters.js";
import type { LineSink } from "./line-sink.js";
import type { PartitionReader } from "./partition-reader.js";
import type { Quarantine } from "./quarantine.js";
import type { PartitionStateData, PartitionStateFile } from "./partition-state.js";

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
  states?: ReadonlyMap<number, { file: PartitionStateFile; data?: PartitionStateData }>;
  /** Shared with the readers when they count too (delivery gaps); fresh by default. */
  counters?: CollectorCounters;
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
    const { sink, quarantine, parser, log, retry } = this.parts;
    const state = this.parts.states?.get(reader.partition);
    const writer = new BatchWriter({
      sink,
      quarantine,
      parser,
      counters: this.counters,
      log,
      source: reader.source,
      retry,
      ...(state ? { state, streamSource: reader.streamSource } : {}),
    });
    try {
      for await (const batch of reader.batches()) {
        if (!(await writer.write(batch, signal))) return; // stopped mid-retry: unacknowledged, so redelivered
        await batch.ack();
      }
    } catch (err) {
      // One partition failing stops the others: a collector half-running is worse than a clear exit.
      if (!signal.aborted) for (const r of this.parts.readers) void r.stop().catch(() => undefined);
      throw new Error(`${reader.source}: ${(err as Error).message}`, { cause: err });
    }
    if (!signal.aborted) {
      for (const r of this.parts.readers) void r.stop().catch(() => undefined);
      throw new Error(`${reader.source} stopped delivering (connection closed?)`);
    }
  }
}
