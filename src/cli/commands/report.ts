// `shipper report`: like `nats stream report`, one row per stream of the deployment and one row
// per consumer, or the same as JSON.
import { Command, Option } from "commander";
import Table from "cli-table3";
import { addConnectionFlags, settingsFromFlags, type ConnectionFlagValues } from "../connection-flags.js";
import { runCommand } from "../run.js";
import { ConfigError } from "../../config/errors.js";
import { validatePrefix } from "../../protocol/subjects.js";
import { connectWithRetry } from "../../shared/connect.js";
import { createLogger } from "../../shared/log.js";
import { DEFAULT_PREFIX } from "../../streams/layout.js";
import { gatherReport, type DeploymentReport } from "../../streams/report.js";
import { formatBytes, formatCount } from "../../streams/units.js";

interface ReportFlags extends ConnectionFlagValues {
  prefix: string;
  all?: boolean;
  json?: boolean;
}

export function registerReport(program: Command): void {
  const cmd = program
    .command("report")
    .description("show the streams of the deployment and their consumers: messages, bytes, pending, redelivered")
    .addOption(new Option("--prefix <prefix>", "subject prefix of the lines").env("SHIPPER_SUBJECT").default(DEFAULT_PREFIX))
    .option("--all", "every stream of the account, not only the deployment's")
    .option("--json", "print the report as JSON");
  addConnectionFlags(cmd).action(async (flags: ReportFlags) => {
    await runCommand("report", async (signal) => {
      const prefix = flags.prefix.trim();
      const bad = validatePrefix(prefix);
      if (bad) throw new ConfigError(`--prefix / SHIPPER_SUBJECT: ${bad}`);
      const settings = settingsFromFlags(flags, { requireUrl: false, name: "shipper report" });
      const nc = await connectWithRetry(settings, createLogger("report"), signal);
      try {
        const report = await gatherReport(nc, { prefix, all: flags.all === true });
        process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : renderReport(report));
      } finally {
        await nc.close();
      }
    });
  });
}

function time(iso: string | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const PLAIN = { head: [] as string[], border: [] as string[], compact: true };

export function renderReport(report: DeploymentReport): string {
  const lines: string[] = [];
  const l = report.layout;
  lines.push(
    report.source === "layout record" && l
      ? `Streams of prefix "${report.prefix}": ${l.partitions} partitions, ${l.kind} layout (from the layout record)`
      : report.source === "subjects"
        ? `Streams capturing ${report.prefix}.> (no layout record: a deployment made by hand, or not set up)`
        : "All streams of the account",
  );
  if (report.streams.length === 0) {
    lines.push(`No streams found. Run \`shipper setup --prefix ${report.prefix}\` to create them.`);
    return lines.join("\n") + "\n";
  }
  const streams = new Table({
    head: ["Stream", "Subjects", "Consumers", "Messages", "Bytes", "Storage", "Replicas", "First message", "Last message"],
    colAligns: ["left", "left", "right", "right", "right", "left", "right", "left", "left"],
    style: PLAIN,
  });
  for (const s of report.streams) {
    streams.push(
      s.exists
        ? [s.name, s.subjects.join(", "), s.consumers, formatCount(s.messages), formatBytes(s.bytes), s.storage, s.replicas, time(s.firstTime), time(s.lastTime)]
        : [s.name, s.subjects.join(", "), "-", "-", "-", "MISSING", "-", "-", "-"],
    );
  }
  lines.push(streams.toString());
  const missing = report.streams.filter((s) => !s.exists);
  if (missing.length > 0) {
    lines.push(`${missing.length} stream(s) of the layout do not exist (${missing.map((s) => s.name).join(", ")}): run \`shipper setup\` to create them.`);
  }
  const consumers = new Table({
    head: ["Stream", "Consumer", "Kind", "Pending", "Ack pending", "Redelivered", "Last delivered seq", "Ack floor seq"],
    colAligns: ["left", "left", "left", "right", "right", "right", "right", "right"],
    style: PLAIN,
  });
  let any = false;
  for (const s of report.streams) {
    for (const c of s.consumerReports) {
      any = true;
      const kind = c.kind === "push" ? `push -> ${c.deliverSubject}` : c.filterSubject ? `pull ${c.filterSubject}` : "pull";
      consumers.push([
        c.stream,
        c.name,
        kind,
        formatCount(c.pending),
        formatCount(c.ackPending),
        formatCount(c.redelivered),
        formatCount(c.lastDeliveredSeq),
        formatCount(c.ackFloorSeq),
      ]);
    }
  }
  lines.push(any ? consumers.toString() : "No consumers.");
  return lines.join("\n") + "\n";
}
