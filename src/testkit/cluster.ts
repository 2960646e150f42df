// A 3-node (or N-node) JetStream cluster on loopback, ready once a meta leader is elected.
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer, freePort } from "./nats-server.js";

export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  static async start(size = 3): Promise<NatsCluster> {
    // A route port found free can be taken by another test's server before this node binds it;
    // then the nodes that did start are stopped (left running, their output pipes would keep the
    // test process alive for good) and the cluster starts again on fresh ports.
    let servers: NatsServer[] | undefined;
    for (let attempt = 1; !servers; attempt++) {
      const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
      const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`);
      const started = await Promise.allSettled(
        routePorts.map((port, i) => NatsServer.start({ serverName: `n${i + 1}`, cluster: { name: "shipper-test", port, routes } })),
      );
      const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (!failed) {
        servers = started.map((r) => (r as PromiseFulfilledResult<NatsServer>).value);
        break;
      }
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.dispose() : undefined)));
      if (attempt === 3) throw failed.reason;
    }
    const cluster = new NatsCluster(servers);
    try {
      await cluster.waitForMetaLeader();
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  /** Comma-separated URLs of every node, as NATS_URL takes them. */
  get urls(): string {
    return this.servers.map((s) => s.url).join(",");
  }

  async waitForMetaLeader(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const live = this.servers.filter((s) => s.running);
    const nc = await connect({ servers: live.map((s) => s.url) });
    try {
      while (Date.now() < deadline) {
        try {
          // jetstreamManager() itself asks for account info, which fails until a meta leader exists.
          const jsm = await jetstreamManager(nc, { timeout: 2000 });
          await jsm.getAccountInfo();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      throw new Error("the cluster elected no JetStream meta leader in time");
    } finally {
      await nc.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}
