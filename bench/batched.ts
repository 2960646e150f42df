// Agent throughput with optional batching (agent --batch-lines, src/protocol/batch.ts): many lines
// of the file in one message, so the stream's message count says little. Lines stored are counted
// from the last stored message's id instead: its offset is the end of the last line it holds, and
// the file's line ends turn that offset into a line count (one small request per poll, however
// large the batches). The run is then checked once in full: every stored message's Shipper-Batch
// count (headers only) must add up to the file's lines, so a batch stored twice is seen.
import { join } from "node:path";
import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { BenchContext } from "./main.js";
import { partitionOf } from "../src/protocol/partition.js";
import { lineSubject } from "../src/protocol/subjects.js";
import { MSG_ID_HEADER } from "../src/protocol/headers.js";
import { parseMsgId } from "../src/protocol/msg-id.js";
import { BATCH_HEADER, parseBatchCount } from "../src/protocol/batch.js";
import { streamFor } from "../src/streams/layout.js";
import { linesUpTo, writeIndexedHostLog } from "./workload.js";
import { startAgent } from "./shipper.js";
import { ONE_HOST_CEILING_KEY } from "./ceiling.js";
import { watchProgress, progressRate } from "./progress.js";
import { repeat, log } from "./repeat.js";
import { guarded, skipAll, type Figure } from "./results.js";
import { agentNotes, runHost } from "./agent.js";

export const BATCH_LINES = 1000;
/** The agent flags of every batched measurement: bytes enough for 1,000 lines of ~120 bytes (the 64 KiB default holds ~500). */
export const BATCH_ARGS = ["--batch-lines", String(BATCH_LINES), "--batch-bytes", "256KiB"];

/** Whether this agent build has --batch-lines. */
export function agentBatches(help: string): boolean {
  return /--batch-lines/.test(help);
}

function hostStream(ctx: BenchContext, host: string): { stream: string; subject: string } {
  const partition = partitionOf(host, ctx.config.partitions);
  return { stream: streamFor(ctx.bench.layout, partition), subject: lineSubject(ctx.config.prefix, partition, host) };
}

/** Lines of the file stored so far: those up to the offset in the last stored message's id. */
export function storedLinesOf(ctx: BenchContext, host: string, ends: Float64Array): () => Promise<number> {
  const { stream, subject } = hostStream(ctx, host);
  return async () => {
    const last = await ctx.bench.jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
    const id = last?.header?.get(MSG_ID_HEADER);
    const parsed = id ? parseMsgId(id) : undefined;
    return parsed ? linesUpTo(ends, parsed.offset) : 0;
  };
}

/** Every line the stream holds for the host, from the messages' Shipper-Batch counts (headers only). */
export async function countStoredLines(ctx: BenchContext, host: string): Promise<{ lines: number; messages: number }> {
  const { stream, subject } = hostStream(ctx, host);
  const info = await ctx.bench.jsm.streams.info(stream, { subjects_filter: subject });
  const total = info.state.subjects?.[subject] ?? 0;
  let lines = 0;
  let messages = 0;
  if (total === 0) return { lines, messages };
  const consumer = await jetstream(ctx.bench.nc).consumers.get(stream, { filter_subjects: subject, headers_only: true, deliver_policy: DeliverPolicy.All });
  const iter = await consumer.consume({ max_messages: 1000 });
  try {
    for await (const m of iter) {
      lines += parseBatchCount(m.headers?.get(BATCH_HEADER)) ?? 1;
      if (++messages >= total) break;
    }
  } finally {
    await iter.close();
  }
  return { lines, messages };
}

export async function measureAgentBatched(ctx: BenchContext): Promise<Figure[]> {
  const base = {
    key: "agent.batched_throughput", label: `agent with batching (--batch-lines ${BATCH_LINES}), file to stream`, group: "Agent",
    unit: "lines/s" as const, ceiling: ONE_HOST_CEILING_KEY, target: ">= 1,000,000 lines/s",
  };
  const missing = ctx.shipper.missing("agent") ?? (agentBatches(ctx.shipper.agentHelp) ? undefined : "`shipper agent` has no --batch-lines in this build");
  if (missing) return skipAll([base], missing);
  return await guarded([base], async () => {
    const { config } = ctx;
    const peaks: number[] = [];
    const perMessage: number[] = [];
    log(`agent with batching: ${config.lines} lines, ${config.runs} run(s)`);
    const result = await repeat(config.runs, async (run) => {
      await ctx.bench.resetStreams();
      const dir = ctx.workDir(`agent-batched-r${run}`);
      const host = runHost("batched", run);
      const file = join(dir, "syslog");
      const { ends } = await writeIndexedHostLog(file, host, config.lines, run + 1);
      const stored = storedLinesOf(ctx, host, ends);
      const agent = startAgent({ url: ctx.bench.url, config, file, host, logFile: join(dir, "agent.log"), extraArgs: BATCH_ARGS });
      try {
        // Polled often: at a million lines a second a run of the small size lasts a tenth of a second.
        const p = await watchProgress({ read: stored, target: config.lines, everyMs: 5, stallMs: config.stallMs, check: () => agent.assertRunning("shipper agent") });
        peaks.push(agent.peakMB());
        if (!p.reached) throw new Error(`the agent with batching stalled at ${p.final} of ${config.lines} lines stored`);
        const check = await countStoredLines(ctx, host);
        if (check.lines < config.lines) throw new Error(`the stream holds ${check.lines} of ${config.lines} lines though the last line is stored`);
        perMessage.push(check.lines / check.messages);
        const notes = check.lines > config.lines ? [`${check.lines - config.lines} lines stored twice`] : [];
        return { value: progressRate(p, config.lines, p.firstValue), notes };
      } finally {
        const code = await agent.stop();
        if (code !== 0) log(`agent exited with code ${code}; log in ${dir}`);
      }
    });
    const [fewest, most] = [Math.min(...perMessage), Math.max(...perMessage)].map((n) => n.toFixed(0));
    const notes = [
      ...agentNotes(ctx, BATCH_ARGS), ...result.notes,
      `${fewest === most ? fewest : `${fewest}-${most}`} lines a message on average (--batch-bytes 256KiB caps a batch too)`,
      `peak resident memory ${Math.max(...peaks).toFixed(1)} MB`,
    ];
    return [{ ...base, value: result.value, runs: result.runs, notes }];
  }, ctx.failed);
}
