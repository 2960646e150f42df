// Collector throughput: lines already stored (many hosts, every partition) to per-host files,
// written and acknowledged, through the real `shipper collector`. The streams are pre-loaded with the
// fast acked publisher; the clock runs from the first line delivered to the last acknowledged, and the output
// files must then hold every line's bytes.
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import type { FleetLog } from "./workload.js";
import { agentFormMsgIds, publishAcked } from "./acked-publisher.js";
import { startCollector, type RunningShipper } from "./shipper.js";
import { OutputTree, watchProgress } from "./progress.js";
import { repeat, log } from "./repeat.js";
import { skipAll, guarded, type Figure } from "./results.js";
import { partitionIds, streamFor, consumerFor } from "../src/streams/layout.js";
import { ProcSampler } from "./proc-status.js";
import { CEILING_KEY } from "./ceiling.js";
import { consumeCeiling, consumeCeilingFigure, CONSUME_CEILING_KEY, type ConsumeCeilingRun } from "./consume-ceiling.js";
import { CpuMeter, cpuOfPid, kernelCpuOfPid } from "./cpu.js";
import { median } from "./stats.js";

const GROUP = "Collector";

/**
 * Stores the fleet's lines as agents do: each with a Nats-Msg-Id in the agent's form (an origin
 * per host, offsets growing in file order), so the collector does all its per-line work (header,
 * re-send check, saved origins), not the lighter work of lines without ids.
 */
export async function preload(ctx: BenchContext, fleet: FleetLog): Promise<void> {
  const r = await publishAcked(ctx.bench.nc, fleet, { window: ctx.config.window, stallMs: ctx.config.stallMs, msgId: agentFormMsgIds(fleet.hosts) });
  if (r.acked - r.errors !== fleet.count) {
    throw new Error(`pre-loading the streams failed: ${r.acked - r.errors} of ${fleet.count} stored (${r.firstError ?? "no error"})`);
  }
}

/** The collector's consumers summed over partitions: what is still to be delivered and acknowledged. */
export async function consumerState(ctx: BenchContext): Promise<{ pending: number; ackPending: number; redelivered: number; waiting: number; delivered: number }> {
  const sum = { pending: 0, ackPending: 0, redelivered: 0, waiting: 0, delivered: 0 };
  for (const p of partitionIds(ctx.bench.layout)) {
    const info = await ctx.bench.jsm.consumers.info(streamFor(ctx.bench.layout, p), consumerFor(ctx.bench.layout, p));
    sum.pending += info.num_pending;
    sum.ackPending += info.num_ack_pending;
    sum.redelivered += info.num_redelivered;
    sum.waiting += info.num_waiting;
    sum.delivered += info.delivered.consumer_seq;
  }
  return sum;
}

/** Lines the collector's consumers still hold: pending plus delivered and not acknowledged. */
export async function unfinished(ctx: BenchContext): Promise<number> {
  const s = await consumerState(ctx);
  return s.pending + s.ackPending;
}

/** Why a collector seems stuck, in the consumers' words, for the failure message. */
export async function stallReport(ctx: BenchContext): Promise<string> {
  const s = await consumerState(ctx).catch(() => undefined);
  const state = s ? `consumers: ${s.pending} pending, ${s.ackPending} unacknowledged, ${s.redelivered} redelivered, ${s.waiting} pull requests waiting` : "consumer state unavailable";
  // What the server said about its clients (a slow consumer cut off, say) explains most stalls.
  const said = ctx.bench.server.log.split("\n").filter((l) => /\[(ERR|WRN)\]|Slow Consumer/i.test(l));
  return said.length > 0 ? `${state}; server: ${said.slice(-3).map((l) => l.replace(/^.*?\] /, "")).join(" | ")}` : state;
}

/** The share of the backlog after which the warm rate is timed. */
const WARM_UP_SHARE = 0.25;

export interface CollectorRun {
  linesPerSecond: number;
  /** The rate from WARM_UP_SHARE of the backlog acknowledged to the end. */
  warmLinesPerSecond: number;
  peakMB: number;
  maxOpenFiles: number;
  hostsWritten: number;
  /** CPU per line of server and collector, as a note, when /proc tells. */
  cpuNote?: string;
  /** The same over the warm part of the run. */
  warmCpuNote?: string;
}

/** One collector pass over a pre-loaded fleet log; `afterPreload` runs on the loaded streams first. */
export async function collectFleet(ctx: BenchContext, fleet: FleetLog, name: string, extraArgs: string[] = [], afterPreload?: () => Promise<void>): Promise<CollectorRun> {
  await ctx.bench.resetStreams();
  const dir = ctx.workDir(name);
  await preload(ctx, fleet);
  await afterPreload?.();
  const out = join(dir, "out");
  const tree = new OutputTree(out, fleet.hosts.length);
  const collector: RunningShipper = startCollector({ url: ctx.bench.url, config: ctx.config, directory: out, logFile: join(dir, "collector.log"), extraArgs });
  const sampler = new ProcSampler(collector.pid, 200);
  let run: CollectorRun;
  try {
    // The clock starts when the first line is delivered to the collector, so reading ahead and
    // opening the hosts' files count (at the first bytes written, most of a small backlog was
    // already read), and stops when the last line is acknowledged. Progress is read from the
    // consumers (ten small requests a poll), not the output files' sizes: stat'ing every host's
    // file each poll cost the shared two cores more than a tenth of one with 1,000 hosts. A line
    // is acknowledged only once written and flushed, so the files are checked once at the end.
    // The collector's kernel share: on this machine's ext4 (no journal) creating a file or a
    // directory cost 0.05-0.5 ms of system CPU, depending on how many were deleted recently
    // (the inode allocator skips them), so 1,000 new hosts can cost the whole drain a second.
    const readers = { server: cpuOfPid(ctx.bench.server.pid ?? -1), collector: cpuOfPid(collector.pid) };
    const kernel = { collector: kernelCpuOfPid(collector.pid) };
    const cpu = new CpuMeter(readers, kernel);
    const warmCpu = new CpuMeter(readers, kernel);
    const started = await watchProgress({ read: async () => (await consumerState(ctx)).delivered, target: 1, everyMs: 5, stallMs: ctx.config.stallMs, check: () => collector.assertRunning("shipper collector") });
    if (!started.reached) throw new Error(`the collector read nothing; ${await stallReport(ctx)}`);
    cpu.start();
    const acknowledged = async () => fleet.count - (await unfinished(ctx));
    const watch = (target: number) => watchProgress({ read: acknowledged, target, everyMs: 25, stallMs: ctx.config.stallMs, check: () => collector.assertRunning("shipper collector") });
    // Also timed from a quarter of the backlog on: the rate once the collector's code is compiled
    // and its hosts' files are open, as a collector that has been running is.
    const warm = await watch(Math.ceil(fleet.count * WARM_UP_SHARE));
    warmCpu.start();
    const p = warm.reached ? await watch(fleet.count) : warm;
    if (!p.reached) throw new Error(`the collector stalled at ${p.final} of ${fleet.count} lines acknowledged; ${tree.bytes()} of ${fleet.outputBytes} bytes written; ${await stallReport(ctx)}`);
    const linesPerSecond = fleet.count / ((p.doneAt - started.doneAt) / 1000);
    const warmLinesPerSecond = (fleet.count - warm.final) / ((p.doneAt - warm.doneAt) / 1000);
    const cpuNote = cpu.note(fleet.count);
    const warmCpuNote = warmCpu.note(fleet.count - warm.final);
    let bytes = tree.bytes();
    if (bytes !== fleet.outputBytes) bytes = tree.bytes(); // unchanged: host directories are listed again
    if (bytes !== fleet.outputBytes) {
      throw new Error(`every line was acknowledged but the output files hold ${bytes} of ${fleet.outputBytes} bytes: lines acknowledged unwritten (or written twice); see ${dir}`);
    }
    sampler.sample();
    run = {
      linesPerSecond,
      warmLinesPerSecond,
      peakMB: collector.peakMB(),
      maxOpenFiles: sampler.maxOpenFiles,
      hostsWritten: tree.hostCount,
      ...(cpuNote ? { cpuNote } : {}),
      ...(warmCpuNote ? { warmCpuNote } : {}),
    };
  } finally {
    sampler.stop();
    const code = await collector.stop();
    if (code !== 0) log(`collector exited with code ${code}; log in ${dir}`);
  }
  // The peak includes the clean stop (its last checkpoint fsyncs and saves every partition).
  return { ...run, peakMB: Math.max(run.peakMB, collector.peakAtStopMB || 0) };
}

export async function measureCollector(ctx: BenchContext): Promise<Figure[]> {
  const base = { key: "collector.throughput", label: `stored lines to per-host files, acked (${ctx.fleet.hosts.length} hosts)`, group: GROUP, unit: "lines/s" as const, ceiling: CONSUME_CEILING_KEY, target: ">= 200,000 lines/s" };
  // The same runs timed from a quarter of the backlog on, as a collector that has been running
  // works: its code compiled by V8 and its hosts' files open (the whole drain counts both).
  const warm = { key: "collector.throughput_warm", label: `the same, timed after the first ${WARM_UP_SHARE * 100}% of the lines (warm)`, group: GROUP, unit: "lines/s" as const, target: ">= 200,000 lines/s" };
  const peak = { key: "collector.peak_rss", label: "collector peak resident memory (VmHWM)", group: GROUP, unit: "MB" as const, target: "<= 200 MB" };
  const missing = ctx.shipper.missing("collector");
  if (missing) return skipAll([base, warm, peak], missing);
  const consumeBase = { key: CONSUME_CEILING_KEY, label: "pull consume, AckAll, no writing", group: GROUP, unit: "lines/s" as const };
  return await guarded([consumeBase, base, warm, peak], async () => {
    log(`collector: ${ctx.fleet.count} lines of ${ctx.fleet.hosts.length} hosts, ${ctx.config.runs} run(s), each after the consume ceiling on the same pre-loaded lines`);
    const peaks: number[] = [];
    const warmRuns: number[] = [];
    const warmNotes: string[] = [];
    // The consume ceiling reads the same pre-loaded streams just before each collector run; a
    // failure there is reported on its figure and leaves the collector run alone.
    const consumeRuns: ConsumeCeilingRun[] = [];
    let consumeFailure: string | undefined;
    const consumeFirst = async (): Promise<void> => {
      try {
        consumeRuns.push(await consumeCeiling(ctx, ctx.fleet));
      } catch (err) {
        consumeFailure ??= (err as Error).message.split("\n")[0];
        ctx.failed(err as Error);
      }
    };
    const result = await repeat(ctx.config.runs, async (run) => {
      const r = await collectFleet(ctx, ctx.fleet, `collector-r${run}`, [], consumeFirst);
      peaks.push(r.peakMB);
      warmRuns.push(r.warmLinesPerSecond);
      if (r.warmCpuNote) warmNotes.push(ctx.config.runs > 1 ? `run ${run + 1}: ${r.warmCpuNote}` : r.warmCpuNote);
      return { value: r.linesPerSecond, notes: r.cpuNote ? [r.cpuNote] : [] };
    });
    ctx.observed.set("collector.peak_rss", Math.max(...peaks));
    // Compared with the consume ceiling when it was measured, else with C as before.
    const ceiling = consumeRuns.length > 0 ? CONSUME_CEILING_KEY : CEILING_KEY;
    return [
      consumeCeilingFigure(ctx.fleet.hosts.length, consumeRuns, consumeFailure),
      { ...base, ceiling, value: result.value, runs: result.runs, notes: result.notes },
      { ...warm, ceiling, value: median(warmRuns), runs: warmRuns, notes: warmNotes },
      { ...peak, value: Math.max(...peaks), runs: peaks },
    ];
  }, ctx.failed);
}
