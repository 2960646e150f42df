import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Puller } from "../src/collector/puller.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";

test("collector puller - never holds more than its budget, however large the backlog; asks for more as lines are taken", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "P_0", subjects: ["p.>"] });
    await jsm.consumers.add("P_0", { durable_name: "C", ack_policy: AckPolicy.All });
    for (let i = 0; i < 5000; i++) nc.publish("p.h", `line ${i}`);
    await nc.flush();
    const puller = new Puller({ nc, stream: "P_0", consumer: "C", log: pino({ level: "silent" }), source: "test", budget: 300, pullSize: 100 });
    puller.start();
    await waitUntil("the first lines", () => puller.queue.size >= 300, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(puller.queue.size, 300, "nothing beyond the budget while nothing is taken");
    assert.equal((await jsm.consumers.info("P_0", "C")).delivered.consumer_seq, 300);

    const seen: string[] = [];
    for await (const batch of puller.queue.batches(250)) {
      for (const m of batch) seen.push(Buffer.from(m.data).toString());
      nc.publish(batch[batch.length - 1]!.reply, "+ACK"); // AckAll (the consumer allows 1,000 unacknowledged)
      assert.ok(puller.queue.size <= 300);
      puller.refill();
      if (seen.length === 5000) break;
    }
    assert.deepEqual(seen, Array.from({ length: 5000 }, (_, i) => `line ${i}`), "every line, in order");
    await puller.stop();
  } finally {
    await nc.close();
    await server.dispose();
  }
});
