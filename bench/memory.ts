// Memory: peak resident memory (VmHWM) of agent and collector during an end-to-end pass, and the
// agent's resident memory before, during and after a server outage while its file keeps growing at a
// fixed rate. The agent should stop reading while it cannot publish, so its memory stays flat.
import { openSync, closeSync, writeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { syslogLines } from "../src/demo/syslog-generator.js";
import { startAgent, type RunningShipper } from "./shipper.js";
import { ProcSampler, procMemory } from "./proc-status.js";
import { watchProgress } from "./progress.js";
import { log, sleep } from "./repeat.js";
import { skipAll, guarded, type Figure } from "./results.js";
import { runHost, storedIn, agentNotes } from "./agent.js";
import { runPipeline } from "./end-to-end.js";

const GROUP = "Memory";

/** Appends lines to a file at a fixed rate until stopped. */
class RateWriter {
  written = 0;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private readonly fd: number;
  private readonly text: string[];

  constructor(file: string, host: string, private readonly rate: number) {
    this.fd = openSync(file, "a");
    this.text = [...syslogLines({ host, lines: 1000, seed: 3 })].map((l) => l + "\n");
    this.timer = setInterval(() => this.tick(), 10);
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.started) / 1000) * this.rate);
    let chunk = "";
    for (; this.written < due; this.written++) chunk += this.text[this.written % 1000];
    if (chunk) writeSync(this.fd, chunk);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    closeSync(this.fd);
  }
}

async function outage(ctx: BenchContext): Promise<{ before: number; during: number; after: number; notes: string[] }> {
  const { config, bench } = ctx;
  await bench.resetStreams();
  const dir = ctx.workDir("memory-outage");
  const host = runHost("outage", 0);
  const file = join(dir, "syslog");
  writeFileSync(file, "");
  const stored = storedIn(ctx, host);
  const agent: RunningShipper = startAgent({ url: bench.url, config, file, host, logFile: join(dir, "agent.log") });
  const writer = new RateWriter(file, host, config.outageRate);
  const warmMs = Math.min(10_000, Math.max(2_000, config.outageSeconds * 200));
  let sampler: ProcSampler | undefined;
  try {
    await sleep(warmMs);
    agent.assertRunning("shipper agent");
    const before = procMemory(agent.pid)?.rssMB ?? Number.NaN;
    log(`memory: server away for ${config.outageSeconds} s while the file grows at ${config.outageRate} lines/s`);
    await bench.server.kill();
    sampler = new ProcSampler(agent.pid, 250);
    await sleep(config.outageSeconds * 1000);
    sampler.stop();
    agent.assertRunning("shipper agent (during the outage)");
    const during = sampler.maxRssMB;
    await bench.server.start();
    // Keep offering lines a little after the outage, then stop and let the agent catch up.
    await sleep(warmMs);
    writer.stop();
    // The benchmark's own connection is reconnecting too: a failed look-up counts as no progress.
    let last = 0;
    const read = async () => (last = await stored().catch(() => last));
    const p = await watchProgress({ read, target: writer.written, everyMs: 100, stallMs: config.stallMs, check: () => agent.assertRunning("shipper agent") });
    const after = procMemory(agent.pid)?.rssMB ?? Number.NaN;
    const notes = [`${p.final} of ${writer.written} lines stored after the outage${p.reached ? "" : " (stalled)"}`, `agent peak ${agent.peakMB().toFixed(1)} MB`];
    return { before, during, after, notes };
  } finally {
    sampler?.stop();
    writer.stop();
    await agent.stop();
    if (!bench.server.running) await bench.server.start();
  }
}

export async function measureMemory(ctx: BenchContext): Promise<Figure[]> {
  const label = (s: string) => `agent resident memory ${s} a ${ctx.config.outageSeconds} s server outage`;
  const peakFigures = [
    { key: "memory.agent_peak", label: "agent peak resident memory, end-to-end pass", group: GROUP, unit: "MB" as const, target: "<= 150 MB" },
    { key: "memory.collector_peak", label: "collector peak resident memory, end-to-end pass", group: GROUP, unit: "MB" as const, target: "<= 200 MB (10k hosts: Scale)" },
  ];
  const outageFigures = [
    { key: "memory.outage_before", label: label("before"), group: GROUP, unit: "MB" as const },
    { key: "memory.outage_during", label: label("at most during"), group: GROUP, unit: "MB" as const, target: "flat" },
    { key: "memory.outage_after", label: label("after"), group: GROUP, unit: "MB" as const, target: "flat" },
  ];
  const figures: Figure[] = [];
  const missingPipeline = ctx.shipper.missing("agent") ?? ctx.shipper.missing("collector");
  if (missingPipeline) {
    figures.push(...skipAll(peakFigures, missingPipeline));
  } else {
    figures.push(...(await guarded(peakFigures, async () => {
      let agentPeak = ctx.observed.get("pipeline.agent_peak_rss");
      let collectorPeak = ctx.observed.get("pipeline.collector_peak_rss");
      if (agentPeak === undefined || collectorPeak === undefined) {
        log(`memory: one end-to-end pass of ${ctx.config.lines} lines`);
        const r = await runPipeline(ctx, "memory-pipeline", 0);
        agentPeak = r.agentPeakMB;
        collectorPeak = r.collectorPeakMB;
      }
      return [{ ...peakFigures[0]!, value: agentPeak }, { ...peakFigures[1]!, value: collectorPeak }];
    }, ctx.failed)));
  }
  const missingAgent = ctx.shipper.missing("agent");
  if (missingAgent) {
    figures.push(...skipAll(outageFigures, missingAgent));
  } else {
    figures.push(...(await guarded(outageFigures, async () => {
      const o = await outage(ctx);
      return [
        { ...outageFigures[0]!, value: o.before, notes: [`offered ${ctx.config.outageRate} lines/s throughout`, ...agentNotes(ctx)] },
        { ...outageFigures[1]!, value: o.during },
        { ...outageFigures[2]!, value: o.after, notes: o.notes },
      ];
    }, ctx.failed)));
  }
  return figures;
}
