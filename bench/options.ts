// The benchmark's settings: a size preset (tiny, small, full) that flags may override one by one.
import { Command, InvalidArgumentError, Option } from "commander";

export const MEASUREMENTS = ["ceiling", "agent", "collector", "end-to-end", "latency", "memory", "scale"] as const;
export type MeasurementName = (typeof MEASUREMENTS)[number];

export type Size = "tiny" | "small" | "full";

export interface BenchConfig {
  size: Size;
  /** Lines per throughput run (ceiling, agent, collector, end to end). */
  lines: number;
  /** Hosts in the generated log (ceiling, collector). */
  hosts: number;
  partitions: number;
  prefix: string;
  /** Runs of each throughput measurement; the median is reported. */
  runs: number;
  /** Messages in flight for the pipelined JetStream publish. */
  window: number;
  /** Lines for the slow `js.publish()` reference (it runs at a fraction of the others). */
  referenceLines: number;
  latencyRate: number;
  latencySeconds: number;
  outageSeconds: number;
  /** Offered rate while the memory outage runs. */
  outageRate: number;
  scaleFiles: number;
  scaleHosts: number;
  scaleLines: number;
  /** Give up on a measurement when nothing progresses for this long. */
  stallMs: number;
  only: Set<MeasurementName>;
  json: string;
  /** Also write the table as Markdown here (for the README). */
  markdown?: string;
  agentArgs: string[];
  collectorArgs: string[];
  keep: boolean;
}

type Preset = Omit<BenchConfig, "size" | "only" | "json" | "markdown" | "agentArgs" | "collectorArgs" | "keep" | "prefix" | "partitions">;

export const PRESETS: Record<Size, Preset> = {
  tiny: {
    lines: 20_000, hosts: 20, runs: 1, window: 5_000, referenceLines: 5_000,
    latencyRate: 2_000, latencySeconds: 2, outageSeconds: 2, outageRate: 2_000,
    scaleFiles: 20, scaleHosts: 200, scaleLines: 4_000, stallMs: 10_000,
  },
  small: {
    lines: 100_000, hosts: 100, runs: 1, window: 10_000, referenceLines: 20_000,
    latencyRate: 10_000, latencySeconds: 5, outageSeconds: 10, outageRate: 5_000,
    scaleFiles: 200, scaleHosts: 2_000, scaleLines: 40_000, stallMs: 30_000,
  },
  full: {
    lines: 500_000, hosts: 1_000, runs: 3, window: 10_000, referenceLines: 100_000,
    latencyRate: 10_000, latencySeconds: 20, outageSeconds: 60, outageRate: 5_000,
    scaleFiles: 1_000, scaleHosts: 10_000, scaleLines: 200_000, stallMs: 60_000,
  },
};

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a whole number > 0");
  return n;
}

function measurementList(value: string): MeasurementName[] {
  const names = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!(MEASUREMENTS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`unknown measurement "${name}"; expected some of ${MEASUREMENTS.join(", ")}`);
    }
  }
  return names as MeasurementName[];
}

function words(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

export function benchProgram(): Command {
  return new Command()
    .name("npm run bench --")
    .description("Measures shipper against this machine's own JetStream ceiling, with its own nats-server.")
    .addOption(new Option("--size <size>", "preset for every count below").choices(["tiny", "small", "full"]).default("full"))
    .option("--lines <n>", "lines per throughput run", positiveInt)
    .option("--hosts <n>", "hosts in the generated log", positiveInt)
    .option("--partitions <n>", "partitions (streams LOGS_<i>)", positiveInt, 10)
    .option("--runs <n>", "runs of each throughput measurement (median reported)", positiveInt)
    .option("--window <n>", "messages in flight for the pipelined publish", positiveInt)
    .option("--reference-lines <n>", "lines for the js.publish() reference", positiveInt)
    .option("--latency-rate <n>", "offered lines/s for the latency measurement", positiveInt)
    .option("--latency-seconds <n>", "how long lines are offered for the latency measurement", positiveInt)
    .option("--outage-seconds <n>", "length of the server outage in the memory measurement", positiveInt)
    .option("--outage-rate <n>", "offered lines/s during the memory measurement", positiveInt)
    .option("--scale-files <n>", "files one agent follows in the scale measurement", positiveInt)
    .option("--scale-hosts <n>", "hosts one collector writes in the scale measurement", positiveInt)
    .option("--scale-lines <n>", "lines in the scale measurement", positiveInt)
    .option("--stall-seconds <n>", "give up on a measurement after this long without progress", positiveInt)
    .option("--only <names>", `comma-separated measurements: ${MEASUREMENTS.join(", ")}`, measurementList)
    .option("--json <file>", "where the figures are written as JSON", "bench-results.json")
    .option("--markdown <file>", "also write the table as Markdown (for the README)")
    .option("--agent-args <args>", "extra arguments for every `shipper agent` (space-separated)", words, [])
    .option("--collector-args <args>", "extra arguments for every `shipper collector` (space-separated)", words, [])
    .option("--keep", "keep the work directory (files, program logs) for inspection", false);
}

export function resolveConfig(opts: Record<string, unknown>): BenchConfig {
  const size = opts.size as Size;
  const preset = PRESETS[size];
  const pick = <K extends keyof Preset>(key: K, flag: string): Preset[K] => (opts[flag] as Preset[K] | undefined) ?? preset[key];
  const stallSeconds = opts.stallSeconds as number | undefined;
  return {
    size,
    lines: pick("lines", "lines"),
    hosts: pick("hosts", "hosts"),
    partitions: opts.partitions as number,
    prefix: "logs",
    runs: pick("runs", "runs"),
    window: pick("window", "window"),
    referenceLines: pick("referenceLines", "referenceLines"),
    latencyRate: pick("latencyRate", "latencyRate"),
    latencySeconds: pick("latencySeconds", "latencySeconds"),
    outageSeconds: pick("outageSeconds", "outageSeconds"),
    outageRate: pick("outageRate", "outageRate"),
    scaleFiles: pick("scaleFiles", "scaleFiles"),
    scaleHosts: pick("scaleHosts", "scaleHosts"),
    scaleLines: pick("scaleLines", "scaleLines"),
    stallMs: stallSeconds !== undefined ? stallSeconds * 1000 : preset.stallMs,
    only: new Set((opts.only as MeasurementName[] | undefined) ?? MEASUREMENTS),
    json: opts.json as string,
    markdown: opts.markdown as string | undefined,
    agentArgs: opts.agentArgs as string[],
    collectorArgs: opts.collectorArgs as string[],
    keep: opts.keep as boolean,
  };
}
