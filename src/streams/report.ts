// What `shipper report` shows, gathered from the server: one row per stream of the deployment
// (from the layout record, or found by the prefix's subjects on a deployment made by hand, or
// every stream with `all`), and one row per consumer of those streams.
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { partitionIds, streamFor, streamSubjects, type Layout } from "./layout.js";
import { readLayoutRecord } from "./layout-record.js";
import { capturesPrefix, listStreamInfos } from "./snapshot-read.js";
import { openJetStreamManager } from "./manager.js";

export interface ConsumerReport {
  stream: string;
  name: string;
  kind: "pull" | "push";
  deliverSubject?: string;
  filterSubject?: string;
  /** Messages of the stream (matching the filter) not yet delivered: num_pending. */
  pending: number;
  /** Delivered but not yet acknowledged. */
  ackPending: number;
  redelivered: number;
  /** Stream sequence of the last delivered message. */
  lastDeliveredSeq: number;
  /** Stream sequence up to which everything is acknowledged. */
  ackFloorSeq: number;
  waiting: number;
}

export interface StreamReport {
  name: string;
  subjects: string[];
  /** False for a stream the layout names that does not exist on the server. */
  exists: boolean;
  consumers: number;
  messages: number;
  bytes: number;
  storage: string;
  replicas: number;
  firstSeq: number;
  lastSeq: number;
  /** ISO times of the first and last stored message; undefined when the stream is empty. */
  firstTime?: string;
  lastTime?: string;
  clusterLeader?: string;
  consumerReports: ConsumerReport[];
}

export interface DeploymentReport {
  prefix: string;
  /** How the streams were chosen. */
  source: "layout record" | "subjects" | "all streams";
  layout?: Layout;
  streams: StreamReport[];
}

export async function gatherReport(nc: NatsConnection, opts: { prefix: string; all?: boolean }): Promise<DeploymentReport> {
  const jsm = await openJetStreamManager(nc);
  const layout = await readLayoutRecord(nc, opts.prefix);
  const infos = await listStreamInfos(jsm);
  let chosen: Array<StreamInfo | Missing>;
  let source: DeploymentReport["source"];
  if (opts.all) {
    chosen = infos;
    source = "all streams";
  } else if (layout) {
    const byName = new Map(infos.map((si) => [si.config.name, si]));
    const names = new Map(partitionIds(layout).map((p) => [streamFor(layout, p), streamSubjects(layout, p)]));
    chosen = [...names].map(([name, subjects]) => byName.get(name) ?? { missing: name, subjects });
    source = "layout record";
  } else {
    chosen = infos.filter((si) => capturesPrefix(si, opts.prefix));
    source = "subjects";
  }
  const streams: StreamReport[] = [];
  for (const si of chosen) {
    if ("missing" in si) {
      streams.push(missingStream(si));
      continue;
    }
    const consumers: ConsumerInfo[] = [];
    for await (const ci of jsm.consumers.list(si.config.name)) consumers.push(ci);
    streams.push(streamReport(si, consumers));
  }
  streams.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  return { prefix: opts.prefix, source, layout, streams };
}

/** The server reports "0001-01-01T00:00:00Z" for the times of an empty stream. */
function realTime(ts: string | undefined, seq: number): string | undefined {
  return ts && seq > 0 && !ts.startsWith("0001-") ? ts : undefined;
}

function streamReport(si: StreamInfo, consumers: ConsumerInfo[]): StreamReport {
  const s = si.state;
  return {
    name: si.config.name,
    subjects: si.config.subjects ?? [],
    exists: true,
    consumers: s.consumer_count,
    messages: s.messages,
    bytes: s.bytes,
    storage: si.config.storage,
    replicas: si.config.num_replicas || 1,
    firstSeq: s.first_seq,
    lastSeq: s.last_seq,
    firstTime: s.messages > 0 ? realTime(s.first_ts, s.first_seq) : undefined,
    lastTime: realTime(s.last_ts, s.last_seq),
    clusterLeader: si.cluster?.leader,
    consumerReports: consumers
      .map((ci) => consumerReport(ci))
      .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true })),
  };
}

function consumerReport(ci: ConsumerInfo): ConsumerReport {
  const push = typeof ci.config.deliver_subject === "string" && ci.config.deliver_subject !== "";
  return {
    stream: ci.stream_name,
    name: ci.name,
    kind: push ? "push" : "pull",
    ...(push ? { deliverSubject: ci.config.deliver_subject } : {}),
    ...(ci.config.filter_subject ? { filterSubject: ci.config.filter_subject } : {}),
    pending: ci.num_pending,
    ackPending: ci.num_ack_pending,
    redelivered: ci.num_redelivered,
    lastDeliveredSeq: ci.delivered.stream_seq,
    ackFloorSeq: ci.ack_floor.stream_seq,
    waiting: ci.num_waiting,
  };
}

/** A stream the layout record names but the server does not have (deleted by hand?). */
interface Missing {
  missing: string;
  subjects: string[];
}

function missingStream(m: Missing): StreamReport {
  return {
    name: m.missing,
    subjects: m.subjects,
    exists: false,
    consumers: 0,
    messages: 0,
    bytes: 0,
    storage: "-",
    replicas: 0,
    firstSeq: 0,
    lastSeq: 0,
    consumerReports: [],
  };
}
