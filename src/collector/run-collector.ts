// Starts a collector from its settings: connect (with visible retries), learn the deployment's
// layout, choose partitions, build one reader per partition (pull consumers, or the article's
// push delivery subjects), and run until stopped.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError } from "../config/errors.js";
import { SubjectParser } from "../protocol/subjects.js";
import { connectWithRetry } from "../shared/connect.js";
import type { Logger } from "../shared/log.js";
import { consumerFor, streamFor, type Layout } from "../streams/layout.js";
import { readLayoutRecord } from "../streams/layout-record.js";
import { Collector } from "./collector.js";
import type { CollectorConfig } from "./config.js";
import { newCounters } from "./counters.js";
import { FileSink } from "./file-sink.js";
import { nodeSinkFileSystemWith } from "./sink-fs.js";
import type { PartitionReader } from "./partition-reader.js";
import { choosePartitions } from "./partitions.js";
import { PullReader } from "./pull-reader.js";
import { ReadAheadBudget } from "./puller.js";
import { InFlightBytes } from "./in-flight-bytes.js";
import { PushReader } from "./push-reader.js";
import { Quarantine } from "./quarantine.js";
import { cutBackUnsavedWrites, PartitionStateFile, type PartitionStateData } from "./partition-state.js";
import { PartitionJournal } from "./partition-journal.js";
import { replayJournal } from "./journal-replay.js";
import { startDeadLetterWorker } from "../deadletter/worker.js";
import { tuneCompiler } from "../shared/compiler-tuning.js";
import { steerHeapGrowth } from "./heap-growth.js";

export async function runCollector(config: CollectorConfig, signal: AbortSignal, log: Logger): Promise<Collector | undefined> {
  // Lines of a backlog outlive young-generation GCs, so the old generation grows by V8's factor
  // (up to 4x what is live) before a full GC; a lower growth keeps the peak down for some CPU.
  const heapGrowth = steerHeapGrowth(config.heapGrowthPercent ?? 0);
  tuneCompiler();
  let nc: NatsConnection;
  try {
    nc = await connectWithRetry(config.connection, log, signal);
  } catch (err) {
    heapGrowth.stop();
    if (signal.aborted) return undefined; // stopped while the server was away: nothing to finish
    throw err;
  }
  try {
    const recorded = await readLayoutRecord(nc, config.prefix);
    const partitions = choosePartitions(config.readPartitions, recorded);
    const counters = newCounters();
    const readers = config.streamTarget
      ? await pushReaders(nc, config, partitions, log)
      : await pullReaders(nc, config, recorded, partitions, log, (n) => (counters.deliveryGaps += n));
    // Saved partition states (pull readers: they can read skipped lines from the stream); files
    // are cut back to what was saved before anything is written.
    const states = new Map<number, { file: PartitionStateFile; data?: PartitionStateData; journal?: PartitionJournal }>();
    const journals: PartitionJournal[] = [];
    const journaled = config.fsync && config.journal;
    if (!config.streamTarget) {
      for (const partition of partitions) {
        const file = new PartitionStateFile(config.directory, partition, log);
        const journal = new PartitionJournal(config.directory, partition);
        const data = await recoverPartition(file, journal, journaled, log);
        if (data) await cutBackUnsavedWrites(data, log);
        if (journaled) journals.push(journal);
        states.set(partition, { file, ...(data ? { data } : {}), ...(journaled ? { journal } : {}) });
        if (data) log.info(`partition ${partition}: written through sequence ${data.sequence} of "${data.stream}" (${file.path})`);
      }
    }
    // Advisories of lines the consumers gave up on (max deliveries, terminated) become dead letters.
    const deadLetters = !config.streamTarget && recorded ? startDeadLetterWorker(nc, recorded, log, { quietWhenMissing: true }) : undefined;
    const collector = new Collector({
      readers,
      states,
      sink: new FileSink({
        directory: config.directory,
        output: config.output,
        log,
        fsync: config.fsync,
        // With a journal, a file closed by the open-file bound is fsynced at the next checkpoint.
        syncOnEvict: !journaled,
        maxOpenFiles: config.maxOpenFiles,
        ...(config.syncAppends ? {} : { fs: nodeSinkFileSystemWith(true) }),
      }),
      quarantine: new Quarantine({ directory: config.directory, log, fsync: config.fsync }),
      parser: new SubjectParser(config.prefix),
      log,
      counters,
      // Written and waiting to be made durable: at most one batch's worth per partition.
      maxWaitingLines: config.maxBatch,
    });
    log.info(
      `collector: reading partition${partitions.length > 1 ? "s" : ""} ${partitions.join(",")} of "${config.prefix}" from ${readers.map((r) => r.source).join(", ")}; writing to "${config.directory}"`,
    );
    try {
      if (!signal.aborted) await collector.run(signal);
    } finally {
      await deadLetters?.stop().catch((err: Error) => log.warn(`stopping the dead-letter worker: ${err.message}`));
      for (const journal of journals) await journal.close().catch(() => undefined);
    }
    const c = collector.counters;
    log.info(
      `collector stopped: ${c.linesWritten} lines (${c.bytesWritten} bytes) written in ${c.batches} batches, ${c.quarantined} quarantined, ${c.unparsable} with unparsable subjects, ${c.duplicatesSkipped} redelivered duplicates skipped, ${c.resendsSkipped} re-sent lines skipped, ${c.gapFilled} skipped lines read from the stream, ${c.linesLost} lost to stream limits, ${c.incompleteLines} incomplete split lines, ${c.writeErrors} write errors retried`,
    );
    return collector;
  } finally {
    // The last acknowledgements are plain publishes: make sure they left before closing.
    await nc.flush().catch(() => undefined);
    await nc.close();
    heapGrowth.stop();
  }
}

/**
 * The partition's saved state with its journal applied: records made since the last checkpoint
 * are written back into the host files, the state saved and the journal emptied (also when this
 * run keeps no journal: what an earlier run acknowledged must not be lost). With `journaled`, the
 * journal is then ready for this run's records.
 */
async function recoverPartition(file: PartitionStateFile, journal: PartitionJournal, journaled: boolean, log: Logger): Promise<PartitionStateData | undefined> {
  let data = await file.load();
  const found = await journal.read(file.saveCounter);
  const source = `partition ${file.partition}`;
  if (found.tornBytes > 0 && found.records.length + found.stale > 0) {
    log.warn(`${source}: the journal ends in ${found.tornBytes} bytes of a record cut short (the collector stopped while writing it); its lines were not acknowledged and come again`);
  }
  const replayed = await replayJournal(data, found.records, log, source);
  if (replayed) {
    data = replayed.data;
    log.info(`${source}: replayed ${found.records.length} journal record(s) since the last checkpoint: ${replayed.bytes} bytes written back into ${replayed.files} file(s), written through sequence ${data.sequence}`);
  }
  if (found.bytes > 0 && data) await file.save(data);
  if (found.bytes > 0 || journaled) await journal.start(file.saveCounter);
  if (!journaled) await journal.close();
  return data;
}

async function pullReaders(
  nc: NatsConnection,
  config: CollectorConfig,
  recorded: Layout | undefined,
  partitions: number[],
  log: Logger,
  onGap: (missing: number) => void,
): Promise<PartitionReader[]> {
  const layout: Layout = recorded ?? {
    version: 1,
    prefix: config.prefix,
    partitions: 0,
    kind: "per-partition",
    stream: config.stream,
    consumer: config.consumer,
  };
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    throw new ConfigError(`JetStream is not available at ${nc.getServer()} (${(err as Error).message}); enable JetStream on the server`);
  }
  const readers: PartitionReader[] = [];
  // --read-ahead: lines in memory (read ahead or being written) of all partitions together, not two
  // batches per partition; partitions take turns. Costs throughput with many hosts (smaller turns).
  const readAhead = config.readAhead ? new ReadAheadBudget(config.readAhead) : undefined;
  const inFlight = new InFlightBytes();
  for (const partition of partitions) {
    const stream = streamFor(layout, partition);
    const consumer = consumerFor(layout, partition);
    let info;
    try {
      info = await jsm.consumers.info(stream, consumer);
    } catch (err) {
      const where = recorded ? `the layout recorded for "${config.prefix}"` : `no layout is recorded for "${config.prefix}", so the default`;
      throw new ConfigError(
        `partition ${partition}: ${where} names consumer "${consumer}" on stream "${stream}", which cannot be read (${(err as Error).message}); run \`shipper setup\` first, or set SHIPPER_STREAM_TARGET to read push consumers made by hand as in Part 8`,
      );
    }
    if (info.config.deliver_subject) {
      throw new ConfigError(
        `partition ${partition}: "${consumer}" on stream "${stream}" is a push consumer delivering to "${info.config.deliver_subject}"; set SHIPPER_STREAM_TARGET to its delivery prefix to read it`,
      );
    }
    readers.push(
      new PullReader({ nc, jsm, stream, consumer, partition, log, maxBatch: config.maxBatch, lingerMs: config.lingerMs, onGap, filter: info.config.filter_subject ?? "", readAhead, inFlight }),
    );
  }
  return readers;
}

async function pushReaders(nc: NatsConnection, config: CollectorConfig, partitions: number[], log: Logger): Promise<PartitionReader[]> {
  let jsm: JetStreamManager | undefined;
  try {
    jsm = await jetstreamManager(nc);
  } catch (err) {
    log.warn(`cannot use the JetStream API (${(err as Error).message}); every pushed line with a reply will be acknowledged`);
  }
  return partitions.map(
    (partition) => new PushReader({ nc, jsm, target: config.streamTarget!, partition, log, maxBatch: config.maxBatch }),
  );
}
