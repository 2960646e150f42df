// The dead-letter stream as the `shipper dlq` commands use it: read every entry, read one,
// retry one (retry.ts), purge.
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { ConfigError } from "../config/errors.js";
import { openJetStreamManager } from "../streams/manager.js";
import { entryFrom, type DeadLetterEntry } from "./entry.js";
import { DLQ_STREAM } from "./names.js";

export interface DeadLetterListing {
  entries: DeadLetterEntry[];
  /** Entries in the stream when reading began (more than `entries` when a limit cut the list). */
  total: number;
}

export class DeadLetterStore {
  private constructor(
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    /** The largest message the server takes (0 when unknown). */
    readonly maxPayload: number,
  ) {}

  /** Fails with one line naming what to do when the store was never set up. */
  static async open(nc: NatsConnection): Promise<DeadLetterStore> {
    const jsm = await openJetStreamManager(nc);
    try {
      await jsm.streams.info(DLQ_STREAM);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        throw new ConfigError(`the dead-letter stream ${DLQ_STREAM} does not exist; run \`shipper setup\` to create it`);
      }
      throw err;
    }
    return new DeadLetterStore(jetstream(nc), jsm, nc.info?.max_payload ?? 0);
  }

  /** Every entry in sequence order (the first `limit` when given), read by an ordered consumer. */
  async list(limit = Number.POSITIVE_INFINITY): Promise<DeadLetterListing> {
    const info = await this.jsm.streams.info(DLQ_STREAM);
    const total = info.state.messages;
    const entries: DeadLetterEntry[] = [];
    if (total === 0 || limit <= 0) return { entries, total };
    const reader = await this.js.consumers.get(DLQ_STREAM, { deliver_policy: DeliverPolicy.All });
    try {
      for (;;) {
        const batch = await reader.fetch({ max_messages: Math.min(256, limit - entries.length), expires: 2_000 });
        let got = 0;
        let pending = 1;
        for await (const m of batch) {
          got++;
          pending = m.info.pending;
          entries.push(entryFrom({ seq: m.seq, subject: m.subject, timestamp: m.timestamp, headers: m.headers, data: m.data }));
        }
        // Done when the last message read had none after it, at the limit, or when entries were
        // removed while we read (nothing more arrives).
        if (pending === 0 || got === 0 || entries.length >= limit) break;
      }
    } finally {
      await reader.delete().catch(() => undefined);
    }
    return { entries, total };
  }

  async get(seq: number): Promise<DeadLetterEntry | undefined> {
    const sm = await this.jsm.streams.getMessage(DLQ_STREAM, { seq });
    return sm ? entryFrom({ seq: sm.seq, subject: sm.subject, timestamp: sm.timestamp, headers: sm.header, data: sm.data }) : undefined;
  }

  /** Removes one entry (after a successful retry). False when it was not there any more. */
  async remove(seq: number): Promise<boolean> {
    try {
      return await this.jsm.streams.deleteMessage(DLQ_STREAM, seq, false);
    } catch (err) {
      // Another retry removed it first (the server answers "no message found", code 10057 here).
      if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.NoMessageFound || /no message found/i.test(err.message))) {
        return false;
      }
      throw err;
    }
  }

  /** Empties the stream; returns how many entries were removed. */
  async purge(): Promise<number> {
    const r = await this.jsm.streams.purge(DLQ_STREAM);
    return r.purged;
  }
}
