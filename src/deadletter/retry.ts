// `shipper dlq retry`: sends a dead letter's line again, to the subject it was going to, as a
// JetStream publish (stored and acknowledged), then removes the entry. The line's collector
// consumer then delivers it like any new line, so the collector writes it once.
//
// Exactly once: the publish carries `Nats-Msg-Id dlq-retry:<dlq seq>:<entry id>`, so a retry
// repeated within the log stream's duplicate window (two operators, a retry interrupted between
// publish and removal) is stored once; the entry is removed only after the publish was
// acknowledged, so an interrupted retry loses nothing. A retry repeated after the duplicate
// window, of an entry whose removal failed, would store the line twice: the removal is the step
// right after the acknowledgement, and its failure is reported.
import { headers as newHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { DeadLetterEntry } from "./entry.js";
import { ORIGINAL_SUBJECT_HEADER, REASON_HEADER, RETRIED_FROM_HEADER } from "./headers.js";
import { DLQ_STREAM, retryMsgId } from "./names.js";
import type { DeadLetterStore } from "./store.js";

/** A dead letter that cannot be retried, and why. */
export class RetryRefused extends Error {
  override readonly name = "RetryRefused";
  constructor(
    readonly seq: number,
    readonly reason: string,
    /** True when there is no such entry (rather than an entry that must stay). */
    readonly missing = false,
  ) {
    super(`dead letter #${seq} cannot be retried: ${reason}`);
  }
}

export interface RetryResult {
  dlqSeq: number;
  subject: string;
  /** Where the line is stored now. */
  stream: string;
  streamSeq: number;
  /** The log stream had it already: an earlier retry of the same entry stored it. */
  duplicate: boolean;
  /** False when the entry was already gone when it was to be removed (another retry removed it). */
  removed: boolean;
}

/** Why an entry cannot be sent again, or undefined when it can. */
export function retryObstacle(e: DeadLetterEntry, maxPayload: number): string | undefined {
  if (e.lost !== undefined) return `its line was never copied (${e.lost})`;
  if (e.subject === undefined) return `it names no subject to send its line to (no ${ORIGINAL_SUBJECT_HEADER} header)`;
  if (e.subject.startsWith("shipper.dlq.")) return `its subject ${e.subject} is a dead-letter subject`;
  if (e.part !== undefined) return `it is part ${e.part} of a line split in parts; a part alone would not be joined`;
  if (maxPayload > 0 && e.size > maxPayload) {
    return `its line (${e.size} bytes) is larger than the server's max payload (${maxPayload} bytes) and would be refused again (${e.reason})`;
  }
  return undefined;
}

/** Headers of the line sent again: the original's own, without the dead-letter bookkeeping. */
function retryHeaders(e: DeadLetterEntry): MsgHdrs {
  const h = newHeaders();
  const bookkeeping = new Set([ORIGINAL_SUBJECT_HEADER, REASON_HEADER, RETRIED_FROM_HEADER].map((k) => k.toLowerCase()));
  for (const [key, value] of e.headers) {
    const k = key.toLowerCase();
    if (k.startsWith("nats-") || k.startsWith("shipper-dlq-") || bookkeeping.has(k)) continue;
    h.append(key, value);
  }
  h.set(RETRIED_FROM_HEADER, `${DLQ_STREAM}#${e.seq}`);
  return h;
}

export async function retryDeadLetter(store: DeadLetterStore, seq: number): Promise<RetryResult> {
  const entry = await store.get(seq);
  if (!entry) throw new RetryRefused(seq, `there is no entry #${seq} in ${DLQ_STREAM} (already retried or purged?)`, true);
  const obstacle = retryObstacle(entry, store.maxPayload);
  if (obstacle) throw new RetryRefused(seq, obstacle);
  const subject = entry.subject!;
  let ack;
  try {
    ack = await store.js.publish(subject, entry.data, { msgID: retryMsgId(seq, entry.msgId), headers: retryHeaders(entry) });
  } catch (err) {
    // Nobody answered the publish: the client reports that as "no responders" or, for a
    // JetStream publish, as JetStreamNotEnabled.
    const e = err as Error;
    if (e.name === "JetStreamNotEnabled" || /no responders|503/i.test(e.message)) {
      throw new RetryRefused(seq, `no stream captures its subject ${subject} (was the deployment removed? see \`shipper report\`)`);
    }
    throw err;
  }
  if (ack.stream === DLQ_STREAM) {
    // Cannot happen with the subjects retryObstacle allows; never leave a copy in a loop.
    throw new RetryRefused(seq, `its subject ${subject} is stored by ${DLQ_STREAM} itself`);
  }
  const removed = await store.remove(seq);
  return { dlqSeq: seq, subject, stream: ack.stream, streamSeq: ack.seq, duplicate: ack.duplicate, removed };
}

