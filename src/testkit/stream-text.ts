// Everything a stream holds, as text with one line per message, for line audits in tests.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";

export async function storedText(nc: NatsConnection, stream = "LOGS_0"): Promise<string> {
  const n = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  let out = "";
  if (n === 0) return out;
  const messages = await (await jetstream(nc).consumers.get(stream)).consume();
  let count = 0;
  for await (const m of messages) {
    out += Buffer.from(m.data).toString("utf8") + "\n";
    if (++count === n) break;
  }
  await messages.close();
  return out;
}
