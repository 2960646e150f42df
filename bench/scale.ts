// Scale: one agent following many files (a glob pattern), and one collector writing for many hosts
// (its open files must stay bounded: it closes the least recently used). An agent build that follows
// only one file is reported as such; many agent processes would measure something else.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { FleetLog, writeHostLog } from "./workload.js";
import { collectFleet } from "./collector.js";
import { CEILING_KEY, ONE_HOST_CEILING_KEY } from "./ceiling.js";
import { startAgent } from "./shipper.js";
import { ProcSampler } from "./proc-status.js";
import { watchProgress, progressRate } from "./progress.js";
import { runHost, storedIn, agentNotes } from "./agent.js";
import { log } from "./repeat.js";
import { skipAll, guarded, type Figure } from "./results.js";

/** Collector flags without its memory bounds: what the earlier defaults were (shipper collector --help). */
const UNCAPPED_ARGS = ["--read-ahead", "0", "--heap-growth", "0"];

const GROUP = "Scale";

/** Whether `shipper agent --help` offers glob patterns (many files per agent). */
export function agentFollowsManyFiles(help: string): boolean {
  return /glob/i.test(help);
}

async function agentManyFiles(ctx: BenchContext): Promise<{ linesPerSecond: number; peakMB: number; maxOpenFiles: number }> {
  const { config } = ctx;
  await ctx.bench.resetStreams();
  const dir = ctx.workDir("scale-agent");
  const files = join(dir, "files");
  mkdirSync(files);
  const host = runHost("scale", 0);
  const perFile = Math.max(1, Math.floor(config.scaleLines / config.scaleFiles));
  const total = perFile * config.scaleFiles;
  log(`scale: ${config.scaleFiles} files of ${perFile} lines for one agent`);
  for (let i = 0; i < config.scaleFiles; i++) await writeHostLog(join(files, `app-${String(i).padStart(5, "0")}.log`), host, perFile, i + 1);
  const stored = storedIn(ctx, host);
  const agent = startAgent({ url: ctx.bench.url, config, file: join(files, "*.log"), host, logFile: join(dir, "agent.log") });
  const sampler = new ProcSampler(agent.pid, 200);
  try {
    const p = await watchProgress({ read: stored, target: total, everyMs: 50, stallMs: config.stallMs, check: () => agent.assertRunning("shipper agent") });
    if (!p.reached) throw new Error(`the agent stalled at ${p.final} of ${total} lines stored`);
    sampler.sample();
    return { linesPerSecond: progressRate(p, total, p.firstValue), peakMB: agent.peakMB(), maxOpenFiles: sampler.maxOpenFiles };
  } finally {
    sampler.stop();
    await agent.stop();
  }
}

export async function measureScale(ctx: BenchContext): Promise<Figure[]> {
  const { config } = ctx;
  const files = config.scaleFiles.toLocaleString("en-US");
  const agentFigures = [
    { key: "scale.agent_files", label: `one agent following ${files} files (${config.scaleLines.toLocaleString("en-US")} lines)`, group: GROUP, unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY },
    { key: "scale.agent_peak_rss", label: `agent peak resident memory, ${files} files`, group: GROUP, unit: "MB" as const, target: "<= 150 MB" },
    { key: "scale.agent_open_files", label: `agent most open file descriptors, ${files} files`, group: GROUP, unit: "files" as const },
  ];
  const figures: Figure[] = [];
  const missingAgent = ctx.shipper.missing("agent");
  if (missingAgent) figures.push(...skipAll(agentFigures, missingAgent));
  else if (!agentFollowsManyFiles(ctx.shipper.agentHelp)) {
    figures.push(...skipAll(agentFigures, "not supported yet: `shipper agent` follows one file (SHIPPER_FILE); many agent processes would not measure the same thing"));
  } else {
    figures.push(...(await guarded(agentFigures, async () => {
      const r = await agentManyFiles(ctx);
      return [
        { ...agentFigures[0]!, value: r.linesPerSecond, notes: [`SHIPPER_FILE is a glob pattern matching every file`, ...agentNotes(ctx)] },
        { ...agentFigures[1]!, value: r.peakMB },
        { ...agentFigures[2]!, value: r.maxOpenFiles, notes: ["sampled every 200 ms from /proc/<pid>/fd"] },
      ];
    }, ctx.failed)));
  }

  const hosts = config.scaleHosts.toLocaleString("en-US");
  const collectorFigures = [
    { key: "scale.collector_hosts", label: `one collector writing ${hosts} hosts (${config.scaleLines.toLocaleString("en-US")} lines)`, group: GROUP, unit: "lines/s" as const, ceiling: CEILING_KEY },
    { key: "scale.collector_peak_rss", label: `collector peak resident memory, ${hosts} hosts`, group: GROUP, unit: "MB" as const, target: "<= 200 MB" },
    { key: "scale.collector_open_files", label: `collector most open file descriptors, ${hosts} hosts`, group: GROUP, unit: "files" as const, target: "bounded" },
  ];
  const missing = ctx.shipper.missing("collector");
  if (missing) return [...figures, ...skipAll(collectorFigures, missing)];
  figures.push(...(await guarded(collectorFigures, async () => {
    log(`scale: generating ${config.scaleLines} lines for ${config.scaleHosts} hosts`);
    const fleet = new FleetLog({ hosts: config.scaleHosts, lines: Math.max(config.scaleLines, config.scaleHosts), prefix: config.prefix, partitions: config.partitions, tag: "s" });
    const r = await collectFleet(ctx, fleet, "scale-collector");
    const result: Figure[] = [
      { ...collectorFigures[0]!, value: r.linesPerSecond, notes: [`${r.hostsWritten} host directories written`] },
      { ...collectorFigures[1]!, value: r.peakMB, notes: ["collector defaults"] },
      { ...collectorFigures[2]!, value: r.maxOpenFiles, notes: ["sampled every 200 ms from /proc/<pid>/fd"] },
    ];
    // The same without the collector's memory bounds (two batches read ahead per partition, V8's
    // own heap growth), when this build has them: what those defaults save, and cost.
    if (/--read-ahead/.test(ctx.shipper.collectorHelp)) {
      const uncapped = await collectFleet(ctx, fleet, "scale-collector-uncapped", UNCAPPED_ARGS);
      const flags = UNCAPPED_ARGS.join(" ");
      result.push(
        { ...collectorFigures[0]!, key: "scale.collector_hosts_uncapped", label: `the same, ${flags}`, value: uncapped.linesPerSecond },
        { ...collectorFigures[1]!, key: "scale.collector_peak_rss_uncapped", label: `collector peak resident memory, ${hosts} hosts, ${flags}`, value: uncapped.peakMB, target: undefined },
      );
    }
    return result;
  }, ctx.failed)));
  return figures;
}
