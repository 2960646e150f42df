// How the bench's plain consumers read (the consume ceiling, and the pipeline ceiling's consumer
// thread): one durable pull consumer per stream read, as the collector's are made, acknowledged
// with AckAll now and then. One place, so the two ceilings read alike.
import { AckPolicy, DeliverPolicy, ReplayPolicy, type ConsumerConfig } from "@nats-io/jetstream";

/** AckAll: acknowledging the last of every 1,000 acknowledges the 999 before it. */
export const ACK_EVERY = 1_000;
/** Messages nats.js asks for per pull: generous, as a client reading a backlog would. */
export const MAX_MESSAGES = 10_000;
/** As the collector's consumers (`shipper setup --max-ack-pending`), so acks never hold delivery back. */
const MAX_ACK_PENDING = 100_000;

/** A durable consumer's settings for a plain reader, reading from the start; `filter` for a shared stream. */
export function plainConsumerConfig(name: string, filter?: string): Partial<ConsumerConfig> {
  return {
    durable_name: name,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    max_ack_pending: MAX_ACK_PENDING,
    ...(filter ? { filter_subject: filter } : {}),
  };
}
