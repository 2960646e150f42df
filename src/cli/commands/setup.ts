// `shipper setup`: creates or updates the JetStream layout, idempotently, and records it.
import { Command, Option } from "commander";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { runCommand, EXIT_CONFIG, EXIT_FAILURE } from "../run.js";
import { ConfigError } from "../../config/errors.js";
import { parseBytes, parseDurationMs, parseInteger, parsePartitionCount } from "../../config/values.js";
import { validatePrefix } from "../../protocol/subjects.js";
import { connectWithRetry } from "../../shared/connect.js";
import { createLogger } from "../../shared/log.js";
import { DEFAULT_PREFIX, type LayoutKind } from "../../streams/layout.js";
import { defaultStreamSettings, type StorageKind, type StreamSettings } from "../../streams/desired.js";
import { applySetupPlan, planSetupOnServer, SetupStepError, type SetupRequest } from "../../streams/setup.js";
import { describeAction, describeDeadLetterSummary, describeLayout, describeRefusals, describeSummary } from "../../streams/setup-text.js";
import { formatDurationMs } from "../../streams/units.js";
import { DEFAULT_DLQ_MAX_AGE_MS } from "../../deadletter/desired.js";

interface SetupFlags extends ConnectionFlagValues {
  prefix: string;
  partitions?: string;
  layout?: string;
  stream?: string;
  consumer?: string;
  storage: string;
  maxAge: string;
  maxBytes: string;
  maxMsgs: string;
  replicas: string;
  duplicateWindow: string;
  ackWait: string;
  maxDeliver: string;
  maxAckPending: string;
  seed?: boolean;
  streamTarget?: string;
  dryRun?: boolean;
  deadLetters: boolean;
  dlqMaxAge: string;
}

export function registerSetup(program: Command): void {
  const cmd = program
    .command("setup")
    .description(
      "create or update the JetStream streams and consumers of a deployment (idempotent) and record its layout; " +
        "flags left out keep the deployment's partition count, layout and names",
    )
    .addOption(new Option("--prefix <prefix>", "subject prefix of the lines").env("SHIPPER_SUBJECT").default(DEFAULT_PREFIX))
    .addOption(
      new Option("--partitions <n>", "partition count (default: the deployment's, or 10 for a new one)").env("SHIPPER_PARTITIONS"),
    )
    .addOption(
      new Option("--layout <kind>", "per-partition: one stream per partition (Part 8); single: one stream, filtered consumers").choices([
        "per-partition",
        "single",
      ]),
    )
    .option("--stream <name>", "stream name, or base of the per-partition names <name>_<i> (default LOGS)")
    .option("--consumer <name>", "durable name of the collector's pull consumers (default COLLECTOR)")
    .addOption(new Option("--storage <kind>", "stream storage").choices(["file", "memory"]).default("file"))
    .option("--max-age <duration>", "how long lines are kept (0: forever)", "1d")
    .option("--max-bytes <size>", "size limit of each stream (-1: none)", "-1")
    .option("--max-msgs <n>", "message limit of each stream (-1: none)", "-1")
    .option("--replicas <n>", "copies of each stream in a cluster", "1")
    .option("--duplicate-window <duration>", "how long message ids are remembered for de-duplication; the server keeps each id in memory that long, ~200 bytes each (2m at 100k lines/s: ~2.4 GB)", "2m")
    .option("--ack-wait <duration>", "collector consumers: redeliver a line not acknowledged after this long", "30s")
    .option("--max-deliver <n>", "collector consumers: deliveries of a line before it is given up (-1: no limit)", "10")
    .option("--max-ack-pending <n>", "collector consumers: unacknowledged lines a collector may hold per partition", "100000")
    .option("--seed", "also create the article's push consumers TAIL delivering to <stream-target>.p<i>")
    .addOption(
      new Option("--stream-target <prefix>", "delivery subject prefix of the --seed push consumers (default out.<prefix>)").env(
        "SHIPPER_STREAM_TARGET",
      ),
    )
    .option("--dlq-max-age <duration>", "how long the dead-letter store keeps dead letters (0: forever)", formatDurationMs(DEFAULT_DLQ_MAX_AGE_MS))
    .option("--no-dead-letters", "leave out the dead-letter store (streams SHIPPER_DLQ, SHIPPER_ADVISORIES and the worker's consumer)")
    .option("--dry-run", "print the plan; change nothing");
  addConnectionFlags(cmd).action(async (flags: SetupFlags) => {
    await runCommand("setup", async (signal) => {
      const request = setupRequestFromFlags(flags);
      const settings = settingsFromFlags(flags, { requireUrl: false, name: "shipper setup" });
      const log = createLogger("setup");
      const nc = await connectWithRetry(settings, log, signal);
      try {
        return await setup(nc, request, flags.dryRun === true);
      } finally {
        await nc.close();
      }
    });
  });
}

async function setup(nc: Parameters<typeof planSetupOnServer>[0], request: SetupRequest, dryRun: boolean): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const plan = await planSetupOnServer(nc, request);
  if (plan.refusals.length > 0) {
    process.stderr.write(describeRefusals(plan.refusals).join("\n") + "\n");
    return EXIT_CONFIG;
  }
  const basis = plan.basis === "new deployment" ? "new deployment" : `existing deployment, from its ${plan.basis}`;
  out(`shipper setup${dryRun ? " (dry run)" : ""}: ${describeLayout(plan.layout)} (${basis})`);
  if (dryRun) {
    for (const action of [...plan.actions, ...plan.deadLetterActions]) out(describeAction(action, "planned"));
    out(describeSummary(plan, "planned"));
    const deadLetters = describeDeadLetterSummary(plan, "planned");
    if (deadLetters) out(deadLetters);
    return 0;
  }
  try {
    await applySetupPlan(
      nc,
      plan,
      request.settings.replicas,
      (action) => out(describeAction(action, "done")),
      (action, reason, attempt) =>
        process.stderr.write(`shipper setup: ${describeAction(action, "planned").replace(/^would /, "")}: ${reason}; retrying (attempt ${attempt})\n`),
    );
  } catch (err) {
    if (!(err instanceof SetupStepError)) throw err;
    process.stderr.write(
      `shipper setup: failed to ${describeAction(err.action, "planned").replace(/^would /, "")}: ${err.message}\n` +
        "The steps printed above were done; nothing after this step was. Fix the cause and run setup again.\n",
    );
    return EXIT_FAILURE;
  }
  out(describeSummary(plan, "done"));
  const deadLetters = describeDeadLetterSummary(plan, "done");
  if (deadLetters) out(deadLetters);
  return 0;
}

/** Reads and checks every flag once, up front. */
export function setupRequestFromFlags(flags: SetupFlags): SetupRequest {
  const prefix = flags.prefix.trim();
  const badPrefix = validatePrefix(prefix);
  if (badPrefix) throw new ConfigError(`--prefix / SHIPPER_SUBJECT: ${badPrefix}`);
  const defaults = defaultStreamSettings(prefix);
  const settings: StreamSettings = {
    storage: flags.storage as StorageKind,
    maxAgeMs: parseDurationMs("--max-age", flags.maxAge),
    maxBytes: parseBytes("--max-bytes", flags.maxBytes),
    maxMsgs: parseInteger("--max-msgs", flags.maxMsgs, -1),
    replicas: parseInteger("--replicas", flags.replicas, 1, 5),
    duplicateWindowMs: parseDurationMs("--duplicate-window", flags.duplicateWindow),
    ackWaitMs: parseDurationMs("--ack-wait", flags.ackWait),
    maxDeliver: parseInteger("--max-deliver", flags.maxDeliver, -1),
    maxAckPending: parseInteger("--max-ack-pending", flags.maxAckPending, -1),
    seed: flags.seed === true,
    seedTarget: flags.streamTarget?.trim() || defaults.seedTarget,
  };
  if (settings.maxAgeMs > 0 && settings.duplicateWindowMs > settings.maxAgeMs) {
    throw new ConfigError(
      `--duplicate-window (${flags.duplicateWindow}) must not be longer than --max-age (${flags.maxAge}); the server refuses it`,
    );
  }
  if (settings.ackWaitMs < 1000) throw new ConfigError(`--ack-wait must be at least 1s, got "${flags.ackWait}"`);
  if (settings.maxDeliver === 0) throw new ConfigError("--max-deliver must be 1 or more, or -1 for no limit, got 0");
  if (settings.maxAckPending === 0) throw new ConfigError("--max-ack-pending must be 1 or more, or -1 for no limit, got 0");
  if (settings.seed) {
    const badTarget = validatePrefix(settings.seedTarget);
    if (badTarget) throw new ConfigError(`--stream-target / SHIPPER_STREAM_TARGET: ${badTarget.replace("subject prefix", "delivery prefix")}`);
  }
  return {
    prefix,
    partitions: parsePartitionCount("--partitions / SHIPPER_PARTITIONS", flags.partitions),
    kind: flags.layout as LayoutKind | undefined,
    stream: checkedName("--stream", flags.stream),
    consumer: checkedName("--consumer", flags.consumer),
    settings,
    // The same replicas as the deployment's streams: dead letters deserve the same durability.
    deadLetters:
      flags.deadLetters === false
        ? undefined
        : { maxAgeMs: parseDurationMs("--dlq-max-age", flags.dlqMaxAge ?? formatDurationMs(DEFAULT_DLQ_MAX_AGE_MS)), replicas: settings.replicas },
  };
}

/** Stream and consumer names become subject tokens of the JetStream API. */
function checkedName(setting: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const name = raw.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new ConfigError(`${setting} must be a name of letters, digits, "_" and "-", got "${raw}"`);
  }
  return name;
}
