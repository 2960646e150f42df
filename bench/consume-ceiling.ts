// The consume ceiling: the fastest a plain nats.js client reads the collector's pre-loaded lines
// with a durable pull consumer per partition and AckAll, writing nothing. It is what the collector's
// throughput is compared with: the collector does this reading plus its writing and saved state.
import { jetstream, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { BenchContext } from "./main.js";
import type { FleetLog } from "./workload.js";
import type { Figure } from "./results.js";
import { CEILING_KEY } from "./ceiling.js";
import { CpuMeter, cpuOfPid, ownCpuSeconds } from "./cpu.js";
import { median } from "./stats.js";
import { ACK_EVERY, MAX_MESSAGES, plainConsumerConfig } from "./plain-consume.js";
import { watchProgress } from "./progress.js";
import { perRunNotes } from "./repeat.js";
import { partitionIds, streamFor, consumerFor } from "../src/streams/layout.js";
import { partitionFilter } from "../src/protocol/subjects.js";

export const CONSUME_CEILING_KEY = "ceiling.consume";
/** Durable name of the ceiling's own consumers, beside the collector's (never the same name). */
const CONSUMER = "BENCH_CONSUME";

export interface ConsumeCeilingRun {
  linesPerSecond: number;
  /** CPU per line of server and bench client over the same span, when /proc tells. */
  cpuNote?: string;
}

/**
 * Reads every pre-loaded line once through fresh durable pull consumers (one per partition, all
 * read at once with consume()), from the first line received to the last, then deletes them.
 */
export async function consumeCeiling(ctx: BenchContext, fleet: FleetLog): Promise<ConsumeCeilingRun> {
  const { bench } = ctx;
  const layout = { ...bench.layout, consumer: CONSUMER };
  const parts = partitionIds(layout);
  const made: Array<{ stream: string; name: string }> = [];
  const running: ConsumerMessages[] = [];
  try {
    // Lines per partition, from the new consumer's own count, to know each partition's last line.
    const expected: number[] = [];
    for (const p of parts) {
      const stream = streamFor(layout, p);
      const name = consumerFor(layout, p);
      const info = await bench.jsm.consumers.add(stream, plainConsumerConfig(name, layout.kind === "single" ? partitionFilter(layout.prefix, p) : undefined));
      made.push({ stream, name });
      expected.push(info.num_pending);
    }
    const total = expected.reduce((a, b) => a + b, 0);
    if (total !== fleet.count) throw new Error(`the consume ceiling's consumers see ${total} lines, not the ${fleet.count} pre-loaded`);

    const js = jetstream(bench.nc);
    const cpu = new CpuMeter({ server: cpuOfPid(bench.server.pid ?? -1), client: ownCpuSeconds });
    let received = 0;
    let firstAt = 0;
    let lastAt = 0;
    let cpuNote: string | undefined;
    for (const [i, { stream, name }] of made.entries()) {
      const consumer = await js.consumers.get(stream, name);
      let mine = 0;
      const want = expected[i]!;
      const callback = (m: JsMsg): void => {
        if (received === 0) {
          firstAt = performance.now();
          cpu.start();
        }
        mine++;
        received++;
        if (mine % ACK_EVERY === 0 || mine === want) m.ack();
        if (received === fleet.count) {
          lastAt = performance.now();
          cpuNote = cpu.note(fleet.count);
        }
      };
      if (want === 0) continue;
      running.push(await consumer.consume({ max_messages: MAX_MESSAGES, callback }));
    }
    // No line for stallMs means something is wrong: the table says so, not a hang.
    const p = await watchProgress({ read: () => received, target: fleet.count, everyMs: 20, stallMs: ctx.config.stallMs });
    if (!p.reached) throw new Error(`the consume ceiling stalled at ${p.final} of ${fleet.count} lines`);
    await bench.nc.flush(); // the final acks reach the server before the consumers go
    const seconds = (lastAt - firstAt) / 1000;
    return { linesPerSecond: seconds > 0 ? fleet.count / seconds : Number.NaN, ...(cpuNote ? { cpuNote } : {}) };
  } finally {
    for (const messages of running) messages.stop();
    // Deleted so the collector's stream reset does not carry them into the next run.
    for (const { stream, name } of made) await bench.jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}

/** The figure, median of the runs that were measured (or the reason none was). */
export function consumeCeilingFigure(hosts: number, runs: ConsumeCeilingRun[], failure?: string): Figure {
  const base = {
    key: CONSUME_CEILING_KEY,
    label: `pull consume, AckAll, no writing (${hosts} hosts)`,
    group: "Collector",
    unit: "lines/s" as const,
    ceiling: CEILING_KEY,
  };
  if (runs.length === 0) return { ...base, skipped: failure ?? "not measured" };
  const values = runs.map((r) => r.linesPerSecond);
  const notes = perRunNotes(runs.map((r) => r.cpuNote));
  if (failure) notes.push(`a run failed: ${failure}`);
  return { ...base, value: median(values), runs: values, notes };
}
