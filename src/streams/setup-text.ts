// The words `shipper setup` prints for a plan: one line per stream, consumer and record, saying
// what was created, what changed (field: old -> new) and what was already up to date. Pure.
import { partitionIds, streamNames, type Layout } from "./layout.js";
import { LAYOUT_BUCKET } from "./layout-record.js";
import type { WantedConsumer, WantedStream } from "./desired.js";
import type { Refusal, SetupAction, SetupPlan } from "./setup-plan.js";
import { formatBytes, formatDurationMs, msFromNanos } from "./units.js";

export type Tense = "done" | "planned";

export function describeLayout(layout: Layout): string {
  const names = streamNames(layout);
  const streams = names.length === 1 ? `stream ${names[0]}` : `streams ${names[0]}..${names[names.length - 1]}`;
  const count = partitionIds(layout).length;
  const consumers =
    layout.kind === "single"
      ? `consumers ${layout.consumer}_p0..${layout.consumer}_p${count - 1}`
      : `consumer ${layout.consumer} on each`;
  return `prefix "${layout.prefix}", ${layout.partitions} partition${layout.partitions === 1 ? "" : "s"}, ${layout.kind} layout: ${streams}, ${consumers}`;
}

function streamSummary(s: WantedStream): string {
  const age = s.max_age === 0 ? "unlimited" : formatDurationMs(msFromNanos(s.max_age));
  const bytes = s.max_bytes < 0 ? "" : `, max-bytes ${formatBytes(s.max_bytes)}`;
  return `${s.subjects.join(", ")}, ${s.storage} storage, ${s.retention} retention, max-age ${age}${bytes}, replicas ${s.num_replicas}`;
}

function consumerSummary(c: WantedConsumer): string {
  const filter = c.filter_subject ? `, filter ${c.filter_subject}` : "";
  if (c.deliver_subject) return `push to ${c.deliver_subject}, deliver all, ack none${filter}`;
  const wait = formatDurationMs(msFromNanos(c.ack_wait ?? 0));
  return `pull, ack ${c.ack_policy}, ack-wait ${wait}, max-deliver ${c.max_deliver}, max-ack-pending ${c.max_ack_pending}${filter}`;
}

function consumerName(c: WantedConsumer): string {
  return `consumer ${c.stream} > ${c.durable_name}`;
}

const VERBS: Record<Tense, { create: string; change: string; keep: string }> = {
  done: { create: "created", change: "changed", keep: "up to date" },
  planned: { create: "would create", change: "would change", keep: "up to date" },
};

export function describeAction(action: SetupAction, tense: Tense): string {
  const v = VERBS[tense];
  const changes = (list: { field: string; from: string; to: string }[]) =>
    list.map((c) => `${c.field} ${c.from} -> ${c.to}`).join(", ");
  switch (action.op) {
    case "create-stream":
      return `${v.create}: stream ${action.stream.name} (${streamSummary(action.stream)})`;
    case "update-stream":
      return `${v.change}: stream ${action.stream.name}: ${changes(action.changes)}`;
    case "keep-stream":
      return `${v.keep}: stream ${action.stream.name}`;
    case "create-consumer":
      return `${v.create}: ${consumerName(action.consumer)} (${consumerSummary(action.consumer)})`;
    case "update-consumer":
      return `${v.change}: ${consumerName(action.consumer)}: ${changes(action.changes)}`;
    case "keep-consumer":
      return `${v.keep}: ${consumerName(action.consumer)}`;
    case "update-bucket":
      return `${v.change}: layout record bucket ${action.bucket}: ${changes(action.changes)}`;
    case "write-record":
      return action.previous
        ? `${v.change}: layout record ${LAYOUT_BUCKET}/${action.layout.prefix}: ${changes(action.changes)}`
        : `${v.create}: layout record ${LAYOUT_BUCKET}/${action.layout.prefix} (${action.layout.partitions} partitions, ${action.layout.kind})`;
    case "keep-record":
      return `${v.keep}: layout record ${LAYOUT_BUCKET}/${action.layout.prefix}`;
  }
}

export interface PlanCounts {
  created: number;
  changed: number;
  unchanged: number;
}

export function countActions(plan: SetupPlan): PlanCounts {
  const counts = { created: 0, changed: 0, unchanged: 0 };
  for (const a of plan.actions) {
    if (a.op.startsWith("create-") || (a.op === "write-record" && !a.previous)) counts.created++;
    else if (a.op.startsWith("keep-")) counts.unchanged++;
    else counts.changed++;
  }
  return counts;
}

export function describeSummary(plan: SetupPlan, tense: Tense): string {
  const c = countActions(plan);
  if (c.created === 0 && c.changed === 0) {
    const streams = plan.actions.filter((a) => a.op === "keep-stream").length;
    const consumers = plan.actions.filter((a) => a.op === "keep-consumer").length;
    return `Nothing to change: the deployment is up to date (${streams} stream${streams === 1 ? "" : "s"}, ${consumers} consumer${consumers === 1 ? "" : "s"}, layout record).`;
  }
  return tense === "planned"
    ? `Plan: ${c.created} to create, ${c.changed} to change, ${c.unchanged} already up to date. Nothing was changed (dry run).`
    : `Done: ${c.created} created, ${c.changed} changed, ${c.unchanged} already up to date.`;
}

/** The dead-letter store's own summary line, or undefined when setup was told to leave it out. */
export function describeDeadLetterSummary(plan: SetupPlan, tense: Tense): string | undefined {
  const actions = plan.deadLetterActions;
  if (actions.length === 0) return undefined;
  const created = actions.filter((a) => a.op.startsWith("create-")).length;
  const kept = actions.filter((a) => a.op.startsWith("keep-")).length;
  const changed = actions.length - created - kept;
  if (created === 0 && changed === 0) return "Dead letters: the store is up to date.";
  const counts = `${created} to create, ${changed} to change, ${kept} already up to date`;
  return tense === "planned"
    ? `Dead letters: ${counts}. Nothing was changed (dry run).`
    : `Dead letters: ${counts.replace(" to create", " created").replace(" to change", " changed")}.`;
}

export function describeRefusals(refusals: readonly Refusal[]): string[] {
  const lines = [`shipper setup: refused; nothing was changed (${refusals.length} problem${refusals.length === 1 ? "" : "s"}):`];
  for (const r of refusals) {
    lines.push(`- ${r.subject}: ${r.reason}.`, `  What to do: ${r.remedy}.`);
  }
  return lines;
}
