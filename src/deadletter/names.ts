// Names of the dead-letter store (SPEC.md §5, Part 9). One store per account, shared by every
// deployment: the agents' dead letters (`shipper.dlq.agent.<host>`) carry no prefix either.
//
// - SHIPPER_DLQ on `shipper.dlq.>`: the dead letters themselves. A line a collector consumer gave
//   up on is copied to `shipper.dlq.collector.<stream>.<stream seq>` (one subject per original
//   message, so "is it already here?" has an exact answer long after the duplicate window).
// - SHIPPER_ADVISORIES on the max-deliveries and terminated advisories: the server publishes them
//   on core NATS, where they vanish when no worker listens; stored in a stream, a worker that was
//   down reads them when it comes back. Each deployment's worker reads them through its own
//   durable consumer `DEADLETTERS_<stream base>`.
import type { Layout } from "../streams/layout.js";

export const DLQ_STREAM = "SHIPPER_DLQ";
export const DLQ_SUBJECTS = "shipper.dlq.>";
export const COLLECTOR_DLQ_PREFIX = "shipper.dlq.collector";

export const ADVISORY_STREAM = "SHIPPER_ADVISORIES";
export const MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES";
export const TERMINATED_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED";
export const ADVISORY_SUBJECTS = [`${MAX_DELIVERIES_ADVISORY}.>`, `${TERMINATED_ADVISORY}.>`];

/** The durable consumer on SHIPPER_ADVISORIES through which a deployment's workers read. */
export function workerConsumerFor(layout: Pick<Layout, "stream">): string {
  return `DEADLETTERS_${layout.stream}`;
}

/** Where the copy of message `seq` of `stream` lives in the dead-letter stream. */
export function collectorDeadLetterSubject(stream: string, seq: number): string {
  return `${COLLECTOR_DLQ_PREFIX}.${stream}.${seq}`;
}

/** `Nats-Msg-Id` of that copy: a repeated advisory within the duplicate window is stored once. */
export function deadLetterMsgId(stream: string, seq: number): string {
  return `${stream}:${seq}`;
}

/**
 * `Nats-Msg-Id` of a retried line (line `k` of a retried batch): a second retry of the same dead
 * letter, within the log stream's duplicate window, is stored once. The entry's own id makes it
 * unique even if the dead-letter stream were recreated and its numbers began again. The last
 * field (`r`, `r<k>`) is one no agent line id ends with, so a reader never takes a retried line
 * for an agent's line (src/protocol/msg-id.ts) and never skips it as a re-send of its origin.
 */
export function retryMsgId(dlqSeq: number, entryMsgId: string | undefined, line?: number): string {
  return `dlq-retry:${dlqSeq}:${entryMsgId ? `${entryMsgId}:` : ""}r${line ?? ""}`;
}
