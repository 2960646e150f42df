// `npm run bench`: starts its own nats-server, measures the ceiling of a plain client and then the
// real shipper programs against it, prints the table and writes the figures as JSON.
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchProgram, resolveConfig, type BenchConfig, type MeasurementName } from "./options.js";
import { BenchServer, benchLayout } from "./server.js";
import { FleetLog } from "./workload.js";
import { measureCeiling } from "./ceiling.js";
import { describeMachine, currentLoad } from "./machine.js";
import { renderTable, renderMarkdown, writeJson, ceilingValues, type BenchReport } from "./report.js";
import { writeFileSync } from "node:fs";
import { skipAll, type Figure } from "./results.js";
import { log } from "./repeat.js";
import { detectShipper, stopAllShippers, type ShipperAvailability } from "./shipper.js";
import { measureAgent } from "./agent.js";
import { measureAgentBatched } from "./batched.js";
import { measureCollector } from "./collector.js";
import { measureEndToEnd } from "./end-to-end.js";
import { measureLatency } from "./latency.js";
import { measureMemory } from "./memory.js";
import { measureScale } from "./scale.js";

export interface BenchContext {
  config: BenchConfig;
  bench: BenchServer;
  /** The generated fleet log (many hosts), shared by the ceiling and the collector. */
  fleet: FleetLog;
  shipper: ShipperAvailability;
  /** A fresh directory for each measurement's files and program logs. */
  workDir(name: string): string;
  /** Figures one measurement saw that another reports (peak memory of the end-to-end pass). */
  observed: Map<string, number>;
  /** Logs why a measurement failed (its figures are then marked failed in the table). */
  failed: (err: Error) => void;
}

type Measure = (ctx: BenchContext) => Promise<Figure[]>;

const SHIPPER_MEASUREMENTS: Array<[MeasurementName, Measure]> = [
  ["agent", measureAgent],
  ["agent", measureAgentBatched],
  ["collector", measureCollector],
  ["end-to-end", measureEndToEnd],
  ["latency", measureLatency],
  ["memory", measureMemory],
  ["scale", measureScale],
];

async function main(): Promise<number> {
  const program = benchProgram();
  program.parse(process.argv);
  const config = resolveConfig(program.opts());
  const started = new Date();
  const machine = describeMachine();
  const work = mkdtempSync(join(tmpdir(), "shipper-bench-"));
  log(`size ${config.size}: ${config.lines} lines, ${config.hosts} hosts, ${config.partitions} partitions, ${config.runs} run(s) each; work in ${work}`);

  const bench = await BenchServer.start(benchLayout(config.prefix, config.partitions), join(work, "nats"));
  const onSignal = () => {
    void stopAllShippers()
      .then(() => bench.dispose())
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const figures: Figure[] = [];
  try {
    const shipper = await detectShipper(bench.url, config);
    log(`shipper programs: ${shipper.summary}`);
    await bench.ensureStreams();
    log(`generating ${config.lines} syslog lines for ${config.hosts} hosts`);
    const fleet = new FleetLog({ hosts: config.hosts, lines: config.lines, prefix: config.prefix, partitions: config.partitions });
    log(`${fleet.count} lines, ${(fleet.bytes / fleet.count).toFixed(0)} bytes a line on average`);

    if (config.only.has("ceiling")) figures.push(...(await measureCeiling(bench, fleet, config)));
    let n = 0;
    const ctx: BenchContext = {
      config, bench, fleet, shipper,
      observed: new Map(),
      failed: (err) => log(`measurement failed: ${err.stack ?? err.message}${config.keep ? "" : " (run with --keep to inspect the programs' logs)"}`),
      workDir: (name) => {
        const dir = join(work, `${String(++n).padStart(2, "0")}-${name}`);
        mkdirSync(dir, { recursive: true });
        return dir;
      },
    };
    for (const [name, measure] of SHIPPER_MEASUREMENTS) {
      if (!config.only.has(name)) continue;
      try {
        figures.push(...(await measure(ctx)));
      } catch (err) {
        log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
        figures.push(...skipAll([{ key: `${name}.error`, label: name, group: name, unit: "lines/s" }], `failed: ${(err as Error).message.split("\n")[0]}`));
      }
      await bench.resetStreams().catch(() => undefined);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stopAllShippers();
    await bench.dispose();
    if (config.keep) log(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }

  machine.loadAverageAtEnd = currentLoad();
  const { only, ...rest } = config;
  const report: BenchReport = {
    version: 1,
    startedAt: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
    machine,
    config: { ...rest, only: [...only] },
    ceiling: ceilingValues(figures),
    figures,
  };
  process.stdout.write(renderTable(figures, machine) + "\n");
  const jsonPath = resolve(config.json);
  writeJson(jsonPath, report);
  log(`figures written to ${jsonPath} (${report.seconds} s)`);
  if (config.markdown) {
    writeFileSync(config.markdown, renderMarkdown(figures, machine, `size ${config.size}, ${report.startedAt}`));
    log(`table written to ${resolve(config.markdown)} as Markdown`);
  }
  return 0;
}

process.exitCode = await main();
