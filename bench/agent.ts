// Agent throughput: a file of syslog lines on disk to lines stored and acknowledged by JetStream,
// through the real `shipper agent`. Watched by the stream's message count, from the first stored
// line to the last, so the program's start-up is not counted.
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { partitionOf } from "../src/protocol/partition.js";
import { streamFor } from "../src/streams/layout.js";
import { writeHostLog } from "./workload.js";
import { startAgent } from "./shipper.js";
import { ONE_HOST_CEILING_KEY, ONE_HOST_CPU_KEY, cpuFigure } from "./ceiling.js";
import { CpuMeter, cpuOfPid, type CpuPerLine } from "./cpu.js";
import { watchProgress, progressRate } from "./progress.js";
import { repeat, log } from "./repeat.js";
import { skipAll, guarded, type Figure } from "./results.js";

const GROUP = "Agent";

/** What the measured agent does, as far as its --help tells: flags used, saved positions or not. */
export function agentNotes(ctx: BenchContext, extraArgs: string[] = []): string[] {
  const flags = [...ctx.config.agentArgs, ...extraArgs];
  const args = flags.length > 0 ? flags.join(" ") : "defaults";
  const positions = /state|position/i.test(ctx.shipper.agentHelp) ? "saved positions: available" : "saved positions: not in this build";
  return [`agent flags: ${args}; ${positions}`];
}

/** A host name of its own per run, so message ids never collide with an earlier run's. */
export function runHost(name: string, run: number): string {
  return `${name}-r${run}-${Math.random().toString(36).slice(2, 8)}.bench.example.net`;
}

export function storedIn(ctx: BenchContext, host: string): () => Promise<number> {
  const stream = streamFor(ctx.bench.layout, partitionOf(host, ctx.config.partitions));
  return async () => (await ctx.bench.jsm.streams.info(stream)).state.messages;
}

export async function measureAgent(ctx: BenchContext): Promise<Figure[]> {
  const base = { key: "agent.throughput", label: "file to stored and acked lines (1 file, 1 agent)", group: GROUP, unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY, target: ">= 0.8 x C1" };
  const peak = { key: "agent.peak_rss", label: "agent peak resident memory (VmHWM)", group: GROUP, unit: "MB" as const, target: "<= 150 MB" };
  const missing = ctx.shipper.missing("agent");
  if (missing) return skipAll([base, peak], missing);

  return await guarded([base, peak], async () => {
    const { config } = ctx;
    const peaks: number[] = [];
    const cpu: CpuPerLine[] = [];
    log(`agent: ${config.lines} lines, ${config.runs} run(s)`);
    const result = await repeat(config.runs, async (run) => {
      await ctx.bench.resetStreams();
      const dir = ctx.workDir(`agent-r${run}`);
      const host = runHost("agent", run);
      const file = join(dir, "syslog");
      await writeHostLog(file, host, config.lines, run + 1);
      const stored = storedIn(ctx, host);
      const agent = startAgent({ url: ctx.bench.url, config, file, host, logFile: join(dir, "agent.log") });
      // CPU from the first stored line to the last, like the rate.
      const meter = new CpuMeter({ server: cpuOfPid(ctx.bench.server.pid ?? -1), agent: cpuOfPid(agent.pid) });
      const read = async () => {
        const n = await stored();
        if (n > 0 && !meter.started) meter.start();
        return n;
      };
      try {
        const p = await watchProgress({ read, target: config.lines, everyMs: 50, stallMs: config.stallMs, check: () => agent.assertRunning("shipper agent") });
        peaks.push(agent.peakMB());
        if (!p.reached) throw new Error(`the agent stalled at ${p.final} of ${config.lines} lines stored`);
        const used = meter.perLine(config.lines - p.firstValue);
        if (used) cpu.push(used);
        const extra = (await stored()) - config.lines;
        const notes = extra > 0 ? [`${extra} lines stored twice`] : [];
        return { value: progressRate(p, config.lines, p.firstValue), notes };
      } finally {
        const code = await agent.stop();
        if (code !== 0) log(`agent exited with code ${code}; log in ${dir}`);
      }
    });
    return [
      { ...base, value: result.value, runs: result.runs, notes: [...agentNotes(ctx), ...result.notes] },
      { ...peak, value: Math.max(...peaks), runs: peaks },
      { ...cpuFigure({ key: "agent.cpu_per_line", label: "CPU per line: server + agent (lower is better)", group: GROUP, ceiling: ONE_HOST_CPU_KEY, target: "<= 1.25 C1cpu (0.8 x C1 when CPU-bound)" }, cpu) },
    ];
  }, ctx.failed);
}
