// The ceiling: the fastest plain client this machine runs against the same streams, in lines/s.
// (a) core publish, no acks; (b) pipelined JetStream publish with every PubAck matched; (c) the same
// with a Nats-Msg-Id header per message; (d) for reference, `js.publish()` awaited in windows of 1000.
// Streams are made afresh before every run (a purge keeps nats-server 2.9's map of message ids).
import { jetstream } from "@nats-io/jetstream";
import type { BenchConfig } from "./options.js";
import type { BenchServer } from "./server.js";
import { FleetLog } from "./workload.js";
import { agentFormMsgIds, publishAcked, type AckedPublishResult, type LineSource } from "./acked-publisher.js";
import { repeat, sleep, log, type RunOutcome } from "./repeat.js";
import type { Figure } from "./results.js";
import { median, rate } from "./stats.js";
import { CpuMeter, cpuOfPid, ownCpuSeconds, describeCpu, cpuTotal, type CpuPerLine } from "./cpu.js";

/** The ceiling of the fleet log (many hosts, every partition): collector and scale compare with it. */
export const CEILING_KEY = "ceiling.async_acked";
/** The same for one host (one subject, one stream), exactly what one agent publishes. */
export const ONE_HOST_CEILING_KEY = "ceiling.async_acked_one_host";
/** CPU per line (server + client) of the one-host ceiling: the agent's CPU per line is compared with it. */
export const ONE_HOST_CPU_KEY = "ceiling.one_host_cpu_per_line";
const GROUP = "Ceiling";

/** Waits until the streams hold `expected` messages or stop growing; returns the count and when it was reached. */
async function waitStored(bench: BenchServer, expected: number, quietMs = 2_000): Promise<{ stored: number; at: number }> {
  let last = -1;
  let at = performance.now();
  while (true) {
    const stored = await bench.storedMessages();
    if (stored !== last) {
      last = stored;
      at = performance.now();
    }
    if (stored >= expected || performance.now() - at > quietMs) return { stored, at };
    await sleep(10);
  }
}

async function corePublish(bench: BenchServer, log_: FleetLog): Promise<RunOutcome> {
  const nc = bench.nc;
  const started = performance.now();
  for (let i = 0; i < log_.count; i++) {
    nc.publish(log_.subject(i), log_.data(i));
    // Let the socket drain now and then instead of buffering the whole log in the client.
    if (i % 2_000 === 1_999) await new Promise((r) => setImmediate(r));
  }
  await nc.flush();
  const flushed = performance.now();
  const { stored, at } = await waitStored(bench, log_.count);
  // Stored, not just sent: the server may still be writing when the flush returns.
  const notes = stored === log_.count ? ["all stored"] : [`${stored} of ${log_.count} stored`];
  return { value: rate(stored, (Math.max(at, flushed) - started) / 1000), notes };
}

function ackedNotes(r: AckedPublishResult): string[] {
  const notes = [`${r.acked} acked, ${r.errors} errors, ${r.missing} missing, ${r.duplicates} duplicates`];
  if (r.firstError) notes.push(`first error: ${r.firstError}`);
  return notes;
}

/** The fleet's lines, all on the subject of its first host: the traffic of one agent. */
function oneHost(log_: FleetLog): LineSource {
  const subject = log_.subjects[0]!;
  return { count: log_.count, subject: () => subject, data: (i) => log_.data(i) };
}

async function ackedRun(bench: BenchServer, log_: FleetLog, config: BenchConfig, withIds: boolean, source: LineSource = log_, cpu?: CpuPerLine[]): Promise<RunOutcome> {
  const meter = new CpuMeter({ server: cpuOfPid(bench.server.pid ?? -1), client: ownCpuSeconds });
  meter.start();
  const result = await publishAcked(bench.nc, source, {
    window: config.window,
    stallMs: config.stallMs,
    msgId: withIds ? agentFormMsgIds(log_.hosts) : undefined,
  });
  const good = result.acked - result.errors - result.duplicates;
  const used = meter.perLine(good);
  if (used) cpu?.push(used);
  return { value: rate(good, result.seconds), notes: ackedNotes(result) };
}

async function jsPublishWindows(bench: BenchServer, log_: FleetLog, lines: number): Promise<RunOutcome> {
  const js = jetstream(bench.nc);
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  for (let from = 0; from < lines; from += 1_000) {
    const to = Math.min(lines, from + 1_000);
    const acks = [];
    for (let i = from; i < to; i++) acks.push(js.publish(log_.subject(i), log_.data(i)));
    for (const r of await Promise.allSettled(acks)) {
      if (r.status === "rejected") {
        errors++;
        firstError ??= String(r.reason);
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const notes = [`${lines} lines, ${errors} errors`];
  if (firstError) notes.push(`first error: ${firstError}`);
  return { value: rate(lines - errors, seconds), notes };
}

/** A short run of each kind first, so the client's JIT and the server's store are warm. */
async function warmUp(bench: BenchServer, log_: FleetLog, config: BenchConfig): Promise<void> {
  const lines = Math.min(log_.count, 20_000);
  const part: LineSource = { count: lines, subject: (i) => log_.subject(i), data: (i) => log_.data(i) };
  await ackedRun(bench, log_, config, false, part);
  await ackedRun(bench, log_, config, true, part);
  await bench.resetStreams();
}

export async function measureCeiling(bench: BenchServer, log_: FleetLog, config: BenchConfig): Promise<Figure[]> {
  const figures: Figure[] = [];
  log("ceiling: warming up");
  await warmUp(bench, log_, config);
  const measure = async (base: Omit<Figure, "group" | "unit">, once: () => Promise<RunOutcome>): Promise<void> => {
    log(`ceiling: ${base.label}`);
    const { value, runs, notes } = await repeat(config.runs, async () => {
      await bench.resetStreams();
      return await once();
    });
    figures.push({ ...base, group: GROUP, unit: "lines/s", value, runs, notes, ceiling: CEILING_KEY });
  };
  await measure({ key: "ceiling.core_publish", label: "core publish, no acks (stored)" }, () => corePublish(bench, log_));
  await measure({ key: CEILING_KEY, label: `JetStream publish, async, every ack matched (${config.window} in flight)` }, () => ackedRun(bench, log_, config, false));
  await measure({ key: "ceiling.async_acked_msgid", label: "same, with a Nats-Msg-Id header per message (agent's id form)" }, () => ackedRun(bench, log_, config, true));
  const oneHostCpu: CpuPerLine[] = [];
  await measure({ key: ONE_HOST_CEILING_KEY, label: "JetStream publish, async, acked: one host (one subject, one stream)" }, () => ackedRun(bench, log_, config, false, oneHost(log_), oneHostCpu));
  figures.push(cpuFigure({ key: ONE_HOST_CPU_KEY, label: "CPU per line of C1: server + client", group: GROUP }, oneHostCpu));
  const refLines = Math.min(config.referenceLines, log_.count);
  await measure({ key: "ceiling.js_publish_windows", label: `js.publish() awaited in windows of 1000 (${refLines} lines)` }, () => jsPublishWindows(bench, log_, refLines));
  await bench.resetStreams();
  return figures;
}

/** A CPU-per-line figure from every run's measurement: server + publisher, median of runs. */
export function cpuFigure(base: Omit<Figure, "unit" | "value">, runs: CpuPerLine[]): Figure {
  if (runs.length === 0) return { ...base, unit: "us/line", skipped: "no CPU figures (not Linux /proc?)" };
  const totals = runs.map(cpuTotal);
  const mid = runs[totals.indexOf(median(totals))] ?? runs[0]!;
  return { ...base, unit: "us/line", value: median(totals), runs: totals, notes: [`median run: ${describeCpu(mid)}`] };
}
