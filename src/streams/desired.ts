// The JetStream objects a layout asks for: stream configs and consumer configs, derived from the
// layout and the setup settings. Pure, so the plan can be computed and tested without a server.
import { partitionFilter } from "../protocol/subjects.js";
import { consumerFor, partitionIds, streamFor, streamSubjects, SEED_PUSH_CONSUMER, type Layout } from "./layout.js";
import { nanosFromMs } from "./units.js";

export type StorageKind = "file" | "memory";

/** Everything setup can be told; identity (partitions, kind, names) lives in the layout. */
export interface StreamSettings {
  storage: StorageKind;
  /** 0 means unlimited. */
  maxAgeMs: number;
  /** -1 means unlimited. */
  maxBytes: number;
  /** -1 means unlimited. */
  maxMsgs: number;
  replicas: number;
  duplicateWindowMs: number;
  /** The collector's consumers (Part 9): redelivery after ackWait, at most maxDeliver times. */
  ackWaitMs: number;
  maxDeliver: number;
  /** How many unacknowledged lines a collector may hold per partition (throughput needs many). */
  maxAckPending: number;
  /** Also make the article's push consumers (Part 8) delivering to `<seedTarget>.p<i>`. */
  seed: boolean;
  seedTarget: string;
}

/** The defaults of Part 8 and Part 9. */
export function defaultStreamSettings(prefix: string): StreamSettings {
  return {
    storage: "file",
    maxAgeMs: 86_400_000,
    maxBytes: -1,
    maxMsgs: -1,
    replicas: 1,
    duplicateWindowMs: 120_000,
    ackWaitMs: 30_000,
    maxDeliver: 10,
    maxAckPending: 100_000,
    seed: false,
    seedTarget: `out.${prefix}`,
  };
}

/** The stream fields setup manages; every other field of an existing stream is left alone. */
export interface WantedStream {
  name: string;
  subjects: string[];
  retention: "limits";
  storage: StorageKind;
  max_msgs: number;
  max_bytes: number;
  max_age: number;
  duplicate_window: number;
  num_replicas: number;
}

export type ConsumerRole = "collector" | "seed" | "dead-letters";

/** The consumer fields setup manages. `deliver_subject` absent means a pull consumer. */
export interface WantedConsumer {
  role: ConsumerRole;
  stream: string;
  /** -1 for a consumer of no partition (the dead-letter worker's). */
  partition: number;
  durable_name: string;
  deliver_subject?: string;
  deliver_policy: "all";
  ack_policy: "all" | "none" | "explicit";
  replay_policy: "instant";
  filter_subject?: string;
  ack_wait?: number;
  max_deliver?: number;
  max_ack_pending?: number;
}

export interface WantedState {
  streams: WantedStream[];
  consumers: WantedConsumer[];
}

export function wantedState(layout: Layout, settings: StreamSettings): WantedState {
  const streams = new Map<string, WantedStream>();
  const consumers: WantedConsumer[] = [];
  for (const p of partitionIds(layout)) {
    const stream = streamFor(layout, p);
    if (!streams.has(stream)) {
      streams.set(stream, {
        name: stream,
        subjects: streamSubjects(layout, p),
        retention: "limits",
        storage: settings.storage,
        max_msgs: settings.maxMsgs,
        max_bytes: settings.maxBytes,
        max_age: nanosFromMs(settings.maxAgeMs),
        duplicate_window: nanosFromMs(settings.duplicateWindowMs),
        num_replicas: settings.replicas,
      });
    }
    // One stream per partition needs no filter; the single stream needs one (2.9: ONE filter).
    const filter = layout.kind === "single" ? partitionFilter(layout.prefix, p) : undefined;
    consumers.push({
      role: "collector",
      stream,
      partition: p,
      durable_name: consumerFor(layout, p),
      deliver_policy: "all",
      ack_policy: "all",
      replay_policy: "instant",
      ack_wait: nanosFromMs(settings.ackWaitMs),
      max_deliver: settings.maxDeliver,
      max_ack_pending: settings.maxAckPending,
      ...(filter ? { filter_subject: filter } : {}),
    });
    if (settings.seed) {
      consumers.push({
        role: "seed",
        stream,
        partition: p,
        durable_name: layout.kind === "single" ? `${SEED_PUSH_CONSUMER}_p${p}` : SEED_PUSH_CONSUMER,
        deliver_subject: `${settings.seedTarget}.p${p}`,
        deliver_policy: "all",
        ack_policy: "none",
        replay_policy: "instant",
        ...(filter ? { filter_subject: filter } : {}),
      });
    }
  }
  return { streams: [...streams.values()], consumers };
}
