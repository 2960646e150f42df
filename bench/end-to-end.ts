// End to end: one agent and one collector running together, from the first line read (first line
// stored in the stream) to the last line written in the host's output file.
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { writeHostLog } from "./workload.js";
import { startAgent, startCollector, type RunningShipper } from "./shipper.js";
import { OutputTree, watchProgress } from "./progress.js";
import { repeat, log, sleep, perRunNotes } from "./repeat.js";
import { median } from "./stats.js";
import { skipAll, guarded, type Figure } from "./results.js";
import { runHost, storedIn, agentNotes } from "./agent.js";
import { ONE_HOST_CEILING_KEY } from "./ceiling.js";
import { BATCH_ARGS, BATCH_LINES, agentBatches } from "./batched.js";
import { stallReport } from "./collector.js";
import { partitionIds, streamFor, consumerFor } from "../src/streams/layout.js";
import { CpuMeter, cpuOfPid } from "./cpu.js";
import { PIPELINE_CEILING_KEY, pipelineCeiling, type PipelineCeilingRun } from "./pipeline-ceiling.js";

const GROUP = "End to end";
/** Lines of the pipeline ceiling's warm-up run. */
const WARM_UP_LINES = 50_000;

/** Waits until the collector has a pull request waiting on every partition (it is ready), or a few seconds. */
export async function collectorReady(ctx: BenchContext, collector: RunningShipper): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    collector.assertRunning("shipper collector");
    let waiting = 0;
    for (const p of partitionIds(ctx.bench.layout)) {
      const info = await ctx.bench.jsm.consumers.info(streamFor(ctx.bench.layout, p), consumerFor(ctx.bench.layout, p)).catch(() => undefined);
      if (info && info.num_waiting > 0) waiting++;
    }
    if (waiting === partitionIds(ctx.bench.layout).length) return;
    await sleep(50);
  }
}

export interface PipelineRun {
  linesPerSecond: number;
  agentPeakMB: number;
  collectorPeakMB: number;
  /** CPU per line of server, agent and collector, when /proc tells. */
  cpuNote?: string;
}

/** One agent and one collector on a fresh file; `agentArgs` are added to the agent's flags (batching). */
export async function runPipeline(ctx: BenchContext, name: string, run: number, agentArgs: string[] = [], host = runHost("e2e", run)): Promise<PipelineRun> {
  const { config } = ctx;
  await ctx.bench.resetStreams();
  const dir = ctx.workDir(name);
  const file = join(dir, "syslog");
  const bytes = await writeHostLog(file, host, config.lines, run + 1);
  const out = join(dir, "out");
  const tree = new OutputTree(out, 1);
  const stored = storedIn(ctx, host);
  const collector = startCollector({ url: ctx.bench.url, config, directory: out, logFile: join(dir, "collector.log") });
  let agent: RunningShipper | undefined;
  try {
    await collectorReady(ctx, collector);
    agent = startAgent({ url: ctx.bench.url, config, file, host, logFile: join(dir, "agent.log"), extraArgs: agentArgs });
    const alive = () => {
      agent!.assertRunning("shipper agent");
      collector.assertRunning("shipper collector");
    };
    // First line read: the first line the stream holds.
    let firstAt = Number.NaN;
    // CPU of all three over the same span: on two cores their sum per line bounds the rate.
    const cpu = new CpuMeter({ server: cpuOfPid(ctx.bench.server.pid ?? -1), agent: cpuOfPid(agent.pid), collector: cpuOfPid(collector.pid) });
    const p = await watchProgress({
      read: async () => {
        if (Number.isNaN(firstAt) && (await stored()) > 0) {
          firstAt = performance.now();
          cpu.start();
        }
        return tree.bytes();
      },
      target: bytes, everyMs: 25, stallMs: config.stallMs, check: alive,
    });
    if (!p.reached) throw new Error(`end to end stalled at ${p.final} of ${bytes} bytes written, ${await stored()} lines stored; ${await stallReport(ctx)}`);
    return {
      linesPerSecond: config.lines / ((p.doneAt - firstAt) / 1000),
      agentPeakMB: agent.peakMB(),
      collectorPeakMB: collector.peakMB(),
      cpuNote: cpu.note(config.lines),
    };
  } finally {
    for (const [what, proc] of [["agent", agent], ["collector", collector]] as const) {
      const code = await proc?.stop();
      if (code !== undefined && code !== 0) log(`${what} exited with code ${code}; log in ${dir}`);
    }
  }
}

export async function measureEndToEnd(ctx: BenchContext): Promise<Figure[]> {
  const ceiling = {
    key: PIPELINE_CEILING_KEY, label: "plain publisher (ids, one host) and plain pull consumer (AckAll) together, no files", group: GROUP,
    unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY,
  };
  const base = { key: "end_to_end.throughput", label: "agent + collector together, first line read to last written", group: GROUP, unit: "lines/s" as const, ceiling: PIPELINE_CEILING_KEY, target: ">= 100,000 lines/s" };
  const batched = {
    key: "end_to_end.batched_throughput", label: `the same with batching (agent --batch-lines ${BATCH_LINES}, split by the collector)`, group: GROUP,
    unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY, target: ">= 100,000 lines/s",
  };
  const missing = ctx.shipper.missing("agent") ?? ctx.shipper.missing("collector");
  if (missing) return skipAll([ceiling, base, batched], missing);
  const figures = await guarded([ceiling, base], async () => {
    log(`end to end: ${ctx.config.lines} lines, ${ctx.config.runs} run(s), each after the pipeline ceiling on the same partition`);
    const agentPeaks: number[] = [];
    const collectorPeaks: number[] = [];
    const ceilings: PipelineCeilingRun[] = [];
    // A short run first, as the other ceilings have: the publisher's and the consumer thread's
    // code is compiled before it is timed.
    await pipelineCeiling(ctx, runHost("e2e-warm-up", 0), Math.min(ctx.fleet.count, WARM_UP_LINES));
    const result = await repeat(ctx.config.runs, async (run) => {
      // The ceiling just before, on the same partition: the pair's ratio is what this machine's
      // load at the moment leaves out.
      const host = runHost("e2e", run);
      const c = await pipelineCeiling(ctx, host);
      ceilings.push(c);
      const r = await runPipeline(ctx, `end-to-end-r${run}`, run, [], host);
      agentPeaks.push(r.agentPeakMB);
      collectorPeaks.push(r.collectorPeakMB);
      const ratio = `${(r.linesPerSecond / c.linesPerSecond).toFixed(2)} of the ceiling run just before`;
      return { value: r.linesPerSecond, notes: [ratio, ...(r.cpuNote ? [r.cpuNote] : [])] };
    });
    ctx.observed.set("pipeline.agent_peak_rss", Math.max(...agentPeaks));
    ctx.observed.set("pipeline.collector_peak_rss", Math.max(...collectorPeaks));
    const values = ceilings.map((c) => c.linesPerSecond);
    return [
      { ...ceiling, value: median(values), runs: values, notes: perRunNotes(ceilings.map((c) => c.cpuNote)) },
      { ...base, value: result.value, runs: result.runs, notes: [...agentNotes(ctx), ...result.notes] },
    ];
  }, ctx.failed);
  if (!agentBatches(ctx.shipper.agentHelp)) return [...figures, ...skipAll([batched], "`shipper agent` has no --batch-lines in this build")];
  figures.push(...(await guarded([batched], async () => {
    log(`end to end with batching: ${ctx.config.lines} lines, ${ctx.config.runs} run(s)`);
    const peaks: number[] = [];
    const result = await repeat(ctx.config.runs, async (run) => {
      const r = await runPipeline(ctx, `end-to-end-batched-r${run}`, run, BATCH_ARGS);
      peaks.push(r.collectorPeakMB);
      return { value: r.linesPerSecond, notes: r.cpuNote ? [r.cpuNote] : [] };
    });
    const notes = [...agentNotes(ctx, BATCH_ARGS), ...result.notes, `collector peak resident memory ${Math.max(...peaks).toFixed(1)} MB`];
    return [{ ...batched, value: result.value, runs: result.runs, notes }];
  }, ctx.failed)));
  return figures;
}
