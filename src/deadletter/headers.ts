// Headers on a dead letter in SHIPPER_DLQ. The payload is the original line, unchanged.
// `Shipper-Subject` and `Shipper-Reason` are shared with the agent's dead letters
// (src/protocol/agent-dead-letter.ts), so every entry says where its line was going and why it is here.
export { ORIGINAL_SUBJECT_HEADER, REASON_HEADER } from "../protocol/agent-dead-letter.js";
export { PART_HEADER } from "../protocol/line-parts.js";

/** The stream that held the original message. */
export const DLQ_STREAM_HEADER = "Shipper-DLQ-Stream";
/** Its sequence in that stream. */
export const DLQ_SEQUENCE_HEADER = "Shipper-DLQ-Sequence";
/** The consumer that gave up on it. */
export const DLQ_CONSUMER_HEADER = "Shipper-DLQ-Consumer";
/** How many times it was delivered. */
export const DLQ_DELIVERIES_HEADER = "Shipper-DLQ-Deliveries";
/** When the original was stored (ISO 8601, from the server). */
export const DLQ_TIME_HEADER = "Shipper-DLQ-Time";
/** When the server gave up on it (the advisory's timestamp). */
export const DLQ_ADVISORY_TIME_HEADER = "Shipper-DLQ-Advisory-Time";
/** The original's `Nats-Msg-Id` (the dead letter's own id is `<stream>:<seq>`). */
export const DLQ_ORIGINAL_MSG_ID_HEADER = "Shipper-DLQ-Original-Msg-Id";
/** Present when the original was already gone from its stream: the entry has no line. */
export const DLQ_LOST_HEADER = "Shipper-DLQ-Lost";
/** On a retried line: the dead-letter sequence it came from. */
export const RETRIED_FROM_HEADER = "Shipper-Retried-From";

/**
 * On a batch of several lines in one message (src/protocol/batch.ts, the agent's --batch-lines):
 * the line count. Named here too so the dead letters do not depend on the batch code.
 */
export const BATCH_HEADER = "Shipper-Batch";

/** Reasons a collector dead letter can have. */
export type CollectorReason = "max-deliveries" | "terminated";
