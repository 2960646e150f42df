// The two advisories the server publishes when a consumer gives up on a message (SPEC.md §5):
//   $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>
//     {"type":"io.nats.jetstream.advisory.v1.max_deliver","stream","consumer","stream_seq","deliveries",...}
//   $JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.<stream>.<consumer>
//     {"type":"io.nats.jetstream.advisory.v1.terminated","stream","consumer","stream_seq","deliveries",...}
// (shapes checked on nats-server 2.9.10). 2.9 sends no reason with a term.
import { z } from "zod";
import type { CollectorReason } from "./headers.js";

export interface DeadLetterAdvisory {
  reason: CollectorReason;
  stream: string;
  consumer: string;
  streamSeq: number;
  deliveries: number;
  /** When the server gave up (ISO 8601), as the advisory says. */
  timestamp: string;
}

// A Map: the type comes from the wire, and on a plain object "constructor" would find a function.
const TYPES = new Map<string, CollectorReason>([
  ["io.nats.jetstream.advisory.v1.max_deliver", "max-deliveries"],
  ["io.nats.jetstream.advisory.v1.terminated", "terminated"],
]);

const schema = z.object({
  type: z.string(),
  timestamp: z.string().default(""),
  stream: z.string().min(1),
  consumer: z.string().min(1),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int().nonnegative().default(0),
});

/** The advisory, or why it is not one we understand. */
export function parseAdvisory(data: Uint8Array): DeadLetterAdvisory | { invalid: string } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    return { invalid: `not JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { invalid: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") };
  const a = parsed.data;
  const reason = TYPES.get(a.type);
  if (!reason) return { invalid: `advisory type "${a.type}" is neither max_deliver nor terminated` };
  return { reason, stream: a.stream, consumer: a.consumer, streamSeq: a.stream_seq, deliveries: a.deliveries, timestamp: a.timestamp };
}
