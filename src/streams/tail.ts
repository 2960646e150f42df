// `shipper tail`: lines of one host or one partition, live, through an ordered consumer (an
// ephemeral, flow-controlled reader the client recreates on gaps, so nothing is skipped). The
// start point is turned into a stream sequence up front, so a recreated consumer resumes from
// the last line seen rather than from the original start.
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { ConfigError } from "../config/errors.js";
import { partitionOf } from "../protocol/partition.js";
import { lineSubject, partitionFilter, SubjectParser, validateHostForSubject } from "../protocol/subjects.js";
import { detectLayout } from "./detect.js";
import { readLayoutRecord } from "./layout-record.js";
import { listStreamInfos } from "./snapshot-read.js";
import { filterCovers } from "./subject-match.js";
import { nanosFromMs } from "./units.js";
import { openJetStreamManager } from "./manager.js";

export type TailStart =
  | { from: "new" }
  | { from: "all" }
  | { from: "last"; count: number }
  | { from: "since"; ms: number };

export interface TailRequest {
  prefix: string;
  host?: string;
  partition?: number;
  /** An explicit partition count; must agree with the layout record when there is one. */
  partitions?: number;
}

export interface TailTarget {
  stream: string;
  /** The ONE filter subject of the consumer (nats-server 2.9 has no filter_subjects). */
  filter: string;
  partition: number;
  host?: string;
  /** Where the partition count came from, for the start-up message. */
  partitionsFrom?: string;
}

export interface TailLine {
  stream: string;
  seq: number;
  /** ISO time the server stored the line. */
  time: string;
  subject: string;
  host: string;
  partition: number;
  line: string;
}

/** Finds the stream and filter subject for a host or a partition. */
export async function resolveTailTarget(nc: NatsConnection, req: TailRequest): Promise<TailTarget> {
  if ((req.host === undefined) === (req.partition === undefined)) {
    throw new ConfigError("shipper tail needs exactly one of --host <name> or --partition <id>");
  }
  const jsm = await openJetStreamManager(nc);
  const record = await readLayoutRecord(nc, req.prefix);
  const infos = await listStreamInfos(jsm);
  let partitions: number | undefined;
  let partitionsFrom: string | undefined;
  if (record) {
    if (req.partitions !== undefined && Math.max(1, req.partitions) !== Math.max(1, record.partitions)) {
      throw new ConfigError(
        `--partitions / SHIPPER_PARTITIONS is ${req.partitions}, but the deployment of prefix "${req.prefix}" has ${record.partitions} partitions (layout record); leave it out or give ${record.partitions}`,
      );
    }
    [partitions, partitionsFrom] = [record.partitions, "the layout record"];
  } else if (req.partitions !== undefined) {
    [partitions, partitionsFrom] = [req.partitions, "--partitions"];
  } else {
    const detected = detectLayout(req.prefix, infos.map((si) => ({ config: si.config, consumers: [] })));
    if (detected?.partitions !== undefined && detected.kind === "per-partition") {
      [partitions, partitionsFrom] = [detected.partitions, `the streams found (${detected.streams.length})`];
    }
  }

  let partition: number;
  let filter: string;
  if (req.host !== undefined) {
    const bad = validateHostForSubject(req.host);
    if (bad) throw new ConfigError(`--host: ${bad}`);
    if (partitions === undefined) {
      throw new ConfigError(
        `cannot tell the partition count of prefix "${req.prefix}" (no layout record); give --partitions (or SHIPPER_PARTITIONS) as the agents use it`,
      );
    }
    partition = partitionOf(req.host, partitions);
    filter = lineSubject(req.prefix, partition, req.host);
  } else {
    partition = req.partition!;
    if (partitions !== undefined && partition >= Math.max(1, partitions)) {
      throw new ConfigError(`--partition ${partition} does not exist: the deployment has ${partitions} partitions (0-${Math.max(1, partitions) - 1}), from ${partitionsFrom}`);
    }
    filter = partitionFilter(req.prefix, partition);
  }
  const stream = streamCapturing(infos, filter);
  if (!stream) {
    throw new ConfigError(`no stream captures ${filter}; run \`shipper setup --prefix ${req.prefix}\` (or check --prefix)`);
  }
  return { stream: stream.config.name, filter, partition, host: req.host, partitionsFrom };
}

function streamCapturing(infos: StreamInfo[], filter: string): StreamInfo | undefined {
  return infos.find((si) => (si.config.subjects ?? []).some((s) => filterCovers(s, filter)));
}

/** How many stored lines match the filter from a sequence or a time on: asked of a probe consumer. */
async function pendingFrom(jsm: JetStreamManager, target: TailTarget, from: { seq: number } | { time: Date }): Promise<number> {
  const ci = await jsm.consumers.add(target.stream, {
    ack_policy: "none",
    ...("seq" in from
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq }
      : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() }),
    filter_subject: target.filter,
    inactive_threshold: nanosFromMs(10_000),
    mem_storage: true,
    num_replicas: 1,
  });
  try {
    return ci.num_pending;
  } finally {
    await jsm.consumers.delete(target.stream, ci.name).catch(() => undefined);
  }
}

/**
 * The stream sequence to start from, or "all". For the last N lines of a filter, a binary search
 * over start sequences (each probe is one consumer create; ~log2(stream length) of them) finds the
 * latest start with N matching lines after it, without reading the lines themselves.
 */
export async function startSequence(nc: NatsConnection, target: TailTarget, start: TailStart): Promise<number | "all"> {
  if (start.from === "all") return "all";
  const jsm = await openJetStreamManager(nc);
  const state = (await jsm.streams.info(target.stream)).state;
  const next = state.last_seq + 1;
  if (start.from === "new" || state.messages === 0) return next;
  const wanted = start.from === "last" ? start.count : await pendingFrom(jsm, target, { time: new Date(Date.now() - start.ms) });
  if (wanted <= 0) return next;
  let lo = Math.max(1, state.first_seq);
  if ((await pendingFrom(jsm, target, { seq: lo })) <= wanted) return lo;
  let hi = state.last_seq;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await pendingFrom(jsm, target, { seq: mid })) >= wanted) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Yields the lines until `signal` aborts or `count` lines were given. */
export async function* tailLines(
  nc: NatsConnection,
  prefix: string,
  target: TailTarget,
  from: number | "all",
  opts: { signal: AbortSignal; count?: number },
): AsyncGenerator<TailLine> {
  if (opts.count !== undefined && opts.count <= 0) return;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(target.stream, {
    // A string, not an array: the client then sends filter_subject, which 2.9 understands.
    filter_subjects: target.filter,
    ...(from === "all" ? { deliver_policy: DeliverPolicy.All } : { opt_start_seq: from }),
  });
  const messages = await consumer.consume({ max_messages: 512 });
  const stop = () => messages.stop();
  opts.signal.addEventListener("abort", stop, { once: true });
  const parser = new SubjectParser(prefix);
  let given = 0;
  try {
    if (opts.signal.aborted) return;
    for await (const m of messages) {
      const where = parser.parse(m.subject);
      yield {
        stream: target.stream,
        seq: m.seq,
        time: m.time.toISOString(),
        subject: m.subject,
        host: where?.host ?? "?",
        partition: where?.partition ?? target.partition,
        line: m.string(),
      };
      if (opts.count !== undefined && ++given >= opts.count) break;
    }
  } finally {
    opts.signal.removeEventListener("abort", stop);
    messages.stop();
    // The ordered consumer is ephemeral; deleting it now spares the server 5 minutes of keeping it.
    await consumer.delete().catch(() => undefined);
  }
}
