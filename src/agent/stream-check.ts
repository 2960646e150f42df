// Before reading anything, ask JetStream whether a stream captures the agent's subject, so a
// missing `shipper setup` is reported at start rather than at the first line, and how large a
// message those streams take (max_msg_size), so larger lines are split before sending. Best effort: an
// agent whose credentials only allow publishing cannot ask, and then the first line's "no
// responders" answer reports the same error.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../shared/log.js";
import { NoStreamError } from "./errors.js";

export interface StreamCapture {
  /** The streams that capture the subject (empty when they could not be listed). */
  names: string[];
  /** The smallest positive max_msg_size among them: lines larger than this are split or dead-lettered. */
  maxMessageBytes?: number;
}

export async function checkStreamCaptures(nc: NatsConnection, subject: string, log: Logger): Promise<StreamCapture> {
  const names: string[] = [];
  let jsm: Awaited<ReturnType<typeof jetstreamManager>>;
  try {
    jsm = await jetstreamManager(nc, { timeout: 5000 });
    for await (const name of jsm.streams.names(subject)) names.push(name);
  } catch (err) {
    log.debug(`cannot list the streams for "${subject}" (${(err as Error).message}); the first publish will tell`);
    return { names: [] };
  }
  if (names.length === 0) throw new NoStreamError(subject);
  names.sort();
  let maxMessageBytes: number | undefined;
  for (const name of names) {
    try {
      const max = (await jsm.streams.info(name)).config.max_msg_size ?? -1;
      if (max > 0) maxMessageBytes = Math.min(maxMessageBytes ?? max, max);
    } catch (err) {
      log.debug(`cannot read the configuration of stream ${name} (${(err as Error).message})`);
    }
  }
  return { names, maxMessageBytes };
}
