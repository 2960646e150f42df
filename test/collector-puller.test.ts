import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Puller, ReadAheadBudget } from "../src/collector/puller.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";

/** A fresh server with stream P_<i> capturing `subjects[i]` and its AckAll pull consumer C, for `body`. */
async function withStreams(subjects: string[], body: (nc: NatsConnection, jsm: JetStreamManager) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const [i, subject] of subjects.entries()) {
      await jsm.streams.add({ name: `P_${i}`, subjects: [subject] });
      await jsm.consumers.add(`P_${i}`, { durable_name: "C", ack_policy: AckPolicy.All });
    }
    await body(nc, jsm);
  } finally {
    await nc.close();
    await server.dispose();
  }
}

test("collector puller - never holds more than its budget, however large the backlog; asks for more as lines are taken", () =>
  withStreams(["p.>"], async (nc, jsm) => {
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
  }));

test("collector puller - partitions sharing a read-ahead budget hold at most it together (lines taken count until released), and each gets its turn", () =>
  withStreams(["p0.>", "p1.>"], async (nc) => {
    for (const p of [0, 1]) for (let i = 0; i < 2000; i++) nc.publish(`p${p}.h`, `line ${i}`);
    await nc.flush();
    const shared = new ReadAheadBudget(400);
    const log = pino({ level: "silent" });
    const pullers = [0, 1].map((p) => new Puller({ nc, stream: `P_${p}`, consumer: "C", log, source: `p${p}`, budget: 300, pullSize: 100, shared }));
    for (const p of pullers) p.start();
    await waitUntil("the first lines", () => pullers[0]!.queue.size + pullers[1]!.queue.size >= 400, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(pullers[0]!.queue.size + pullers[1]!.queue.size, 400, "nothing beyond the shared budget while nothing is taken");
    assert.ok(pullers[0]!.queue.size >= 100 && pullers[1]!.queue.size >= 100, "both partitions got a share");

    // Each takes and writes in turn: taken lines count until released.
    const seen = [0, 0];
    const readers = pullers.map(async (puller, p) => {
      for await (const batch of puller.queue.batches(250)) {
        puller.took(batch.length);
        puller.refill();
        assert.ok(shared.used() <= 400 + 2 * 250, "within the budget (plus the little an idle partition may always ask)");
        await new Promise((r) => setTimeout(r, 5)); // "writing"
        seen[p]! += batch.length;
        nc.publish(batch[batch.length - 1]!.reply, "+ACK");
        puller.release(batch.length);
        if (seen[p] === 2000) break;
      }
    });
    await Promise.all(readers);
    assert.deepEqual(seen, [2000, 2000], "every line of both partitions");
    await Promise.all(pullers.map((p) => p.stop()));
  }));

test("collector puller - a collector too busy to read heartbeats for a while does not pull again while the server still holds its requests", () =>
  withStreams(["p.>"], async (nc, jsm) => {
    const { log, text } = memoryLogger();
    const puller = new Puller({ nc, stream: "P_0", consumer: "C", log, source: "test", budget: 300, pullSize: 100, heartbeatMs: 100 });
    puller.start();
    await waitUntil("the requests waiting on the server", async () => (await jsm.consumers.info("P_0", "C")).num_waiting > 0, 5000);
    // Busy for six heartbeats (a collector opening thousands of new files): heartbeats wait unread.
    const until = Date.now() + 600;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, 1000));
    assert.doesNotMatch(text(), /pulling again/);
    // The requests it kept still deliver.
    for (let i = 0; i < 10; i++) nc.publish("p.h", `line ${i}`);
    await waitUntil("the lines", () => puller.queue.size === 10, 5000);
    await puller.stop();
  }));
