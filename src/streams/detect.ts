// Recognises a deployment from its streams alone, for deployments without a layout record
// (made by hand as in Part 8, or by an older setup). Pure: works on a snapshot.
import type { LayoutKind } from "./layout.js";
import type { ExistingStream } from "./snapshot.js";

export interface DetectedLayout {
  kind: LayoutKind;
  /** Partition count the streams (or the single stream's filtered consumers) imply; undefined if unknown. */
  partitions?: number;
  /** The single stream's name, or the common base of the per-partition names (`<base>_<i>`). */
  stream?: string;
  /** Names of the streams that hold the prefix's lines. */
  streams: string[];
}

function escapeForRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Finds the partition-capturing streams of a prefix: `<prefix>.p<i>.>` or `<prefix>.>`. */
export function detectLayout(prefix: string, streams: readonly ExistingStream[]): DetectedLayout | undefined {
  const partitionSubject = new RegExp(`^${escapeForRegExp(prefix)}\\.p(0|[1-9][0-9]*)\\.>$`);
  const perPartition = new Map<number, string>();
  for (const s of streams) {
    const subjects = s.config.subjects ?? [];
    const m = subjects.length === 1 ? partitionSubject.exec(subjects[0]!) : null;
    if (m) perPartition.set(Number(m[1]), s.config.name);
  }
  if (perPartition.size > 0) {
    const ids = [...perPartition.keys()];
    const names = [...perPartition.values()];
    const base = commonBase(perPartition);
    return { kind: "per-partition", partitions: Math.max(...ids) + 1, stream: base, streams: names.sort() };
  }
  const single = streams.find((s) => (s.config.subjects ?? []).includes(`${prefix}.>`));
  if (!single) return undefined;
  // The partition count of a single stream shows only in its per-partition filtered consumers.
  const ids = single.consumers
    .map((c) => partitionSubject.exec(c.config.filter_subject ?? ""))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  return {
    kind: "single",
    partitions: ids.length > 0 ? Math.max(...ids) + 1 : undefined,
    stream: single.config.name,
    streams: [single.config.name],
  };
}

/** "LOGS" when every partition i lives in "LOGS_i"; undefined when the names follow no such rule. */
function commonBase(byPartition: Map<number, string>): string | undefined {
  let base: string | undefined;
  for (const [id, name] of byPartition) {
    const suffix = `_${id}`;
    if (!name.endsWith(suffix)) return undefined;
    const b = name.slice(0, -suffix.length);
    if (base !== undefined && b !== base) return undefined;
    base = b;
  }
  return base;
}
