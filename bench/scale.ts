// Scale: one agent following many files, and one collector writing for many hosts (its open files
// must stay bounded: it closes the least recently used). An agent that follows only one file is
// reported as such; running many agent processes would be a different thing.
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { FleetLog } from "./workload.js";
import { collectFleet } from "./collector.js";
import { CEILING_KEY, ONE_HOST_CEILING_KEY } from "./ceiling.js";
import { log } from "./repeat.js";
import { skipAll, skippedFigure, guarded, type Figure } from "./results.js";

const GROUP = "Scale";

/** Whether `shipper agent --help` offers more than one file per agent (several paths or a glob). */
export function agentFollowsManyFiles(help: string): boolean {
  return /glob|<(paths|files|patterns?)\.\.\.>|\.\.\.>/i.test(help.split("\n").filter((l) => /file|path|glob/i.test(l)).join("\n"));
}

export async function measureScale(ctx: BenchContext): Promise<Figure[]> {
  const { config } = ctx;
  const figures: Figure[] = [];
  const agentFigure = { key: "scale.agent_files", label: `one agent following ${config.scaleFiles.toLocaleString("en-US")} files`, group: GROUP, unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY };
  const missingAgent = ctx.shipper.missing("agent");
  if (missingAgent) figures.push(skippedFigure(agentFigure, missingAgent));
  else if (!agentFollowsManyFiles(ctx.shipper.agentHelp)) {
    figures.push(skippedFigure(agentFigure, "not supported yet: `shipper agent` follows one file (SHIPPER_FILE); many agent processes would not measure the same thing"));
  } else {
    // The interface for many files is not settled yet (issue 3); measure it once it is.
    figures.push(skippedFigure(agentFigure, "the agent's help mentions several files, but this benchmark does not yet know how to pass them"));
  }

  const hosts = config.scaleHosts;
  const base = { key: "scale.collector_hosts", label: `one collector writing ${hosts.toLocaleString("en-US")} hosts (${config.scaleLines.toLocaleString("en-US")} lines)`, group: GROUP, unit: "lines/s" as const, ceiling: CEILING_KEY };
  const peak = { key: "scale.collector_peak_rss", label: `collector peak resident memory, ${hosts.toLocaleString("en-US")} hosts`, group: GROUP, unit: "MB" as const, target: "<= 200 MB" };
  const fds = { key: "scale.collector_open_files", label: `collector most open file descriptors, ${hosts.toLocaleString("en-US")} hosts`, group: GROUP, unit: "files" as const, target: "bounded" };
  const missing = ctx.shipper.missing("collector");
  if (missing) return [...figures, ...skipAll([base, peak, fds], missing)];
  return [...figures, ...(await guarded([base, peak, fds], async () => {
    log(`scale: generating ${config.scaleLines} lines for ${hosts} hosts`);
    const fleet = new FleetLog({ hosts, lines: Math.max(config.scaleLines, hosts), prefix: config.prefix, partitions: config.partitions, tag: "s" });
    const r = await collectFleet(ctx, fleet, "scale-collector");
    return [
      { ...base, value: r.linesPerSecond, notes: [`${r.hostsWritten} host directories written`] },
      { ...peak, value: r.peakMB },
      { ...fds, value: r.maxOpenFiles, notes: ["sampled every 200 ms from /proc/<pid>/fd"] },
    ];
  }, ctx.failed))];
}
