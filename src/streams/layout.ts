// The JetStream layout of a deployment: which streams and consumers hold which partitions.
// Pure naming rules, shared by setup, the agent, the collector, report and tail.
import { partitionFilter, allPartitionsFilter } from "../protocol/subjects.js";

/**
 * "per-partition": one stream per partition (Part 8), `<stream>_<i>` on `<prefix>.p<i>.>`, each with
 *   one durable pull consumer `<consumer>`.
 * "single": one stream `<stream>` on `<prefix>.>` with one pull consumer `<consumer>_p<i>` per
 *   partition, filtered by `<prefix>.p<i>.>` (possible since nats-server 2.9).
 */
export type LayoutKind = "per-partition" | "single";

export interface Layout {
  readonly version: 1;
  readonly prefix: string;
  /** Partition count; 0 means one partition (0), as in the original. */
  readonly partitions: number;
  readonly kind: LayoutKind;
  /** Stream name, or the base of the per-partition stream names. */
  readonly stream: string;
  /** Durable name of the collector's pull consumers (base name in the single layout). */
  readonly consumer: string;
}

export const DEFAULT_PREFIX = "logs";
export const DEFAULT_PARTITIONS = 10;
export const DEFAULT_STREAM = "LOGS";
export const DEFAULT_CONSUMER = "COLLECTOR";
/** The article's push consumer name and delivery prefix (SPEC.md §4). */
export const SEED_PUSH_CONSUMER = "TAIL";
export const SEED_DELIVER_PREFIX = "out.logs";

/** The partition ids of a layout: 0..N-1, or just 0 when the count is 0. */
export function partitionIds(layout: Pick<Layout, "partitions">): number[] {
  return Array.from({ length: Math.max(1, layout.partitions) }, (_, i) => i);
}

export function streamFor(layout: Layout, partition: number): string {
  return layout.kind === "single" ? layout.stream : `${layout.stream}_${partition}`;
}

export function consumerFor(layout: Layout, partition: number): string {
  return layout.kind === "single" ? `${layout.consumer}_p${partition}` : layout.consumer;
}

/** Subjects a stream captures. */
export function streamSubjects(layout: Layout, partition: number): string[] {
  return layout.kind === "single" ? [allPartitionsFilter(layout.prefix)] : [partitionFilter(layout.prefix, partition)];
}

/** The names of every stream of a layout, once each. */
export function streamNames(layout: Layout): string[] {
  return [...new Set(partitionIds(layout).map((p) => streamFor(layout, p)))];
}
