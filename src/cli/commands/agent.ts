// `shipper agent` (alias `producer`): follow files and publish their lines. Configured by flags or
// by the original producer's environment variables (SPEC.md §2), with the same names and meanings;
// SHIPPER_FILE still names one file (it may also hold a comma-separated list or a glob).
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { DEFAULT_SCAN_INTERVAL_MS, runAgent, type AgentConfig } from "../../agent/agent.js";
import { DEFAULT_POLL_INTERVAL_MS } from "../../agent/file-follower.js";
import { splitFileList } from "../../agent/file-sources.js";
import {
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_BATCH_BYTES,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_IN_FLIGHT_BYTES,
  OVERSIZE_MODES,
  type OversizeMode,
} from "../../agent/jetstream-publisher.js";
import { DEFAULT_SAVE_INTERVAL_MS } from "../../agent/positions/position-book.js";
import { defaultStateDir } from "../../agent/positions/state-dir.js";
import { ConfigError } from "../../config/errors.js";
import { parseBytes, parseDurationMs, parseInteger, parsePartitionCount, required } from "../../config/values.js";
import { validateHostForSubject, validatePrefix } from "../../protocol/subjects.js";
import { createLogger } from "../../shared/log.js";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { runCommand } from "../run.js";

export interface AgentFlagValues extends ConnectionFlagValues {
  /** Repeatable; each may be a comma-separated list. */
  file?: string | string[];
  stateDir?: string;
  saveInterval?: string;
  scanInterval?: string;
  oversize?: string;
  subject?: string;
  partitions?: string;
  host?: string;
  maxInFlight?: string;
  maxInFlightBytes?: string;
  ackTimeout?: string;
  pollInterval?: string;
  drainTimeout?: string;
  readChunk?: string;
  batchLines?: string;
  batchBytes?: string;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/**
 * The agent's configuration from flags (which win) and environment variables, checked once.
 * Throws a ConfigError naming the setting for every mistake.
 */
export function agentConfigFrom(flags: AgentFlagValues, env: NodeJS.ProcessEnv): AgentConfig {
  const given = typeof flags.file === "string" ? [flags.file] : (flags.file ?? []);
  const fromFlags = splitFileList(given);
  const files = fromFlags.length > 0 ? fromFlags : splitFileList([env.SHIPPER_FILE ?? ""]);
  if (files.length === 0) throw new ConfigError("Please set a file to publish using SHIPPER_FILE");
  const prefix = required(flags.subject ?? env.SHIPPER_SUBJECT, "Please set a subject prefix using SHIPPER_SUBJECT").trim();
  const badPrefix = validatePrefix(prefix);
  if (badPrefix) throw new ConfigError(`SHIPPER_SUBJECT (--subject): ${badPrefix}`);
  const partitions = parsePartitionCount("SHIPPER_PARTITIONS (--partitions)", flags.partitions ?? env.SHIPPER_PARTITIONS);
  const host = (nonEmpty(flags.host) ?? nonEmpty(env.HOSTNAME) ?? hostname()).trim();
  const badHost = validateHostForSubject(host);
  if (badHost) throw new ConfigError(`HOSTNAME (--host): ${badHost}; set a host name that can be part of a subject`);
  const connection = settingsFromFlags(flags, { requireUrl: true, name: `shipper-agent ${host}` }, env);
  const oversize = (nonEmpty(flags.oversize) ?? nonEmpty(env.SHIPPER_OVERSIZE) ?? "split").trim();
  if (!(OVERSIZE_MODES as readonly string[]).includes(oversize)) {
    throw new ConfigError(`SHIPPER_OVERSIZE (--oversize) must be one of ${OVERSIZE_MODES.join(", ")}, got "${oversize}"`);
  }
  const stateDir = nonEmpty(flags.stateDir) ?? nonEmpty(env.SHIPPER_STATE_DIR);
  return {
    files,
    prefix,
    partitions,
    host,
    connection,
    maxInFlight: parseInteger("--max-in-flight", flags.maxInFlight ?? String(DEFAULT_MAX_IN_FLIGHT), 1, 1_000_000),
    maxInFlightBytes: positiveBytes("--max-in-flight-bytes", flags.maxInFlightBytes ?? String(DEFAULT_MAX_IN_FLIGHT_BYTES)),
    ackTimeoutMs: positiveDuration("--ack-timeout", flags.ackTimeout ?? `${DEFAULT_ACK_TIMEOUT_MS}ms`),
    pollIntervalMs: positiveDuration("--poll-interval", flags.pollInterval ?? `${DEFAULT_POLL_INTERVAL_MS}ms`),
    drainTimeoutMs: parseDurationMs("--drain-timeout", flags.drainTimeout ?? "10s"),
    readChunkBytes: positiveBytes("--read-chunk", flags.readChunk ?? "256KiB"),
    stateDir: stateDir ? resolve(stateDir.trim()) : defaultStateDir(host, env),
    saveIntervalMs: positiveDuration("--save-interval", flags.saveInterval ?? `${DEFAULT_SAVE_INTERVAL_MS}ms`),
    scanIntervalMs: positiveDuration("--scan-interval", flags.scanInterval ?? `${DEFAULT_SCAN_INTERVAL_MS}ms`),
    oversize: oversize as OversizeMode,
    batchLines: parseInteger("SHIPPER_BATCH_LINES (--batch-lines)", nonEmpty(flags.batchLines) ?? nonEmpty(env.SHIPPER_BATCH_LINES) ?? "1", 1, 100_000),
    batchBytes: positiveBytes("--batch-bytes", flags.batchBytes ?? String(DEFAULT_BATCH_BYTES)),
  };
}

function positiveBytes(setting: string, raw: string): number {
  const n = parseBytes(setting, raw);
  if (n <= 0) throw new ConfigError(`${setting} must be a size above 0 like 256KiB or 8MiB, got "${raw}"`);
  return n;
}

function positiveDuration(setting: string, raw: string): number {
  const ms = parseDurationMs(setting, raw);
  if (ms <= 0) throw new ConfigError(`${setting} must be a duration above 0 like 250ms or 5s, got "${raw}"`);
  return ms;
}

export function registerAgent(program: Command): void {
  const cmd = program
    .command("agent")
    .alias("producer")
    .description(
      "follow log files and publish each line to <prefix>.p<N>.<host> with JetStream acknowledgements; " +
        "positions are saved, so a restart resumes where the acknowledged lines end",
    )
    .addOption(
      new Option(
        "-f, --file <path>",
        "a file to follow (waits for it to appear), or a glob pattern (new matches are picked up while running); " +
          "repeat the flag or give a comma-separated list (env: SHIPPER_FILE)",
      ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option("--subject <prefix>", "subject prefix, e.g. logs").env("SHIPPER_SUBJECT"))
    .addOption(
      new Option("-p, --partitions <n>", "partition count (default: the deployment's, else 0)").env("SHIPPER_PARTITIONS"),
    )
    .addOption(new Option("--host <name>", "host name in the subject (default: the OS host name)").env("HOSTNAME"))
    .option("--max-in-flight <n>", "most messages sent and not yet acknowledged (lines, or batches with --batch-lines)", String(DEFAULT_MAX_IN_FLIGHT))
    .option("--max-in-flight-bytes <size>", "most bytes sent and not yet acknowledged", "8MiB")
    .option("--ack-timeout <duration>", "re-send unacknowledged lines after this long (doubling while it fails)", "5s")
    .option("--poll-interval <duration>", "how often an idle file is checked for growth, truncation and rotation", "250ms")
    .option("--drain-timeout <duration>", "on SIGINT/SIGTERM, how long to wait for lines in flight", "10s")
    .option("--read-chunk <size>", "bytes read from the file at a time", "256KiB")
    .addOption(
      new Option(
        "--state-dir <dir>",
        "where positions are saved, one agent per directory (default: /var/lib/shipper/agent/<host> as root, " +
          "else $XDG_STATE_HOME/shipper/agent/<host>, i.e. ~/.local/state/shipper/agent/<host>)",
      ).env("SHIPPER_STATE_DIR"),
    )
    .option("--save-interval <duration>", "how often changed positions are saved (and always at a clean stop)", `${DEFAULT_SAVE_INTERVAL_MS}ms`)
    .option("--scan-interval <duration>", "how often glob patterns are expanded again to find new files", "1s")
    .addOption(
      new Option("--oversize <mode>", "a line over the largest message: split it into parts the collector joins, or send it to shipper.dlq.agent.<host>")
        .choices([...OVERSIZE_MODES])
        .env("SHIPPER_OVERSIZE"),
    )
    .addOption(
      new Option(
        "--batch-lines <n>",
        "send up to n consecutive lines of a file in one message (Shipper-Batch header: every reader of the stream must split " +
          "batches, as the collector does); 1, the default, is one message per line",
      ).env("SHIPPER_BATCH_LINES"),
    )
    .option("--batch-bytes <size>", "most payload bytes in one batch (with --batch-lines above 1)", "64KiB");
  addConnectionFlags(cmd);
  cmd.action(async (flags: AgentFlagValues) => {
    await runCommand("agent", async (signal) => {
      const config = agentConfigFrom(flags, process.env);
      const log = createLogger("agent");
      const result = await runAgent(config, log, signal);
      return result.unacknowledged > 0 ? 1 : 0;
    });
  });
}
