// The real shipper programs as child processes, configured as an operator would: by the original's
// environment variables (SPEC.md §2). Also finds out which commands exist in this build, so a
// measurement whose program is missing is reported as skipped instead of crashing the benchmark.
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ShipperProcess, SHIPPER_MAIN, runShipper } from "../src/testkit/shipper-process.js";
import { partitionIds } from "../src/streams/layout.js";
import type { BenchConfig } from "./options.js";
import { procMemory } from "./proc-status.js";

export interface ShipperAvailability {
  /** Why a command cannot be used, or undefined when it can. */
  missing(command: "setup" | "agent" | "collector"): string | undefined;
  agentHelp: string;
  collectorHelp: string;
  summary: string;
}

function listedCommands(help: string): Set<string> {
  const section = help.split(/^Commands:\s*$/m)[1] ?? "";
  return new Set([...section.matchAll(/^\s{2}(\w[\w-]*)/gm)].map((m) => m[1]!));
}

export async function detectShipper(url: string, config: BenchConfig): Promise<ShipperAvailability> {
  const reasons = new Map<string, string>();
  let agentHelp = "";
  let collectorHelp = "";
  if (!existsSync(SHIPPER_MAIN)) {
    for (const c of ["setup", "agent", "collector"]) reasons.set(c, `${SHIPPER_MAIN} is not built`);
  } else {
    const commands = listedCommands((await runShipper(["--help"])).stdout);
    for (const c of ["setup", "agent", "collector"]) {
      if (!commands.has(c)) reasons.set(c, `\`shipper ${c}\` is not available in this build yet`);
    }
    if (!reasons.has("agent")) agentHelp = (await runShipper(["agent", "--help"])).stdout;
    if (!reasons.has("collector")) collectorHelp = (await runShipper(["collector", "--help"])).stdout;
    if (!reasons.has("setup")) {
      // The real setup makes the collector's consumers and records the layout; the benchmark's
      // own streams are then created only where setup left a gap.
      const exit = await runShipper(["setup", "--partitions", String(config.partitions)], { NATS_URL: url, SHIPPER_SUBJECT: config.prefix });
      if (exit.code !== 0) reasons.set("setup", `\`shipper setup\` failed: ${(exit.stderr || exit.stdout).trim().split("\n")[0]}`);
    }
  }
  // Without the streams and consumers of setup, the collector has nothing to read from.
  if (reasons.has("setup") && !reasons.has("collector")) reasons.set("collector", reasons.get("setup")!);
  const summary = ["setup", "agent", "collector"].map((c) => `${c}: ${reasons.get(c) ?? "available"}`).join("; ");
  return { missing: (c) => reasons.get(c), agentHelp, collectorHelp, summary };
}

/** Every program started and not yet stopped, so the benchmark never leaves one behind. */
const running = new Set<RunningShipper>();

export async function stopAllShippers(): Promise<void> {
  for (const p of [...running]) await p.stop().catch(() => undefined);
}

/** A running program, its log file written when it stops. */
export class RunningShipper {
  constructor(readonly proc: ShipperProcess, private readonly logFile: string) {
    running.add(this);
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The highest VmHWM seen while stop() waited for the exit (what shutting down took), MB. */
  peakAtStopMB = Number.NaN;

  /** Peak resident memory so far (VmHWM), MB; read it before stopping, or use peakAtStopMB after. */
  peakMB(): number {
    return procMemory(this.pid)?.peakMB ?? Number.NaN;
  }

  assertRunning(what: string): void {
    if (!this.proc.running) {
      throw new Error(`${what} exited early (code ${this.proc.child.exitCode}): ${lastLines(this.proc.stderr + this.proc.stdout)}`);
    }
  }

  async stop(): Promise<number | null> {
    running.delete(this);
    // VmHWM only grows: the last reading before the process is gone is its peak, shutdown included.
    const sample = () => {
      const peak = procMemory(this.pid)?.peakMB;
      if (peak !== undefined && !(peak <= this.peakAtStopMB)) this.peakAtStopMB = peak;
    };
    sample();
    const sampler = setInterval(sample, 10);
    const exit = await this.proc.stop().finally(() => clearInterval(sampler));
    writeFileSync(this.logFile, exit.stdout + exit.stderr);
    return exit.code;
  }
}

function lastLines(text: string, n = 3): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}

/**
 * `file` is what SHIPPER_FILE holds: one path, a glob pattern or a comma-separated list. Saved
 * positions go to a `state` directory beside the log file, never to the machine's default place.
 */
export function startAgent(opts: { url: string; config: BenchConfig; file: string; host: string; logFile: string; extraEnv?: NodeJS.ProcessEnv; extraArgs?: string[] }): RunningShipper {
  const env = {
    NATS_URL: opts.url,
    SHIPPER_STATE_DIR: join(dirname(opts.logFile), "agent-state"),
    SHIPPER_FILE: opts.file,
    SHIPPER_SUBJECT: opts.config.prefix,
    SHIPPER_PARTITIONS: String(opts.config.partitions),
    HOSTNAME: opts.host,
    ...opts.extraEnv,
  };
  return new RunningShipper(new ShipperProcess(["agent", ...opts.config.agentArgs, ...(opts.extraArgs ?? [])], env), opts.logFile);
}

export function startCollector(opts: { url: string; config: BenchConfig; directory: string; logFile: string; extraArgs?: string[] }): RunningShipper {
  const env = {
    NATS_URL: opts.url,
    SHIPPER_SUBJECT: opts.config.prefix,
    SHIPPER_DIRECTORY: opts.directory,
    SHIPPER_OUTPUT: "logfile",
    SHIPPER_READ_PARTITIONS: partitionIds({ partitions: opts.config.partitions }).join(","),
  };
  return new RunningShipper(new ShipperProcess(["collector", ...opts.config.collectorArgs, ...(opts.extraArgs ?? [])], env), opts.logFile);
}
