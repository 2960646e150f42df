// One dead letter as the dlq commands show it, read back from its headers (headers.ts): where
// its line was going, why it is here, and where it came from. Works for both kinds of entries:
// a collector's (copied by the worker) and an agent's (an oversized line, agent-dead-letter.ts).
import type { MsgHdrs } from "@nats-io/transport-node";
import { AGENT_DEAD_LETTER_PREFIX } from "../protocol/agent-dead-letter.js";
import {
  BATCH_HEADER,
  DLQ_ADVISORY_TIME_HEADER,
  DLQ_CONSUMER_HEADER,
  DLQ_DELIVERIES_HEADER,
  DLQ_LOST_HEADER,
  DLQ_ORIGINAL_MSG_ID_HEADER,
  DLQ_SEQUENCE_HEADER,
  DLQ_STREAM_HEADER,
  DLQ_TIME_HEADER,
  ORIGINAL_SUBJECT_HEADER,
  PART_HEADER,
  REASON_HEADER,
} from "./headers.js";
import { COLLECTOR_DLQ_PREFIX } from "./names.js";

export type DeadLetterSource = "collector" | "agent" | "other";

export interface DeadLetterEntry {
  /** Sequence in SHIPPER_DLQ: what show, retry and list name it by. */
  seq: number;
  /** When it entered the dead-letter stream (ISO 8601). */
  time: string;
  /** Its subject in the dead-letter stream. */
  dlqSubject: string;
  source: DeadLetterSource;
  /** max-deliveries, terminated, or the agent's reason (e.g. "oversize: ..."). */
  reason: string;
  /** The subject the line was published on, or meant for; a retry sends it there. */
  subject?: string;
  stream?: string;
  streamSeq?: number;
  consumer?: string;
  deliveries?: number;
  /** When the original was stored (collector entries). */
  originalTime?: string;
  /** When the server gave up on it (collector entries). */
  advisoryTime?: string;
  /** The original's Nats-Msg-Id. */
  originalMsgId?: string;
  /** Set when the original was gone before it could be copied: there is no line. */
  lost?: string;
  /** `k/n` when the line is one part of a split line. */
  part?: string;
  /** The line count when the message is a batch of several lines (its `Shipper-Batch`). */
  batch?: string;
  /** The entry's own Nats-Msg-Id. */
  msgId?: string;
  /** Size of the line in bytes. */
  size: number;
  headers: Array<[string, string]>;
  data: Uint8Array;
}

/** The fields of a stored message or a delivered one that an entry is made from. */
export interface RawDeadLetter {
  seq: number;
  subject: string;
  timestamp: string;
  headers?: MsgHdrs;
  data: Uint8Array;
}

function sourceOf(subject: string): DeadLetterSource {
  if (subject.startsWith(`${COLLECTOR_DLQ_PREFIX}.`)) return "collector";
  if (subject.startsWith(`${AGENT_DEAD_LETTER_PREFIX}.`)) return "agent";
  return "other";
}

function integer(text: string | undefined): number | undefined {
  return text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

export function entryFrom(raw: RawDeadLetter): DeadLetterEntry {
  const h = raw.headers;
  const get = (name: string): string | undefined => {
    const v = h?.get(name);
    return v === undefined || v === "" ? undefined : v;
  };
  const headers: Array<[string, string]> = [];
  for (const key of h?.keys() ?? []) for (const value of h!.values(key)) headers.push([key, value]);
  const source = sourceOf(raw.subject);
  return {
    seq: raw.seq,
    time: raw.timestamp,
    dlqSubject: raw.subject,
    source,
    reason: get(REASON_HEADER) ?? "(no reason given)",
    subject: get(ORIGINAL_SUBJECT_HEADER),
    stream: get(DLQ_STREAM_HEADER),
    streamSeq: integer(get(DLQ_SEQUENCE_HEADER)),
    consumer: get(DLQ_CONSUMER_HEADER),
    deliveries: integer(get(DLQ_DELIVERIES_HEADER)),
    originalTime: get(DLQ_TIME_HEADER),
    advisoryTime: get(DLQ_ADVISORY_TIME_HEADER),
    // An agent's dead letter carries the line's own id as its Nats-Msg-Id.
    originalMsgId: get(DLQ_ORIGINAL_MSG_ID_HEADER) ?? (source === "agent" ? get("Nats-Msg-Id") : undefined),
    lost: get(DLQ_LOST_HEADER),
    part: get(PART_HEADER),
    batch: get(BATCH_HEADER),
    msgId: get("Nats-Msg-Id"),
    size: raw.data.length,
    headers,
    data: raw.data,
  };
}

/** `LOGS_4#42` for a collector's entry, `agent <host>` for an agent's. */
export function originOf(e: DeadLetterEntry): string {
  if (e.stream !== undefined && e.streamSeq !== undefined) return `${e.stream}#${e.streamSeq}`;
  if (e.source === "agent") return `agent ${e.dlqSubject.slice(AGENT_DEAD_LETTER_PREFIX.length + 1)}`;
  return e.dlqSubject;
}
