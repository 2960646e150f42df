// The benchmark's own nats-server (file storage) and the per-partition streams of src/streams/layout.ts:
// LOGS_<i> on logs.p<i>.>. Streams are created here, so the ceiling needs nothing but the server; when
// `shipper setup` exists it runs too (consumers, layout record) and adopts these streams.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { DEFAULT_CONSUMER, DEFAULT_STREAM, partitionIds, streamFor, streamSubjects, type Layout } from "../src/streams/layout.js";

const DAY_NS = 24 * 60 * 60 * 1_000_000_000;

export function benchLayout(prefix: string, partitions: number): Layout {
  return { version: 1, prefix, partitions, kind: "per-partition", stream: DEFAULT_STREAM, consumer: DEFAULT_CONSUMER };
}

export class BenchServer {
  private constructor(
    readonly server: NatsServer,
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly layout: Layout,
  ) {}

  static async start(layout: Layout, dir?: string): Promise<BenchServer> {
    const server = await NatsServer.start({ dir });
    try {
      // Many reconnect attempts: the memory measurement takes the server away for a minute.
      const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      return new BenchServer(server, nc, await jetstreamManager(nc), layout);
    } catch (err) {
      await server.dispose();
      throw err;
    }
  }

  get url(): string {
    return this.server.url;
  }

  get streams(): string[] {
    return partitionIds(this.layout).map((p) => streamFor(this.layout, p));
  }

  /** Creates any missing stream with Part 8's settings (file storage, limits, max age 1 day). */
  async ensureStreams(): Promise<void> {
    for (const p of partitionIds(this.layout)) {
      const name = streamFor(this.layout, p);
      try {
        await this.jsm.streams.info(name);
      } catch {
        await this.jsm.streams.add({
          name,
          subjects: streamSubjects(this.layout, p),
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          max_age: DAY_NS,
        });
      }
    }
  }

  /**
   * Empties every stream by deleting and creating it again with the same configuration and
   * consumers. Not a purge: nats-server 2.9 keeps a stream's map of message ids through a purge,
   * and a map holding the ids of earlier runs makes every later run pay ~10% more server CPU per
   * line, so runs would not be alike.
   */
  async resetStreams(): Promise<void> {
    for (const name of this.streams) {
      let info;
      try {
        info = await this.jsm.streams.info(name);
      } catch {
        continue; // not made yet: ensureStreams() makes it
      }
      const consumers = [];
      for await (const c of this.jsm.consumers.list(name)) consumers.push(c.config);
      await this.jsm.streams.delete(name);
      await this.jsm.streams.add(info.config);
      for (const config of consumers) await this.jsm.consumers.add(name, config);
    }
  }

  /** Messages stored in every stream together. */
  async storedMessages(): Promise<number> {
    let total = 0;
    for (const name of this.streams) total += (await this.jsm.streams.info(name)).state.messages;
    return total;
  }

  async dispose(): Promise<void> {
    await this.nc.close().catch(() => undefined);
    await this.server.dispose();
  }
}
