// The delivery facts JetStream puts in the reply subject of a pushed message, for the push reader,
// which receives plain core messages: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`
// or, from newer servers, `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<token>`.

export interface AckReplyInfo {
  stream: string;
  consumer: string;
  deliveries: number;
  streamSequence: number;
  deliverySequence: number;
}

export function parseAckReply(reply: string | undefined): AckReplyInfo | undefined {
  if (!reply || !reply.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  let at: number;
  if (t.length === 9) at = 2;
  else if (t.length >= 11) at = 4;
  else return undefined;
  const [stream, consumer, delivered, sseq, dseq] = t.slice(at, at + 5);
  const numbers = [delivered, sseq, dseq].map((v) => Number(v));
  if (!stream || !consumer || numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) return undefined;
  return { stream, consumer, deliveries: numbers[0]!, streamSequence: numbers[1]!, deliverySequence: numbers[2]! };
}

export interface DeliveryNumbers {
  deliveries: number;
  streamSequence: number;
  deliverySequence: number;
}

/** Dot positions of the reply being scanned (no allocation per message). */
const DOTS = new Int32Array(16);

const ACK_PREFIX = Buffer.from("$JS.ACK.", "latin1");

/** Reused result of scanAckReply (no object per message). */
const scanned: DeliveryNumbers = { deliveries: 0, streamSequence: 0, deliverySequence: 0 };

/**
 * The numbers of a `$JS.ACK` reply without splitting it, read from its bytes as received: the
 * collector reads every message's sequences (split() plus an object per message showed up in
 * profiles), and keeps no reply string for a waiting line. The result is shared: read it before
 * the next call.
 */
export function scanAckReply(reply: Uint8Array, from = 0, to = reply.length): DeliveryNumbers | undefined {
  if (!isAckReply(reply, from, to)) return undefined;
  let dots = 0;
  for (let i = from; i < to; i++) {
    if (reply[i] !== 0x2e) continue;
    if (dots < DOTS.length) DOTS[dots] = i;
    dots++;
  }
  const tokens = dots + 1;
  const at = tokens === 9 ? 4 : tokens >= 11 && tokens <= DOTS.length ? 6 : -1; // the delivery-count token
  if (at < 0) return undefined;
  const deliveries = tokenNumber(reply, at);
  const streamSequence = tokenNumber(reply, at + 1);
  const deliverySequence = tokenNumber(reply, at + 2);
  if (deliveries < 0 || streamSequence < 0 || deliverySequence < 0) return undefined;
  scanned.deliveries = deliveries;
  scanned.streamSequence = streamSequence;
  scanned.deliverySequence = deliverySequence;
  return scanned;
}

/** The whole number in token `k` (never the last token), or -1. */
function tokenNumber(bytes: Uint8Array, k: number): number {
  const start = DOTS[k - 1]! + 1;
  const end = DOTS[k]!;
  if (end <= start || end - start > 16) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/** Whether a reply subject's bytes (`reply[from, to)`) are a JetStream acknowledgement subject (`$JS.ACK.`...). */
export function isAckReply(reply: Uint8Array, from = 0, to = reply.length): boolean {
  if (to - from < ACK_PREFIX.length) return false;
  for (let i = 0; i < ACK_PREFIX.length; i++) if (reply[from + i] !== ACK_PREFIX[i]) return false;
  return true;
}
