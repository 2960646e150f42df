// The fastest plain way to publish to JetStream from Node with every acknowledgement checked:
// `nc.publish(subject, data, { reply })` with one wildcard inbox subscription, thousands in flight.
// The reply token is the line's index, so each PubAck is matched to its line exactly once. Used by
// the ceiling and to pre-load streams for the collector.
import { createInbox, headers, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { fileVersionKey, originToken } from "../src/protocol/msg-id.js";
import { MSG_ID_HEADER } from "../src/protocol/headers.js";

export interface LineSource {
  readonly count: number;
  subject(i: number): string;
  data(i: number): Uint8Array;
}

export interface AckedPublishResult {
  published: number;
  acked: number;
  /** Error PubAcks (`{"error":...}`) and no-responder statuses. */
  errors: number;
  /** PubAcks that said duplicate (only with message ids). */
  duplicates: number;
  /** Lines never acknowledged before the stall limit. */
  missing: number;
  /** PubAcks for a line already acknowledged. */
  extraAcks: number;
  firstError?: string;
  seconds: number;
}

export interface AckedPublishOptions {
  window: number;
  /** A Nats-Msg-Id per line, set with `headers()` per message as a plain client does. */
  msgId?: (i: number) => string;
  stallMs: number;
}

const CHAR_S = 0x73; // `{"stream":...}` is a PubAck; `{"error":...}` is not.
const CHAR_E = 0x65; // `..."duplicate":true}` ends in `e}`.

export async function publishAcked(nc: NatsConnection, source: LineSource, opts: AckedPublishOptions): Promise<AckedPublishResult> {
  const n = source.count;
  const inbox = createInbox();
  const tokenAt = inbox.length + 1;
  const acked = new Uint8Array(n);
  const result: AckedPublishResult = { published: 0, acked: 0, errors: 0, duplicates: 0, missing: 0, extraAcks: 0, seconds: 0 };
  let inFlight = 0;
  let wake: (() => void) | undefined;
  // Refill when a quarter of the window is free: one wake-up per many acks, not one per ack.
  // At the end, wake only when nothing is left in flight.
  let wakeAt = Math.max(0, opts.window - Math.max(1, Math.floor(opts.window / 4)));

  const onAck = (err: Error | null, msg: Msg): void => {
    if (err) {
      result.firstError ??= err.message;
      return;
    }
    const i = Number(msg.subject.slice(tokenAt));
    if (!(i >= 0 && i < n) || acked[i] === 1) {
      result.extraAcks++;
      return;
    }
    acked[i] = 1;
    inFlight--;
    result.acked++;
    const d = msg.data;
    if (d.length < 12 || d[2] !== CHAR_S) {
      result.errors++;
      result.firstError ??= d.length > 0 ? new TextDecoder().decode(d) : `status ${msg.headers?.code ?? "?"} ${msg.headers?.description ?? ""}`;
    } else if (d[d.length - 2] === CHAR_E) {
      result.duplicates++;
    }
    if (wake !== undefined && inFlight <= wakeAt) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const sub = nc.subscribe(`${inbox}.*`, { callback: onAck });
  await nc.flush(); // the subscription is in place before the first PubAck can come back

  let lastProgress = Date.now();
  let lastAcked = 0;
  let stalled = false;
  const watchdog = setInterval(() => {
    if (result.acked !== lastAcked) {
      lastAcked = result.acked;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > opts.stallMs) {
      stalled = true;
      wake?.();
    }
  }, 250);

  const started = performance.now();
  try {
    let i = 0;
    while (i < n && !stalled) {
      while (i < n && inFlight < opts.window) {
        const reply = `${inbox}.${i}`;
        if (opts.msgId) {
          const h = headers();
          h.set(MSG_ID_HEADER, opts.msgId(i));
          nc.publish(source.subject(i), source.data(i), { reply, headers: h });
        } else {
          nc.publish(source.subject(i), source.data(i), { reply });
        }
        inFlight++;
        i++;
      }
      if (i < n) await new Promise<void>((r) => (wake = r));
    }
    result.published = i;
    // The last window: wait for every outstanding ack.
    wakeAt = 0;
    if (inFlight > 0 && !stalled) await new Promise<void>((r) => (wake = r));
    result.seconds = (performance.now() - started) / 1000;
  } finally {
    clearInterval(watchdog);
    sub.unsubscribe();
  }
  result.missing = result.published - result.acked;
  return result;
}

/**
 * Message ids in the agent's form (src/protocol/msg-id.ts: origin token, offset in base 36), one
 * origin per host and call, so the duplicate window never hides a line of a later run; line i
 * belongs to host i mod hosts, with offsets growing in file order.
 */
export function agentFormMsgIds(hosts: readonly string[]): (i: number) => string {
  const tag = String(Math.floor(Math.random() * 1e9));
  const tokens = hosts.map((host) => originToken(host, fileVersionKey("0", tag, "00000000", 0)));
  return (i) => `${tokens[i % tokens.length]}:${(i * 121).toString(36)}`;
}
