// `shipper dlq`: the dead-letter store (Part 9). list | show <#> | retry <#>|--all | purge --yes
// manage the entries of SHIPPER_DLQ; `worker` runs the dead-letter worker on its own (the
// collector runs one too).
import { Command, Option } from "commander";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { aborted, runCommand, EXIT_CONFIG, EXIT_FAILURE } from "../run.js";
import { ConfigError } from "../../config/errors.js";
import { parseDurationMs, parseInteger } from "../../config/values.js";
import { validatePrefix } from "../../protocol/subjects.js";
import { connectWithRetry } from "../../shared/connect.js";
import { createLogger } from "../../shared/log.js";
import { DEFAULT_PREFIX } from "../../streams/layout.js";
import { readLayoutRecord } from "../../streams/layout-record.js";
import { DeadLetterStore } from "../../deadletter/store.js";
import { entryJson, renderEntry, renderList } from "../../deadletter/render.js";
import { retryDeadLetter, RetryRefused, type RetryResult } from "../../deadletter/retry.js";
import { startDeadLetterWorker } from "../../deadletter/worker.js";
import { DLQ_STREAM } from "../../deadletter/names.js";
import type { NatsConnection } from "@nats-io/transport-node";

const out = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

/** Connects (with visible retries), runs `body`, closes. */
async function withConnection(
  name: string,
  flags: ConnectionFlagValues,
  signal: AbortSignal,
  body: (nc: NatsConnection) => Promise<number | void>,
): Promise<number | void> {
  const settings = settingsFromFlags(flags, { requireUrl: false, name: `shipper ${name}` });
  const nc = await connectWithRetry(settings, createLogger(name.replace(" ", "-")), signal);
  try {
    return await body(nc);
  } finally {
    await nc.close();
  }
}

function seqArgument(raw: string): number {
  return parseInteger("the dead letter number (DLQ #)", raw, 1);
}

export function registerDlq(program: Command): void {
  const dlq = program
    .command("dlq")
    .description(`the dead letters in ${DLQ_STREAM}: lines a collector gave up on (terminated, or out of deliveries) and lines agents could not send`);

  addConnectionFlags(
    dlq
      .command("list")
      .description("a table of the dead letters: number, time, reason, origin (stream#seq), subject, deliveries, size")
      .option("--json", "print them as JSON (without the lines; see show)")
      .option("--limit <n>", "show only the first n"),
  ).action(async (flags: ConnectionFlagValues & { json?: boolean; limit?: string }) => {
    await runCommand("dlq list", async (signal) => {
      const limit = flags.limit === undefined ? undefined : parseInteger("--limit", flags.limit, 1);
      return withConnection("dlq list", flags, signal, async (nc) => {
        const store = await DeadLetterStore.open(nc);
        const { entries, total } = await store.list(limit);
        out(flags.json ? JSON.stringify(entries.map((e) => entryJson(e, false)), null, 2) : renderList(entries, total));
      });
    });
  });

  addConnectionFlags(
    dlq
      .command("show")
      .description("one dead letter: its headers and its line")
      .argument("<number>", "the dead letter's number (DLQ # in the list)")
      .option("--json", "print it as JSON (the line as text and as base64)"),
  ).action(async (raw: string, flags: ConnectionFlagValues & { json?: boolean }) => {
    await runCommand("dlq show", async (signal) => {
      const seq = seqArgument(raw);
      return withConnection("dlq show", flags, signal, async (nc) => {
        const entry = await (await DeadLetterStore.open(nc)).get(seq);
        if (!entry) {
          err(`shipper dlq show: there is no dead letter #${seq} in ${DLQ_STREAM} (see \`shipper dlq list\`)`);
          return EXIT_FAILURE;
        }
        out(flags.json ? JSON.stringify(entryJson(entry, true), null, 2) : renderEntry(entry));
      });
    });
  });

  addConnectionFlags(
    dlq
      .command("retry")
      .description(
        "send dead letters' lines again to their subjects (stored once even if retried twice), then remove them from the store; " +
          "the collector writes each line once",
      )
      .argument("[number]", "the dead letter's number (DLQ # in the list)")
      .option("--all", "retry every dead letter"),
  ).action(async (raw: string | undefined, flags: ConnectionFlagValues & { all?: boolean }) => {
    await runCommand("dlq retry", async (signal) => {
      if ((raw === undefined) === (flags.all !== true)) {
        throw new ConfigError("shipper dlq retry: give either one dead letter number or --all");
      }
      const one = raw === undefined ? undefined : seqArgument(raw);
      return withConnection("dlq retry", flags, signal, async (nc) => {
        const store = await DeadLetterStore.open(nc);
        const seqs = one !== undefined ? [one] : (await store.list()).entries.map((e) => e.seq);
        if (seqs.length === 0) {
          out(`The dead-letter stream ${DLQ_STREAM} is empty; nothing to retry.`);
          return 0;
        }
        let refused = 0;
        for (const seq of seqs) {
          if (signal.aborted) break;
          try {
            out(describeRetry(await retryDeadLetter(store, seq)));
          } catch (e) {
            if (!(e instanceof RetryRefused)) throw e;
            refused++;
            err(`shipper dlq retry: ${e.message}${e.missing ? "" : `; it stays in ${DLQ_STREAM}`}`);
          }
        }
        if (seqs.length > 1) {
          out(`Retried ${seqs.length - refused} of ${seqs.length} dead letters${refused > 0 ? `; ${refused} could not be retried and stay in ${DLQ_STREAM}` : ""}.`);
        }
        return refused > 0 ? EXIT_FAILURE : 0;
      });
    });
  });

  addConnectionFlags(
    dlq
      .command("purge")
      .description(`remove every dead letter from ${DLQ_STREAM} (their lines are gone for good)`)
      .option("--yes", "really remove them"),
  ).action(async (flags: ConnectionFlagValues & { yes?: boolean }) => {
    await runCommand("dlq purge", async (signal) =>
      withConnection("dlq purge", flags, signal, async (nc) => {
        const store = await DeadLetterStore.open(nc);
        const { total } = await store.list(0);
        if (total === 0) {
          out(`The dead-letter stream ${DLQ_STREAM} is empty; nothing to purge.`);
          return 0;
        }
        if (flags.yes !== true) {
          err(
            `shipper dlq purge: this removes all ${total} dead letter${total === 1 ? "" : "s"} from ${DLQ_STREAM} for good; ` +
              "run it again with --yes to do so (see them first with `shipper dlq list`)",
          );
          return EXIT_CONFIG;
        }
        const purged = await store.purge();
        out(`Removed ${purged} dead letter${purged === 1 ? "" : "s"} from ${DLQ_STREAM}.`);
      }),
    );
  });

  addConnectionFlags(
    dlq
      .command("worker")
      .description(
        "copy the lines the deployment's collector consumers give up on into the dead-letter stream (the collector runs this worker too); " +
          "reads the advisories kept in SHIPPER_ADVISORIES, so nothing is missed while no worker runs",
      )
      .addOption(new Option("--prefix <prefix>", "subject prefix of the deployment").env("SHIPPER_SUBJECT").default(DEFAULT_PREFIX))
      .option("--retry-delay <duration>", "wait before a failed copy is tried again", "5s"),
  ).action(async (flags: ConnectionFlagValues & { prefix: string; retryDelay: string }) => {
    await runCommand("dlq worker", async (signal) => {
      const prefix = flags.prefix.trim();
      const bad = validatePrefix(prefix);
      if (bad) throw new ConfigError(`--prefix / SHIPPER_SUBJECT: ${bad}`);
      const retryDelayMs = parseDurationMs("--retry-delay", flags.retryDelay);
      if (retryDelayMs < 100) throw new ConfigError(`--retry-delay must be at least 100ms, got "${flags.retryDelay}"`);
      const log = createLogger("dlq-worker");
      const settings = settingsFromFlags(flags, { requireUrl: false, name: "shipper dlq worker" });
      let nc: NatsConnection;
      try {
        nc = await connectWithRetry(settings, log, signal);
      } catch (e) {
        if (signal.aborted) return 0;
        throw e;
      }
      try {
        const layout = await readLayoutRecord(nc, prefix);
        if (!layout) {
          throw new ConfigError(`no layout is recorded for prefix "${prefix}"; run \`shipper setup --prefix ${prefix}\` first`);
        }
        const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs });
        await aborted(signal);
        await worker.stop();
      } finally {
        await nc.flush().catch(() => undefined);
        await nc.close();
      }
    });
  });
}

function describeRetry(r: RetryResult): string {
  const seqs = r.streamSeqs;
  const at = seqs.length === 1 ? `#${seqs[0]}` : `#${seqs[0]}..#${seqs[seqs.length - 1]} (${seqs.length} lines of a batch, one message each)`;
  const dup =
    r.duplicates === 0
      ? ""
      : ` (${r.duplicates === seqs.length ? "already" : `${r.duplicates} of them already`} stored by an earlier retry of the same entry; not stored again)`;
  const removed = r.removed ? `removed from ${DLQ_STREAM}` : `it was already gone from ${DLQ_STREAM}`;
  return `retried #${r.dlqSeq}: ${r.subject} -> stream ${r.stream} ${at}${dup}; ${removed}`;
}
