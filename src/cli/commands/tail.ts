// `shipper tail`: shows the lines of one host or one partition live, with host, subject, stream
// sequence and time. Starts with new lines unless told --since, --last or --all.
import { Command, Option } from "commander";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { runCommand } from "../run.js";
import { ConfigError } from "../../config/errors.js";
import { parseDurationMs, parseInteger, parsePartitionCount } from "../../config/values.js";
import { validatePrefix } from "../../protocol/subjects.js";
import { connectWithRetry } from "../../shared/connect.js";
import { createLogger } from "../../shared/log.js";
import { DEFAULT_PREFIX } from "../../streams/layout.js";
import { resolveTailTarget, startSequence, tailLines, type TailLine, type TailStart } from "../../streams/tail.js";

interface TailFlags extends ConnectionFlagValues {
  prefix: string;
  host?: string;
  partition?: string;
  partitions?: string;
  since?: string;
  last?: string;
  all?: boolean;
  count?: string;
  json?: boolean;
}

export function registerTail(program: Command): void {
  const cmd = program
    .command("tail")
    .description("show the lines of a host or a partition live (Ctrl-C to stop)")
    .option("--host <host>", "the host whose lines to show")
    .option("--partition <id>", "the partition whose lines to show")
    .addOption(new Option("--prefix <prefix>", "subject prefix of the lines").env("SHIPPER_SUBJECT").default(DEFAULT_PREFIX))
    .addOption(
      new Option("--partitions <n>", "partition count, when the deployment has no layout record").env("SHIPPER_PARTITIONS"),
    )
    .addOption(new Option("--since <duration>", "start with the lines stored in the last <duration> (e.g. 10m)").conflicts(["last", "all"]))
    .addOption(new Option("--last <n>", "start with the last <n> stored lines").conflicts(["all"]))
    .option("--all", "start with the first stored line")
    .option("--count <n>", "stop after <n> lines")
    .option("--json", "print one JSON object per line");
  addConnectionFlags(cmd).action(async (flags: TailFlags) => {
    await runCommand("tail", async (signal) => {
      const prefix = flags.prefix.trim();
      const bad = validatePrefix(prefix);
      if (bad) throw new ConfigError(`--prefix / SHIPPER_SUBJECT: ${bad}`);
      const start: TailStart = flags.all
        ? { from: "all" }
        : flags.last !== undefined
          ? { from: "last", count: parseInteger("--last", flags.last, 1) }
          : flags.since !== undefined
            ? { from: "since", ms: parseDurationMs("--since", flags.since) }
            : { from: "new" };
      if ((flags.host === undefined) === (flags.partition === undefined)) {
        throw new ConfigError("shipper tail needs exactly one of --host <name> or --partition <id>");
      }
      const count = flags.count !== undefined ? parseInteger("--count", flags.count, 1) : undefined;
      const request = {
        prefix,
        host: flags.host?.trim(),
        partition: flags.partition !== undefined ? parseInteger("--partition", flags.partition, 0) : undefined,
        partitions: parsePartitionCount("--partitions / SHIPPER_PARTITIONS", flags.partitions),
      };
      const settings = settingsFromFlags(flags, { requireUrl: false, name: "shipper tail" });
      const nc = await connectWithRetry(settings, createLogger("tail"), signal);
      try {
        const target = await resolveTailTarget(nc, request);
        const from = await startSequence(nc, target, start);
        process.stderr.write(
          `shipper tail: ${target.filter} in stream ${target.stream}` +
            (target.host !== undefined ? ` (partition ${target.partition}, count from ${target.partitionsFrom})` : "") +
            `, from ${from === "all" ? "the first stored line" : `stream sequence ${from}`}; Ctrl-C to stop\n`,
        );
        for await (const line of tailLines(nc, prefix, target, from, { signal, count })) {
          process.stdout.write(flags.json ? JSON.stringify(line) + "\n" : formatLine(line));
        }
      } finally {
        await nc.close();
      }
    });
  });
}

/** `<time> <stream>#<seq> <host> <subject> | <line>`: the line last, after a separator, as it may hold anything. */
export function formatLine(l: TailLine): string {
  return `${l.time} ${l.stream}#${l.seq} ${l.host} ${l.subject} | ${l.line}\n`;
}
