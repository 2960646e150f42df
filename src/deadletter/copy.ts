// Copies the message an advisory names into the dead-letter stream, once. The original is read
// with `$JS.API.STREAM.MSG.GET.<stream>` (it stays in its stream only until retention removes
// it), then published to `shipper.dlq.collector.<stream>.<seq>` with `Nats-Msg-Id <stream>:<seq>`
// and the Shipper-DLQ-* headers. Already there (a repeated advisory, a worker that died before
// acknowledging): nothing is stored again. Gone: an entry without the line records the loss.
import { headers as newHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { DeadLetterAdvisory } from "./advisory.js";
import {
  DLQ_ADVISORY_TIME_HEADER,
  DLQ_CONSUMER_HEADER,
  DLQ_DELIVERIES_HEADER,
  DLQ_LOST_HEADER,
  DLQ_ORIGINAL_MSG_ID_HEADER,
  DLQ_SEQUENCE_HEADER,
  DLQ_STREAM_HEADER,
  DLQ_TIME_HEADER,
  ORIGINAL_SUBJECT_HEADER,
  REASON_HEADER,
} from "./headers.js";
import { collectorDeadLetterSubject, deadLetterMsgId, DLQ_STREAM } from "./names.js";

export type CopyOutcome =
  | { kind: "stored"; dlqSeq: number; subject: string; size: number }
  | { kind: "already-stored"; dlqSeq: number }
  | { kind: "lost"; dlqSeq: number; why: string };

export async function copyDeadLetter(js: JetStreamClient, jsm: JetStreamManager, adv: DeadLetterAdvisory): Promise<CopyOutcome> {
  const subject = collectorDeadLetterSubject(adv.stream, adv.streamSeq);
  // Exact, however long ago it was stored; the message id covers a race between two workers.
  const existing = await jsm.streams.getMessage(DLQ_STREAM, { last_by_subj: subject });
  if (existing) return { kind: "already-stored", dlqSeq: existing.seq };

  const original = await readOriginal(jsm, adv.stream, adv.streamSeq);
  const h = newHeaders();
  h.set(DLQ_STREAM_HEADER, adv.stream);
  h.set(DLQ_SEQUENCE_HEADER, String(adv.streamSeq));
  h.set(DLQ_CONSUMER_HEADER, adv.consumer);
  h.set(DLQ_DELIVERIES_HEADER, String(adv.deliveries));
  h.set(REASON_HEADER, adv.reason);
  if (adv.timestamp) h.set(DLQ_ADVISORY_TIME_HEADER, adv.timestamp);
  let data: Uint8Array = new Uint8Array(0);
  if ("msg" in original) {
    const m = original.msg;
    h.set(ORIGINAL_SUBJECT_HEADER, m.subject);
    h.set(DLQ_TIME_HEADER, m.timestamp);
    copyOriginalHeaders(m.header, h);
    data = m.data;
  } else {
    h.set(DLQ_LOST_HEADER, original.gone);
  }
  const ack = await js.publish(subject, data, {
    msgID: deadLetterMsgId(adv.stream, adv.streamSeq),
    headers: h,
    // Refused unless SHIPPER_DLQ itself stores it (not some other stream on these subjects).
    expect: { streamName: DLQ_STREAM },
  });
  if ("gone" in original) return { kind: "lost", dlqSeq: ack.seq, why: original.gone };
  return ack.duplicate ? { kind: "already-stored", dlqSeq: ack.seq } : { kind: "stored", dlqSeq: ack.seq, subject, size: data.length };
}

async function readOriginal(jsm: JetStreamManager, stream: string, seq: number): Promise<{ msg: StoredMsg } | { gone: string }> {
  try {
    const msg = await jsm.streams.getMessage(stream, { seq });
    return msg ? { msg } : { gone: `message ${seq} is no longer in stream ${stream} (removed by its limits, or deleted)` };
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      return { gone: `stream ${stream} no longer exists` };
    }
    throw err;
  }
}

/**
 * The original's headers travel with it (a retry sends them again), except the server's own:
 * its `Nats-Msg-Id` is kept under another name, because the dead letter needs an id of its own.
 */
function copyOriginalHeaders(from: MsgHdrs | undefined, to: MsgHdrs): void {
  if (!from) return;
  for (const key of from.keys()) {
    if (key.toLowerCase() === "nats-msg-id") {
      to.set(DLQ_ORIGINAL_MSG_ID_HEADER, from.get(key));
      continue;
    }
    if (/^nats-/i.test(key) || to.has(key)) continue;
    for (const value of from.values(key)) to.append(key, value);
  }
}
