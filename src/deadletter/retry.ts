// `shipper dlq retry`: sends a dead letter's line again, to the subject it was going to, as a
// JetStream publish (stored and acknowledged), then removes the entry. The line's collector
// consumer then delivers it like any new line, so the collector writes it once. A batch of
// several lines in one message (the agent's --batch-lines) is sent again as its lines, one
// message each, in order: a batch needs its agent message id to be read, and a retried line
// must not carry one (the collector would skip it as a re-send of lines written since).
//
// Exactly once: each message carries `Nats-Msg-Id dlq-retry:<dlq #>:<entry id>:r[<k>]` (names.ts),
// so a retry repeated within the log stream's duplicate window (two operators, a retry
// interrupted between publish and removal) is stored once; the entry is removed only after every
// publish was acknowledged, so an interrupted retry loses nothing. A retry repeated after the
// duplicate window, of an entry whose removal failed, would store the line twice: the removal is
// the step right after the acknowledgements, and its failure is reported.
import { headers as newHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { DeadLetterEntry } from "./entry.js";
import { BATCH_HEADER, ORIGINAL_SUBJECT_HEADER, REASON_HEADER, RETRIED_FROM_HEADER } from "./headers.js";
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
  /** Its sequence there (one per line for a batch, in order). */
  streamSeqs: number[];
  /** How many of them the log stream had already: an earlier retry of the same entry stored them. */
  duplicates: number;
  /** False when the entry was already gone when it was to be removed (another retry removed it). */
  removed: boolean;
}

const NEWLINE = 10;

/** The lines of a batch payload (joined by "\n", none after the last), or undefined if not `count`. */
function batchLines(data: Uint8Array, count: number): Uint8Array[] | undefined {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
    lines.push(data.subarray(start, nl));
    start = nl + 1;
  }
  lines.push(data.subarray(start));
  return lines.length === count ? lines : undefined;
}

/** What a retry sends: the line, or a batch's lines; or why it cannot be sent. */
export function retryPlan(e: DeadLetterEntry, maxPayload: number): { lines: Uint8Array[] } | { obstacle: string } {
  if (e.lost !== undefined) return { obstacle: `its line was never copied (${e.lost})` };
  if (e.subject === undefined) return { obstacle: `it names no subject to send its line to (no ${ORIGINAL_SUBJECT_HEADER} header)` };
  if (e.subject.startsWith("shipper.dlq.")) return { obstacle: `its subject ${e.subject} is a dead-letter subject` };
  if (e.part !== undefined) return { obstacle: `it is part ${e.part} of a line split in parts; a part alone would not be joined` };
  if (maxPayload > 0 && e.size > maxPayload) {
    return { obstacle: `its line (${e.size} bytes) is larger than the server's max payload (${maxPayload} bytes) and would be refused again (${e.reason})` };
  }
  if (e.batch === undefined) return { lines: [e.data] };
  const count = /^[1-9][0-9]*$/.test(e.batch.trim()) ? Number(e.batch.trim()) : NaN;
  const lines = count >= 2 ? batchLines(e.data, count) : undefined;
  if (!lines) return { obstacle: `it is a malformed batch (${BATCH_HEADER} "${e.batch}" does not match its ${e.size} bytes), not lines an agent sent` };
  return { lines };
}

/** Why an entry cannot be sent again, or undefined when it can. */
export function retryObstacle(e: DeadLetterEntry, maxPayload: number): string | undefined {
  const plan = retryPlan(e, maxPayload);
  return "obstacle" in plan ? plan.obstacle : undefined;
}

/** Headers of the line sent again: the original's own, without the dead-letter bookkeeping. */
function retryHeaders(e: DeadLetterEntry): MsgHdrs {
  const h = newHeaders();
  const bookkeeping = new Set([ORIGINAL_SUBJECT_HEADER, REASON_HEADER, RETRIED_FROM_HEADER, BATCH_HEADER].map((k) => k.toLowerCase()));
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
  const plan = retryPlan(entry, store.maxPayload);
  if ("obstacle" in plan) throw new RetryRefused(seq, plan.obstacle);
  const subject = entry.subject!;
  const streamSeqs: number[] = [];
  let duplicates = 0;
  let stream = "";
  for (const [k, line] of plan.lines.entries()) {
    const msgID = retryMsgId(seq, entry.msgId, plan.lines.length > 1 ? k + 1 : undefined);
    let ack;
    try {
      // One at a time, so the lines of a batch are stored in their order.
      ack = await store.js.publish(subject, line, { msgID, headers: retryHeaders(entry) });
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
      // Cannot happen with the subjects retryPlan allows; never leave a copy in a loop.
      throw new RetryRefused(seq, `its subject ${subject} is stored by ${DLQ_STREAM} itself`);
    }
    stream = ack.stream;
    streamSeqs.push(ack.seq);
    if (ack.duplicate) duplicates++;
  }
  const removed = await store.remove(seq);
  return { dlqSeq: seq, subject, stream, streamSeqs, duplicates, removed };
}
