// The only place the agent reaches past nats.js's public API, for its hot path (issue 4):
//
// - rawSender(): hands already-encoded protocol bytes (the HPUB frames of many lines at once, see
//   frame-encoder.ts) to the connection. nc.publish() builds a command string per message, checks
//   both subjects with a regular expression, encodes the string and queues four buffers; profiled at
//   100k lines/s that was the largest share of the agent's CPU time. The bytes go through the same
//   outbound buffer and flush as nc.publish() (ProtocolHandler.sendCommand in nats-core 3.x), so their
//   order with other traffic and what a disconnect does to them are the same.
// - replyToken(): the number at the end of a received message's subject, read from its raw bytes
//   (MsgImpl._msg.subject) instead of decoding a string per PubAck.
//
// Both check the shape they rely on and fall back to the public API when it differs (another
// nats.js version): rawSender() then returns undefined and the publisher uses nc.publish().
import type { Msg, NatsConnection } from "@nats-io/transport-node";

/** Writes encoded protocol bytes on the connection, after whatever was queued before. */
export type RawSender = (bytes: Uint8Array) => void;

interface ProtocolLike {
  sendCommand(cmd: Uint8Array): void;
  outbound: unknown;
}

/** A sender of raw protocol bytes on `nc`, or undefined when this nats.js does not have the expected shape. */
export function rawSender(nc: NatsConnection): RawSender | undefined {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolLike> }).protocol;
  if (!protocol || typeof protocol.sendCommand !== "function" || protocol.outbound === undefined) return undefined;
  const p = protocol as ProtocolLike;
  return (bytes) => p.sendCommand(bytes);
}

const ZERO = 48;

/** The decimal number after the first `prefixLength` characters of `msg`'s subject (NaN when there is none). */
export function replyToken(msg: Msg, prefixLength: number): number {
  const raw = (msg as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
  if (!(raw instanceof Uint8Array)) return Number(msg.subject.substring(prefixLength));
  return decimalIn(raw, prefixLength, raw.length);
}

/** The decimal number `bytes[from, to)` holds (NaN when empty or not all digits). */
export function decimalIn(bytes: Uint8Array, from: number, to: number): number {
  if (to <= from) return Number.NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = bytes[i]! - ZERO;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}
