// The JetStream objects of the dead-letter store that `shipper setup` makes: the dead-letter
// stream, the stream that keeps the advisories, and the deployment's worker consumer on it.
// Pure, like src/streams/desired.ts, whose types it uses so the same plan code compares them.
import type { Layout } from "../streams/layout.js";
import type { WantedConsumer, WantedStream } from "../streams/desired.js";
import { nanosFromMs } from "../streams/units.js";
import { ADVISORY_STREAM, ADVISORY_SUBJECTS, DLQ_STREAM, DLQ_SUBJECTS, workerConsumerFor } from "./names.js";

export interface DeadLetterSettings {
  /** How long dead letters (and unread advisories) are kept; 0 means forever. */
  maxAgeMs: number;
  replicas: number;
}

/** Longer than the log streams' day, so a dead letter outlives its original by weeks. */
export const DEFAULT_DLQ_MAX_AGE_MS = 30 * 86_400_000;

const WORKER_ACK_WAIT_MS = 30_000;
const WORKER_MAX_ACK_PENDING = 1_000;
const DUPLICATE_WINDOW_MS = 120_000;

export function wantedDeadLetterState(layout: Layout, settings: DeadLetterSettings): { streams: WantedStream[]; consumers: WantedConsumer[] } {
  const stream = (name: string, subjects: string[]): WantedStream => ({
    name,
    subjects,
    retention: "limits",
    storage: "file",
    max_msgs: -1,
    max_bytes: -1,
    max_age: nanosFromMs(settings.maxAgeMs),
    duplicate_window: nanosFromMs(settings.maxAgeMs > 0 ? Math.min(DUPLICATE_WINDOW_MS, settings.maxAgeMs) : DUPLICATE_WINDOW_MS),
    num_replicas: settings.replicas,
  });
  return {
    streams: [stream(DLQ_STREAM, [DLQ_SUBJECTS]), stream(ADVISORY_STREAM, [...ADVISORY_SUBJECTS])],
    consumers: [
      {
        role: "dead-letters",
        stream: ADVISORY_STREAM,
        partition: -1,
        durable_name: workerConsumerFor(layout),
        deliver_policy: "all",
        // Each advisory is settled on its own: copied (ack) or to be tried again later (nak).
        ack_policy: "explicit",
        replay_policy: "instant",
        ack_wait: nanosFromMs(WORKER_ACK_WAIT_MS),
        // Never give up on an advisory: its dead letter would be lost without a trace.
        max_deliver: -1,
        max_ack_pending: WORKER_MAX_ACK_PENDING,
      },
    ],
  };
}
