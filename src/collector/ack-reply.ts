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

/**
 * The numbers of a `$JS.ACK` reply without splitting it: the collector reads every message's
 * sequences, and split() plus an object per message showed up in profiles.
 */
export function scanAckReply(reply: string): DeliveryNumbers | undefined {
  if (!reply.startsWith("$JS.ACK.")) return undefined;
  let dots = 0;
  // indexOf finds the dots faster than a loop over every character (this runs for every line).
  for (let i = reply.indexOf("."); i >= 0; i = reply.indexOf(".", i + 1)) {
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
  return { deliveries, streamSequence, deliverySequence };
}

/** The whole number in token `k` (never the last token), or -1. */
function tokenNumber(text: string, k: number): number {
  const start = DOTS[k - 1]! + 1;
  const end = DOTS[k]!;
  if (end <= start || end - start > 16) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

const ACK_PREFIX = Buffer.from("$JS.ACK.", "latin1");

/** The same as scanAckReply, read from the reply's bytes (the puller keeps no reply string per waiting line). */
export function scanAckReplyBytes(reply: Uint8Array): DeliveryNumbers | undefined {
  if (reply.length < ACK_PREFIX.length) return undefined;
  for (let i = 0; i < ACK_PREFIX.length; i++) if (reply[i] !== ACK_PREFIX[i]) return undefined;
  let dots = 0;
  for (let i = 0; i < reply.length; i++) {
    if (reply[i] !== 0x2e) continue;
    if (dots < DOTS.length) DOTS[dots] = i;
    dots++;
  }
  const tokens = dots + 1;
  const at = tokens === 9 ? 4 : tokens >= 11 && tokens <= DOTS.length ? 6 : -1; // the delivery-count token
  if (at < 0) return undefined;
  const deliveries = byteTokenNumber(reply, at);
  const streamSequence = byteTokenNumber(reply, at + 1);
  const deliverySequence = byteTokenNumber(reply, at + 2);
  if (deliveries < 0 || streamSequence < 0 || deliverySequence < 0) return undefined;
  return { deliveries, streamSequence, deliverySequence };
}

function byteTokenNumber(bytes: Uint8Array, k: number): number {
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
