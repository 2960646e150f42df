// Before reading anything, ask JetStream whether a stream captures the agent's subject, so a
// missing `shipper setup` is reported at start rather than at the first line. Best effort: an
// agent whose credentials only allow publishing cannot ask, and then the first line's "no
// responders" answer reports the same error.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { NoStreamError } from "./errors.js";

export async function checkStreamCaptures(nc: NatsConnection, subject: string, log: Logger): Promise<string[]> {
  let names: string[] = [];
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    for await (const name of jsm.streams.names(subject)) names.push(name);
  } catch (err) {
    log.debug(`cannot list the streams for "${subject}" (${(err as Error).message}); the first publish will tell`);
    return [];
  }
  if (names.length === 0) throw new NoStreamError(subject);
  names = names.sort();
  return names;
}
