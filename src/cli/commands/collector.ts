// `shipper collector` (alias `consumer`): read partitions and write one set of files per host.
// Configured by flags or by the original consumer's environment variables (SPEC.md §2), with the
// same names and meanings; every mistake is one line naming the setting, before anything starts.
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { DEFAULT_LINGER_MS, DEFAULT_MAX_BATCH } from "../../collector/pull-reader.js";
import { DEFAULT_HEAP_GROWTH, DEFAULT_READ_AHEAD } from "../../collector/config.js";
import { defaultMaxOpenFiles } from "../../collector/open-file-limit.js";
import type { CollectorConfig } from "../../collector/config.js";
import { runCollector } from "../../collector/run-collector.js";
import { ConfigError } from "../../config/errors.js";
import { parseOutputPattern } from "../../config/output-pattern.js";
import { parseInteger, parsePartitionList, required } from "../../config/values.js";
import { validatePrefix } from "../../protocol/subjects.js";
import { createLogger } from "../../shared/log.js";
import { DEFAULT_CONSUMER, DEFAULT_STREAM } from "../../streams/layout.js";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { runCommand } from "../run.js";

export interface CollectorFlagValues extends ConnectionFlagValues {
  subject?: string;
  directory?: string;
  output?: string;
  streamTarget?: string;
  partitions?: string;
  stream?: string;
  consumer?: string;
  fsync?: string;
  journal?: string;
  syncAppends?: string;
  maxOpenFiles?: string;
  batch?: string;
  linger?: string;
  readAhead?: string;
  heapGrowth?: string;
}

function given(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function onOff(setting: string, raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new ConfigError(`${setting} must be on or off (true/false), got "${raw}"`);
}

/**
 * The collector's configuration from flags (which win) and environment variables, checked once.
 * Throws a ConfigError naming the setting for every mistake.
 */
export function collectorConfigFrom(flags: CollectorFlagValues, env: NodeJS.ProcessEnv): CollectorConfig {
  const prefix = required(flags.subject ?? env.SHIPPER_SUBJECT, "Please set a subject prefix to consume using SHIPPER_SUBJECT").trim();
  const badPrefix = validatePrefix(prefix);
  if (badPrefix) throw new ConfigError(`SHIPPER_SUBJECT (--subject): ${badPrefix}`);
  const directory = required(flags.directory ?? env.SHIPPER_DIRECTORY, "Please set a directory to write to using SHIPPER_DIRECTORY");
  const output = parseOutputPattern(
    "SHIPPER_OUTPUT",
    required(flags.output ?? env.SHIPPER_OUTPUT, "Please set an output file name pattern using SHIPPER_OUTPUT"),
  );

  const target = given(flags.streamTarget ?? env.SHIPPER_STREAM_TARGET)?.trim();
  if (target !== undefined) {
    const bad = validatePrefix(target);
    if (bad) throw new ConfigError(`SHIPPER_STREAM_TARGET (--stream-target): ${bad.replace("subject prefix", "delivery prefix")}`);
  }
  const rawPartitions = given(flags.partitions ?? env.SHIPPER_READ_PARTITIONS);
  const partitionsSetting = "SHIPPER_READ_PARTITIONS (--partitions)";
  // Syntax now; the ids are checked against the deployment's partition count once connected.
  if (rawPartitions !== undefined) parsePartitionList(partitionsSetting, rawPartitions);

  const connection = settingsFromFlags(flags, { requireUrl: true, name: `shipper-collector ${prefix}` }, env);
  return Object.freeze({
    prefix,
    directory: resolve(directory),
    output,
    streamTarget: target,
    readPartitions: rawPartitions !== undefined ? { setting: partitionsSetting, raw: rawPartitions } : undefined,
    stream: given(flags.stream) ?? DEFAULT_STREAM,
    consumer: given(flags.consumer) ?? DEFAULT_CONSUMER,
    fsync: onOff("SHIPPER_FSYNC (--fsync)", flags.fsync ?? env.SHIPPER_FSYNC ?? "on"),
    journal: onOff("SHIPPER_JOURNAL (--journal)", flags.journal ?? env.SHIPPER_JOURNAL ?? "on"),
    syncAppends: onOff("SHIPPER_SYNC_APPENDS (--sync-appends)", flags.syncAppends ?? env.SHIPPER_SYNC_APPENDS ?? "on"),
    maxOpenFiles: parseInteger("--max-open-files", flags.maxOpenFiles ?? String(defaultMaxOpenFiles()), 1, 1_000_000),
    maxBatch: parseInteger("--batch", flags.batch ?? String(DEFAULT_MAX_BATCH), 1, 1_000_000),
    lingerMs: parseInteger("--linger", flags.linger ?? String(DEFAULT_LINGER_MS), 0, 1_000),
    readAhead: parseInteger("--read-ahead", flags.readAhead ?? String(DEFAULT_READ_AHEAD), 0, 100_000_000),
    heapGrowthPercent: parseInteger("--heap-growth", flags.heapGrowth ?? String(DEFAULT_HEAP_GROWTH), 0, 1_000),
    connection,
  });
}

export function registerCollector(program: Command): void {
  const cmd = program
    .command("collector")
    .alias("consumer")
    .description("read partitions from JetStream and write each host's lines to <directory>/<host>/<output>")
    .addOption(new Option("--subject <prefix>", "the agents' subject prefix, e.g. logs").env("SHIPPER_SUBJECT"))
    .addOption(new Option("-d, --directory <dir>", "root of the per-host directories").env("SHIPPER_DIRECTORY"))
    .addOption(
      new Option("-o, --output <pattern>", 'file name in each host directory, a strftime pattern (no "%": -%Y%m%d%H%M is appended)').env(
        "SHIPPER_OUTPUT",
      ),
    )
    .addOption(
      new Option("--stream-target <prefix>", "read the push delivery subjects <prefix>.p<N> (Part 8) instead of pull consumers").env(
        "SHIPPER_STREAM_TARGET",
      ),
    )
    .addOption(
      new Option("-p, --partitions <ids>", 'partitions to read, e.g. "0,1,2" or "0-4" (default: all of the deployment, else 0)').env(
        "SHIPPER_READ_PARTITIONS",
      ),
    )
    .option("--stream <name>", "stream (base) name when the deployment has no recorded layout", DEFAULT_STREAM)
    .option("--consumer <name>", "pull consumer name when the deployment has no recorded layout", DEFAULT_CONSUMER)
    .addOption(new Option("--fsync <on|off>", "make written lines durable before acknowledging them").env("SHIPPER_FSYNC"))
    .addOption(
      new Option(
        "--journal <on|off>",
        "with --fsync on: one fsync a step per partition (a journal of what was written; host files fsynced at checkpoints) instead of one per host file",
      ).env("SHIPPER_JOURNAL"),
    )
    .addOption(
      new Option(
        "--sync-appends <on|off>",
        "append to host files with synchronous writes (fastest); off: through the thread pool, for file systems whose writes can block for long (NFS mounted sync)",
      ).env("SHIPPER_SYNC_APPENDS"),
    )
    .option("--max-open-files <n>", "most output files open at once, least recently used closed first (default: half the process's open-file limit, at most 16384)")
    .option("--batch <n>", "most lines taken per batch (one write per host per batch)", String(DEFAULT_MAX_BATCH))
    .option("--linger <ms>", "while lines keep coming, a batch under half of --batch waits this long for more (fewer fsyncs a line, a little latency); 0: never", String(DEFAULT_LINGER_MS))
    .option("--read-ahead <lines>", "most lines in memory (requested, waiting or being written) over all partitions together; 0: two batches per partition, however many partitions", String(DEFAULT_READ_AHEAD))
    .option("--heap-growth <percent>", "how much the JavaScript heap may grow between full collections (a heap under 32 MB may always grow to 32 MB); 0: V8's own choice (up to 300%: faster with many hosts, 25-60 MB more)", String(DEFAULT_HEAP_GROWTH));
  addConnectionFlags(cmd);
  cmd.action(async (flags: CollectorFlagValues) => {
    await runCommand("collector", async (signal) => {
      const config = collectorConfigFrom(flags, process.env);
      const log = createLogger("collector");
      await runCollector(config, signal, log);
      return 0;
    });
  });
}
