// The pipeline ceiling (Ce): what end to end is compared with. A plain nats.js publisher (one host,
// a Nats-Msg-Id per line, pipelined with every PubAck matched) and a plain pull consumer (AckAll,
// in a worker thread with its own connection) run together on the partition end to end uses,
// reading no file and writing none. So it is the server's own cost of storing, de-duplicating,
// acknowledging and delivering each line, plus the least a Node client can spend; shipper's agent
// and collector do the same and also read, write and save positions.
import { Worker } from "node:worker_threads";
import type { BenchContext } from "./main.js";
import { agentFormMsgIds, publishAcked, type LineSource } from "./acked-publisher.js";
import { CpuMeter, cpuOfPid, ownCpuSeconds } from "./cpu.js";
import { plainConsumerConfig } from "./plain-consume.js";
import { watchProgress } from "./progress.js";
import { partitionOf } from "../src/protocol/partition.js";
import { lineSubject } from "../src/protocol/subjects.js";
import { streamFor, consumerFor } from "../src/streams/layout.js";
import type { PlainConsumerDone, PlainConsumerJob } from "./plain-consumer-worker.js";

export const PIPELINE_CEILING_KEY = "ceiling.pipeline";

export interface PipelineCeilingRun {
  linesPerSecond: number;
  /** CPU per line of server and both clients (one process), from the first publish to the last line received. */
  cpuNote?: string;
}

/**
 * One run on a fresh stream: the fleet's first `count` lines under `host`'s subject, from the
 * first line received to the last. Uses the collector's durable consumer of that partition when `shipper
 * setup` made one (what end to end reads), else a consumer of its own with the same settings.
 */
export async function pipelineCeiling(ctx: BenchContext, host: string, count = ctx.fleet.count): Promise<PipelineCeilingRun> {
  const { bench, config, fleet } = ctx;
  await bench.resetStreams();
  const partition = partitionOf(host, config.partitions);
  const stream = streamFor(bench.layout, partition);
  let consumer = consumerFor(bench.layout, partition);
  let own = false;
  if (!(await bench.jsm.consumers.info(stream, consumer).catch(() => undefined))) {
    consumer = "BENCH_PIPELINE";
    await bench.jsm.consumers.add(stream, plainConsumerConfig(consumer));
    own = true;
  }
  const progress = new SharedArrayBuffer(4);
  const job: PlainConsumerJob = { url: bench.url, stream, consumer, count, progress };
  const worker = new Worker(new URL("./plain-consumer-worker.js", import.meta.url), { workerData: job });
  const failed = new Promise<never>((_, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the pipeline ceiling's consumer thread ended (code ${code}) before its last line`)));
  });
  const message = <T>() => Promise.race([new Promise<T>((resolve) => worker.once("message", resolve)), failed]);
  try {
    await message<"ready">();
    const done = message<PlainConsumerDone>();
    const subject = lineSubject(config.prefix, partition, host);
    const source: LineSource = { count, subject: () => subject, data: (i) => fleet.data(i) };
    const meter = new CpuMeter({ server: cpuOfPid(bench.server.pid ?? -1), clients: ownCpuSeconds });
    meter.start();
    const published = await publishAcked(bench.nc, source, { window: config.window, stallMs: config.stallMs, msgId: agentFormMsgIds([host]) });
    if (published.acked !== count || published.errors > 0 || published.duplicates > 0) {
      throw new Error(`the pipeline ceiling's publisher had ${published.acked} of ${count} lines acknowledged, ${published.errors} errors, ${published.duplicates} duplicates${published.firstError ? `: ${published.firstError}` : ""}`);
    }
    const counts = new Int32Array(progress);
    const p = await watchProgress({ read: () => Atomics.load(counts, 0), target: count, everyMs: 10, stallMs: config.stallMs });
    if (!p.reached) throw new Error(`the pipeline ceiling's consumer stalled at ${p.final} of ${count} lines`);
    const { firstAt, lastAt } = await done;
    const cpuNote = meter.note(count);
    return { linesPerSecond: count / ((lastAt - firstAt) / 1000), ...(cpuNote ? { cpuNote } : {}) };
  } finally {
    await worker.terminate();
    if (own) await bench.jsm.consumers.delete(stream, consumer).catch(() => undefined);
  }
}
