// Latency: at a fixed offered rate, lines carrying their own timestamp are appended to the source
// file; the output file is read as it grows, and each line's arrival time minus its timestamp is its
// latency (same process, same clock). Reported: p50, p99, max, and lines missing.
import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "./main.js";
import { syslogLines } from "../src/demo/syslog-generator.js";
import { startAgent, startCollector, type RunningShipper } from "./shipper.js";
import { OutputTree } from "./progress.js";
import { log, sleep } from "./repeat.js";
import { skipAll, guarded, type Figure } from "./results.js";
import { runHost, agentNotes } from "./agent.js";
import { collectorReady } from "./end-to-end.js";
import { percentileOfSorted } from "./stats.js";

const GROUP = "Latency";
const STAMP = / seq=(-?\d+) t=([\d.]+)$/;

/** Follows a growing file and hands over each complete line with the time it was seen. */
class FileReader {
  private fd?: number;
  private offset = 0;
  private rest = "";
  private readonly buf = Buffer.alloc(1 << 20);

  constructor(private readonly find: () => string | undefined) {}

  poll(onLine: (line: string, at: number) => void): void {
    if (this.fd === undefined) {
      const path = this.find();
      if (!path) return;
      this.fd = openSync(path, "r");
    }
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n === 0) return;
      const at = performance.now();
      this.offset += n;
      const lines = (this.rest + this.buf.toString("utf8", 0, n)).split("\n");
      this.rest = lines.pop()!;
      for (const line of lines) onLine(line, at);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

export async function measureLatency(ctx: BenchContext): Promise<Figure[]> {
  const { config } = ctx;
  const label = `at ${config.latencyRate.toLocaleString("en-US")} lines/s offered, appended to in the output file`;
  const figures = [
    { key: "latency.p50", label: `p50 ${label}`, group: GROUP, unit: "ms" as const },
    { key: "latency.p99", label: `p99 ${label}`, group: GROUP, unit: "ms" as const, target: "<= 50 ms" },
    { key: "latency.max", label: `max ${label}`, group: GROUP, unit: "ms" as const },
  ];
  const missing = ctx.shipper.missing("agent") ?? ctx.shipper.missing("collector");
  if (missing) return skipAll(figures, missing);
  return await guarded(figures, () => latencyRun(ctx, figures), ctx.failed);
}

async function latencyRun(ctx: BenchContext, figures: Array<Omit<Figure, "value">>): Promise<Figure[]> {
  const { config } = ctx;
  await ctx.bench.resetStreams();
  const dir = ctx.workDir("latency");
  const host = runHost("latency", 0);
  const file = join(dir, "syslog");
  writeFileSync(file, "");
  const out = join(dir, "out");
  const tree = new OutputTree(out, 1);
  const total = config.latencyRate * config.latencySeconds;
  const latencies = new Float64Array(total);
  const seen = new Uint8Array(total);
  let received = 0;
  let duplicates = 0;
  let warmedUp = false;
  const reader = new FileReader(() => tree.paths()[0]);
  const onLine = (line: string, at: number) => {
    const m = STAMP.exec(line);
    if (!m) return;
    const seq = Number(m[1]);
    if (seq < 0) {
      warmedUp = true;
      return;
    }
    if (seen[seq]) {
      duplicates++;
      return;
    }
    seen[seq] = 1;
    latencies[seq] = at - Number(m[2]);
    received++;
  };

  const collector: RunningShipper = startCollector({ url: ctx.bench.url, config, directory: out, logFile: join(dir, "collector.log") });
  let agent: RunningShipper | undefined;
  const fd = openSync(file, "a");
  const readTimer = setInterval(() => reader.poll(onLine), 1);
  try {
    await collectorReady(ctx, collector);
    agent = startAgent({ url: ctx.bench.url, config, file, host, logFile: join(dir, "agent.log") });
    const alive = () => {
      agent!.assertRunning("shipper agent");
      collector.assertRunning("shipper collector");
    };
    const text = [...syslogLines({ host, lines: 1000, seed: 7 })];
    const stamped = (seq: number, t: number) => `${text[(seq + 1000) % 1000]} seq=${seq} t=${t.toFixed(3)}\n`;
    // One line through the whole path first: both programs connected and following.
    writeSync(fd, stamped(-1, performance.now()));
    const readyBy = Date.now() + config.stallMs;
    while (!warmedUp) {
      alive();
      if (Date.now() > readyBy) throw new Error("the first line never reached the output file");
      await sleep(10);
    }
    log(`latency: ${total} lines at ${config.latencyRate} lines/s`);
    let sent = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const writer = setInterval(() => {
        const now = performance.now();
        const due = Math.min(total, Math.floor(((now - started) / 1000) * config.latencyRate));
        let chunk = "";
        for (; sent < due; sent++) chunk += stamped(sent, now);
        if (chunk) writeSync(fd, chunk);
        if (sent >= total) {
          clearInterval(writer);
          resolve();
        }
      }, 5);
    });
    const offeredSeconds = (performance.now() - started) / 1000;
    let lastReceived = received;
    let lastChange = Date.now();
    while (received < total && Date.now() - lastChange < Math.min(config.stallMs, 15_000)) {
      alive();
      await sleep(20);
      if (received !== lastReceived) {
        lastReceived = received;
        lastChange = Date.now();
      }
    }
    const arrived = latencies.filter((_, i) => seen[i] === 1).sort();
    const notes = [`${received} of ${total} lines arrived, ${duplicates} twice; offered for ${offeredSeconds.toFixed(1)} s`, ...agentNotes(ctx)];
    return [
      { ...figures[0]!, value: percentileOfSorted(arrived, 50), notes },
      { ...figures[1]!, value: percentileOfSorted(arrived, 99) },
      { ...figures[2]!, value: arrived.length > 0 ? arrived[arrived.length - 1] : Number.NaN },
    ];
  } finally {
    clearInterval(readTimer);
    reader.close();
    closeSync(fd);
    for (const proc of [agent, collector]) await proc?.stop();
  }
}
