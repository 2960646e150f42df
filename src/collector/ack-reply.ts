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
