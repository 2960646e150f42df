// The plan of `shipper setup`: which streams, consumers and layout record to create, which to
// update (field: old -> new), which are already right, and which changes to refuse and why.
// Pure: it works on a snapshot of the deployment, so it is tested without a server, and
// `--dry-run` prints it without touching anything.
import {
  DEFAULT_CONSUMER,
  DEFAULT_PARTITIONS,
  DEFAULT_STREAM,
  partitionIds,
  streamFor,
  type Layout,
  type LayoutKind,
} from "./layout.js";
import { LAYOUT_BUCKET } from "./layout-record.js";
import { detectLayout } from "./detect.js";
import { wantedState, type StreamSettings, type WantedConsumer, type WantedStream } from "./desired.js";
import { subjectsCollide } from "./subject-match.js";
import { wantedDeadLetterState, type DeadLetterSettings } from "../deadletter/desired.js";
import type { DeploymentSnapshot, ExistingConsumer, ExistingStream } from "./snapshot.js";
import { formatBytes, formatDurationMs, msFromNanos } from "./units.js";

/** What the user asked for; an identity field left undefined keeps the deployment's (or the default). */
export interface SetupRequest {
  prefix: string;
  partitions?: number;
  kind?: LayoutKind;
  stream?: string;
  consumer?: string;
  settings: StreamSettings;
  /** Also set up the dead-letter store (src/deadletter/desired.ts), shared by every deployment. */
  deadLetters?: DeadLetterSettings;
}

export interface Change {
  field: string;
  from: string;
  to: string;
}

export type SetupAction =
  | { op: "create-stream"; stream: WantedStream }
  | { op: "update-stream"; stream: WantedStream; changes: Change[] }
  | { op: "keep-stream"; stream: WantedStream }
  | { op: "create-consumer"; consumer: WantedConsumer }
  | { op: "update-consumer"; consumer: WantedConsumer; changes: Change[] }
  | { op: "keep-consumer"; consumer: WantedConsumer }
  | { op: "update-bucket"; bucket: string; replicas: number; changes: Change[] }
  | { op: "write-record"; layout: Layout; previous?: Layout; changes: Change[] }
  | { op: "keep-record"; layout: Layout };

/** A change setup will not make, with the reason and what to do instead. */
export interface Refusal {
  subject: string;
  reason: string;
  remedy: string;
}

export interface SetupPlan {
  layout: Layout;
  /** Where the deployment's identity was read from, for the printout. */
  basis: "layout record" | "streams on the server" | "new deployment";
  actions: SetupAction[];
  /** The dead-letter store's steps, applied after `actions` and summed up on their own. */
  deadLetterActions: SetupAction[];
  /** When not empty, nothing is applied. */
  refusals: Refusal[];
}

/** True when applying the plan would change nothing. */
export function planIsNoop(plan: SetupPlan): boolean {
  return [...plan.actions, ...plan.deadLetterActions].every((a) => a.op.startsWith("keep-"));
}

export function planSetup(req: SetupRequest, snap: DeploymentSnapshot): SetupPlan {
  const { layout, basis, refusals } = resolveLayout(req, snap);
  // A different identity makes every other comparison meaningless: say only that.
  if (refusals.length > 0) return { layout, basis, actions: [], deadLetterActions: [], refusals };
  if (req.settings.replicas > 1 && !snap.clustered) {
    refusals.push({
      subject: `--replicas ${req.settings.replicas}`,
      reason: "the server is not part of a JetStream cluster, so it can keep only one copy of each stream",
      remedy: "use --replicas 1, or run setup against a cluster with at least as many servers as replicas",
    });
  }

  const wanted = wantedState(layout, req.settings);
  const byName = new Map(snap.streams.map((s) => [s.config.name, s]));
  const planObjects = (w: { streams: WantedStream[]; consumers: WantedConsumer[] }): SetupAction[] => {
    const out: SetupAction[] = [];
    for (const stream of w.streams) {
      refusals.push(...overlaps(stream, snap.streams));
      const existing = byName.get(stream.name);
      out.push(...planStream(stream, existing, refusals));
      for (const consumer of w.consumers.filter((c) => c.stream === stream.name)) {
        const have = existing?.consumers.find((c) => c.name === consumer.durable_name);
        out.push(planConsumer(consumer, have, refusals));
      }
    }
    return out;
  };
  const actions = planObjects(wanted);
  const before = refusals.length;
  const deadLetterActions = req.deadLetters ? planObjects(wantedDeadLetterState(layout, req.deadLetters)) : [];
  for (const r of refusals.slice(before)) r.remedy += ", or leave the dead-letter store out (setup --no-dead-letters)";
  const bucket = byName.get(`KV_${LAYOUT_BUCKET}`);
  const bucketReplicas = bucket?.config.num_replicas || 1;
  if (bucket && bucketReplicas !== req.settings.replicas) {
    actions.push({
      op: "update-bucket",
      bucket: LAYOUT_BUCKET,
      replicas: req.settings.replicas,
      changes: [{ field: "num_replicas", from: String(bucketReplicas), to: String(req.settings.replicas) }],
    });
  }
  const recordChanges = snap.record ? diffRecord(snap.record, layout) : [];
  actions.push(
    snap.record && recordChanges.length === 0
      ? { op: "keep-record", layout }
      : { op: "write-record", layout, previous: snap.record, changes: recordChanges },
  );
  const refused = refusals.length > 0;
  return { layout, basis, actions: refused ? [] : actions, deadLetterActions: refused ? [] : deadLetterActions, refusals };
}

// ---------------------------------------------------------------------------------------------
// The deployment's identity: partitions, layout kind and names. Changing any of them on a live
// deployment would move hosts or strand lines, so it is refused with a way to migrate.

/** Counts 0 and 1 map every host to partition 0, so they are the same deployment. */
function samePartitioning(a: number, b: number): boolean {
  return Math.max(1, a) === Math.max(1, b);
}

function resolveLayout(
  req: SetupRequest,
  snap: DeploymentSnapshot,
): { layout: Layout; basis: SetupPlan["basis"]; refusals: Refusal[] } {
  const detected = snap.record ? undefined : detectLayout(req.prefix, snap.streams);
  const base = snap.record ?? detected;
  const basis: SetupPlan["basis"] = snap.record ? "layout record" : detected ? "streams on the server" : "new deployment";
  const layout: Layout = {
    version: 1,
    prefix: req.prefix,
    kind: req.kind ?? base?.kind ?? "per-partition",
    partitions: req.partitions ?? base?.partitions ?? DEFAULT_PARTITIONS,
    stream: req.stream ?? base?.stream ?? DEFAULT_STREAM,
    consumer: req.consumer ?? snap.record?.consumer ?? DEFAULT_CONSUMER,
  };
  const refusals: Refusal[] = [];
  if (!base) return { layout, basis, refusals };
  const from = snap.record ? "its layout record" : `the streams found on the server (${detected!.streams.join(", ")})`;
  const deployment = `the deployment of prefix "${req.prefix}"`;
  const drain = "stop the agents, let the collectors drain every partition (shipper report shows 0 pending)";

  if (base.kind !== layout.kind) {
    refusals.push({
      subject: "layout kind",
      reason:
        `${deployment} uses the ${base.kind} layout (from ${from}), and setup was asked for --layout ${layout.kind}. ` +
        "Both layouts capture the same subjects with different streams, which the server cannot hold side by side, " +
        "and the collectors' consumers and positions would not carry over",
      remedy:
        `keep --layout ${base.kind} (or leave --layout out). To switch: ${drain}, delete the old streams ` +
        `(nats stream rm ..., which discards the stored lines) and run setup again with --layout ${layout.kind}; ` +
        "or set up the new layout under another --prefix and move agents and collectors to it",
    });
    return { layout, basis, refusals };
  }
  if (base.partitions !== undefined && !samePartitioning(base.partitions, layout.partitions)) {
    const oldStreams = partitionIds({ partitions: base.partitions })
      .map((p) => streamFor({ ...layout, partitions: base.partitions!, stream: base.stream ?? layout.stream }, p))
      .filter((s, i, all) => all.indexOf(s) === i);
    refusals.push({
      subject: "partition count",
      reason:
        `${deployment} has ${base.partitions} partitions (from ${from}), and setup was asked for ${layout.partitions}. ` +
        "A host's partition is fnv1a32(host) % count, so a new count moves most hosts to other partitions: " +
        "agents with the new count and agents with the old one would split a host's lines between two readers, out of order",
      remedy:
        `keep --partitions ${base.partitions} (or leave it out to use the deployment's). To change it, migrate: ${drain}; ` +
        `then either set up a new deployment under another prefix (shipper setup --prefix ${req.prefix}2 --partitions ${layout.partitions}) ` +
        `and move agents and collectors to it, or delete the old stream${oldStreams.length > 1 ? "s" : ""} ${nameRange(oldStreams)} ` +
        `(nats stream rm <name>; this discards the stored lines) and run setup again with --partitions ${layout.partitions}; ` +
        "then restart every agent and collector with the new count",
    });
  }
  if (base.stream !== undefined && base.stream !== layout.stream) {
    refusals.push({
      subject: "stream name",
      reason: `${deployment} keeps its lines in stream${layout.kind === "single" ? "" : "s"} named ${base.stream}${layout.kind === "single" ? "" : "_<i>"} (from ${from}), and setup was asked for --stream ${layout.stream}; new streams on the same subjects would overlap the old ones`,
      remedy: `leave --stream out (or give --stream ${base.stream}); to rename, ${drain}, delete the old streams and run setup again`,
    });
  }
  if (snap.record && snap.record.consumer !== layout.consumer) {
    refusals.push({
      subject: "consumer name",
      reason: `${deployment} records the collector consumer name ${snap.record.consumer}, and setup was asked for --consumer ${layout.consumer}; a new consumer starts from the first stored line, so collectors would write lines again`,
      remedy: `leave --consumer out (or give --consumer ${snap.record.consumer}); to rename, ${drain}, delete the old consumers and run setup again`,
    });
  }
  return { layout, basis, refusals };
}

function nameRange(names: string[]): string {
  return names.length <= 2 ? names.join(" and ") : `${names[0]}..${names[names.length - 1]}`;
}

function diffRecord(old: Layout, now: Layout): Change[] {
  const fields = ["prefix", "partitions", "kind", "stream", "consumer"] as const;
  return fields
    .filter((f) => old[f] !== now[f])
    .map((f) => ({ field: f, from: String(old[f]), to: String(now[f]) }));
}

// ---------------------------------------------------------------------------------------------
// Streams.

function overlaps(stream: WantedStream, existing: readonly ExistingStream[]): Refusal[] {
  const out: Refusal[] = [];
  for (const other of existing) {
    if (other.config.name === stream.name) continue;
    const clash = (other.config.subjects ?? []).find((s) => stream.subjects.some((w) => subjectsCollide(s, w)));
    if (clash) {
      out.push({
        subject: `stream ${stream.name}`,
        reason: `its subjects (${stream.subjects.join(", ")}) overlap stream ${other.config.name}, which already captures ${clash}; the server refuses overlapping streams`,
        remedy: `remove or change stream ${other.config.name} (nats stream info ${other.config.name}), or give another --prefix`,
      });
    }
  }
  return out;
}

interface FieldSpec<W> {
  field: keyof W & string;
  /** The server refuses to change it in place. */
  fixed?: boolean;
  show: (v: unknown) => string;
  /** The existing value, with the server's defaults filled in. */
  read?: (v: unknown) => unknown;
}

const plain = (v: unknown) => (v === undefined || v === "" ? "(none)" : String(v));
const list = (v: unknown) => (Array.isArray(v) ? v.join(", ") : plain(v));
const duration = (v: unknown) => (v === 0 ? "unlimited" : formatDurationMs(msFromNanos(Number(v))));
const limit = (v: unknown) => (Number(v) < 0 ? "unlimited" : String(v));

const STREAM_FIELDS: FieldSpec<WantedStream>[] = [
  { field: "subjects", show: list },
  { field: "retention", fixed: true, show: plain },
  { field: "storage", fixed: true, show: plain },
  { field: "max_age", show: duration },
  { field: "max_bytes", show: (v) => formatBytes(Number(v)) },
  { field: "max_msgs", show: limit },
  { field: "duplicate_window", show: duration },
  { field: "num_replicas", show: plain, read: (v) => (v ? v : 1) },
];

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function planStream(stream: WantedStream, existing: ExistingStream | undefined, refusals: Refusal[]): SetupAction[] {
  if (!existing) return [{ op: "create-stream", stream }];
  const changes: Change[] = [];
  const cfg = existing.config as unknown as Record<string, unknown>;
  for (const spec of STREAM_FIELDS) {
    const want = stream[spec.field];
    const have = spec.read ? spec.read(cfg[spec.field]) : cfg[spec.field];
    if (same(want, have)) continue;
    if (spec.fixed) {
      refusals.push({
        subject: `stream ${stream.name}`,
        reason: `its ${spec.field} is ${spec.show(have)} and setup was asked for ${spec.show(want)}; the server cannot change a stream's ${spec.field} in place`,
        remedy:
          `keep ${spec.field} ${spec.show(have)}, or: stop the agents, let the collectors drain ${stream.name} ` +
          `(shipper report shows 0 pending), delete it (nats stream rm ${stream.name}, which discards its stored lines) and run setup again`,
      });
      continue;
    }
    changes.push({ field: spec.field, from: spec.show(have), to: spec.show(want) });
  }
  return [changes.length > 0 ? { op: "update-stream", stream, changes } : { op: "keep-stream", stream }];
}

// ---------------------------------------------------------------------------------------------
// Consumers.

const CONSUMER_FIELDS: FieldSpec<WantedConsumer>[] = [
  { field: "deliver_policy", fixed: true, show: plain },
  { field: "ack_policy", fixed: true, show: plain },
  { field: "replay_policy", fixed: true, show: plain },
  { field: "deliver_subject", show: plain, read: (v) => (v === "" ? undefined : v) },
  { field: "filter_subject", show: plain, read: (v) => (v === "" ? undefined : v) },
  { field: "ack_wait", show: duration },
  { field: "max_deliver", show: limit },
  { field: "max_ack_pending", show: limit },
];

function planConsumer(consumer: WantedConsumer, existing: ExistingConsumer | undefined, refusals: Refusal[]): SetupAction {
  if (!existing) return { op: "create-consumer", consumer };
  const name = `consumer ${consumer.stream} > ${consumer.durable_name}`;
  const recreate =
    `delete it (nats consumer rm ${consumer.stream} ${consumer.durable_name}) and run setup again` +
    (consumer.role === "collector"
      ? "; the new consumer starts from the first stored line, so stop the collectors and let them drain first or they may write lines again"
      : "");
  const cfg = existing.config as unknown as Record<string, unknown>;
  const isPush = typeof cfg.deliver_subject === "string" && cfg.deliver_subject !== "";
  const wantPush = consumer.deliver_subject !== undefined;
  if (isPush !== wantPush) {
    refusals.push({
      subject: name,
      reason: `it is a ${isPush ? "push" : "pull"} consumer and ${consumer.role === "collector" ? "collectors need a pull consumer" : "the seed consumer of Part 8 is a push consumer"}; the server cannot turn one into the other`,
      remedy: recreate,
    });
    return { op: "keep-consumer", consumer };
  }
  const changes: Change[] = [];
  for (const spec of CONSUMER_FIELDS) {
    const want = consumer[spec.field];
    if (want === undefined && spec.field !== "filter_subject") continue; // not managed for this role
    const have = spec.read ? spec.read(cfg[spec.field]) : cfg[spec.field];
    if (same(want, have)) continue;
    if (spec.fixed) {
      refusals.push({
        subject: name,
        reason: `its ${spec.field} is ${spec.show(have)} and setup was asked for ${spec.show(want)}; the server cannot change a consumer's ${spec.field} in place`,
        remedy: recreate,
      });
      continue;
    }
    changes.push({ field: spec.field, from: spec.show(have), to: spec.show(want) });
  }
  return changes.length > 0 ? { op: "update-consumer", consumer, changes } : { op: "keep-consumer", consumer };
}
