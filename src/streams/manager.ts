// The JetStream manager for the admin commands, with the one failure users meet first turned
// into a plain instruction: a server started without JetStream.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { ConfigError } from "../config/errors.js";

export async function openJetStreamManager(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (err) {
    if ((err as Error).name === "JetStreamNotEnabled") {
      throw new ConfigError(
        `JetStream is not enabled on the NATS server at ${nc.getServer()}; start nats-server with JetStream (-js, or a jetstream {} block in its configuration)`,
        { cause: err },
      );
    }
    throw err;
  }
}
