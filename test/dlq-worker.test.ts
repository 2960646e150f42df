// The dead-letter worker against a real server: what a collector consumer terminates or gives up
// on ends in SHIPPER_DLQ once, with headers naming where it came from and why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { pino } from "pino";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";
import { applySetupPlan, planSetupOnServer } from "../src/streams/setup.js";
import { defaultStreamSettings, type StreamSettings } from "../src/streams/desired.js";
import type { Layout } from "../src/streams/layout.js";
import { DEFAULT_DLQ_MAX_AGE_MS } from "../src/deadletter/desired.js";
import { startDeadLetterWorker } from "../src/deadletter/worker.js";
import { ADVISORY_STREAM, DLQ_STREAM } from "../src/deadletter/names.js";

function capturedLogger() {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s).msg as string) });
  return { log, lines };
}

async function setUp(nc: NatsConnection, settings: Partial<StreamSettings> = {}): Promise<Layout> {
  const plan = await planSetupOnServer(nc, {
    prefix: "logs",
    partitions: 2,
    settings: { ...defaultStreamSettings("logs"), ...settings },
    deadLetters: { maxAgeMs: DEFAULT_DLQ_MAX_AGE_MS, replicas: 1 },
  });
  assert.deepEqual(plan.refusals, []);
  await applySetupPlan(nc, plan, 1, () => {});
  return plan.layout;
}

async function withServer(body: (nc: NatsConnection, jsm: JetStreamManager, server: NatsServer) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    await body(nc, await jetstreamManager(nc), server);
  } finally {
    await nc.close();
    await server.dispose();
  }
}

async function dlqCount(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(DLQ_STREAM)).state.messages;
}

async function dlqMessage(jsm: JetStreamManager, seq: number): Promise<StoredMsg> {
  const m = await jsm.streams.getMessage(DLQ_STREAM, { seq });
  assert.ok(m, `SHIPPER_DLQ #${seq} exists`);
  return m;
}

/** Takes the next message of a consumer and settles it like a collector that cannot write it. */
async function takeAndTerm(nc: NatsConnection, stream: string, consumer: string): Promise<number> {
  const c = await jetstream(nc).consumers.get(stream, consumer);
  const m = await c.next({ expires: 5_000 });
  assert.ok(m, "a message was delivered");
  m.term(); // plain term(): 2.9 ignores a reason
  await nc.flush();
  return m.seq;
}

test("dlq worker - a terminated line ends in SHIPPER_DLQ with stream, sequence, subject, deliveries, reason and time; advisories from before the worker started are not missed", async () => {
  await withServer(async (nc, jsm) => {
    const layout = await setUp(nc);
    const js = jetstream(nc);
    const h = headers();
    h.set("Nats-Msg-Id", "bad host:1:2:0badc0de:0:15");
    h.set("X-Extra", "kept");
    const pub = await js.publish("logs.p1.a/b", "a poison line", { headers: h });
    assert.equal(await takeAndTerm(nc, "LOGS_1", "COLLECTOR"), pub.seq);
    // The advisory waits in SHIPPER_ADVISORIES although no worker listened.
    await waitUntil("advisory kept", async () => (await jsm.streams.info(ADVISORY_STREAM)).state.messages === 1, 5_000);

    const { log, lines } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 10_000);
      const m = await dlqMessage(jsm, 1);
      assert.equal(m.subject, `shipper.dlq.collector.LOGS_1.${pub.seq}`);
      assert.equal(new TextDecoder().decode(m.data), "a poison line");
      assert.equal(m.header.get("Shipper-DLQ-Stream"), "LOGS_1");
      assert.equal(m.header.get("Shipper-DLQ-Sequence"), String(pub.seq));
      assert.equal(m.header.get("Shipper-DLQ-Consumer"), "COLLECTOR");
      assert.equal(m.header.get("Shipper-DLQ-Deliveries"), "1");
      assert.equal(m.header.get("Shipper-Reason"), "terminated");
      assert.equal(m.header.get("Shipper-Subject"), "logs.p1.a/b");
      assert.match(m.header.get("Shipper-DLQ-Time"), /^\d{4}-\d\d-\d\dT/);
      assert.match(m.header.get("Shipper-DLQ-Advisory-Time"), /^\d{4}-\d\d-\d\dT/);
      assert.equal(m.header.get("Nats-Msg-Id"), `LOGS_1:${pub.seq}`);
      assert.equal(m.header.get("Shipper-DLQ-Original-Msg-Id"), "bad host:1:2:0badc0de:0:15");
      assert.equal(m.header.get("X-Extra"), "kept");
      await waitUntil("advisory acknowledged", async () => (await jsm.consumers.info(ADVISORY_STREAM, "DEADLETTERS_LOGS")).num_ack_pending === 0, 5_000);
      assert.equal(worker.counters.stored, 1);
      assert.ok(lines.some((l) => /dead letter: message LOGS_1#1: consumer COLLECTOR terminated \(1 delivery\); copied to SHIPPER_DLQ #1/.test(l)), lines.join("\n"));
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - a line out of deliveries (max-deliver 2) is copied with reason max-deliveries", async () => {
  await withServer(async (nc, jsm) => {
    const layout = await setUp(nc, { maxDeliver: 2, ackWaitMs: 1_000 });
    const { log } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await worker.reading;
      const js = jetstream(nc);
      await js.publish("logs.p0.web2.example.net", "never written");
      const c = await js.consumers.get("LOGS_0", "COLLECTOR");
      for (let i = 1; i <= 2; i++) {
        const m = await c.next({ expires: 5_000 });
        assert.ok(m, `delivery ${i}`);
        assert.equal(m.info.deliveryCount, i);
        m.nak(); // a write that failed: delivered again until max-deliver
      }
      // 2.9 sends the advisory when it would deliver the message a third time: while a pull waits.
      assert.equal(await c.next({ expires: 2_000 }), null, "not delivered past max-deliver");
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 10_000);
      const m = await dlqMessage(jsm, 1);
      assert.equal(m.header.get("Shipper-Reason"), "max-deliveries");
      assert.equal(m.header.get("Shipper-DLQ-Deliveries"), "2");
      assert.equal(m.header.get("Shipper-DLQ-Stream"), "LOGS_0");
      assert.equal(new TextDecoder().decode(m.data), "never written");
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - a repeated advisory is stored once, inside and beyond the duplicate window; advisories of other consumers are skipped", async () => {
  await withServer(async (nc, jsm) => {
    const layout = await setUp(nc);
    const js = jetstream(nc);
    await js.publish("logs.p0.web2.example.net", "poison");
    await takeAndTerm(nc, "LOGS_0", "COLLECTOR");
    const { log, lines } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 10_000);
      // The same advisory again, as a redelivery or a second server report would bring it.
      const advisory = (await jsm.streams.getMessage(ADVISORY_STREAM, { seq: 1 }))!;
      nc.publish(advisory.subject, advisory.data);
      await waitUntil("repeat handled", () => worker.counters.alreadyStored === 1, 10_000);
      // And once the duplicate window is over: found by its subject, not only by its message id.
      const dlq = await jsm.streams.info(DLQ_STREAM);
      await jsm.streams.update(DLQ_STREAM, { ...dlq.config, duplicate_window: 100_000_000 });
      await new Promise((r) => setTimeout(r, 300));
      nc.publish(advisory.subject, advisory.data);
      // Another application's consumer on the same stream: not this deployment's dead letter.
      await jsm.consumers.add("LOGS_0", { durable_name: "OTHER", ack_policy: AckPolicy.Explicit });
      await takeAndTerm(nc, "LOGS_0", "OTHER");
      await waitUntil("all advisories handled", () => worker.counters.alreadyStored === 2 && worker.counters.otherConsumers === 1, 10_000);
      assert.equal(await dlqCount(jsm), 1);
      assert.equal(worker.counters.stored, 1);
      assert.ok(lines.some((l) => /already in SHIPPER_DLQ as #1 \(repeated advisory\), not stored again/.test(l)), lines.join("\n"));
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - a line gone from its stream before it could be copied is recorded without its line, counted and logged", async () => {
  await withServer(async (nc, jsm) => {
    const layout = await setUp(nc);
    const js = jetstream(nc);
    const pub = await js.publish("logs.p0.web2.example.net", "gone soon");
    await takeAndTerm(nc, "LOGS_0", "COLLECTOR");
    await jsm.streams.deleteMessage("LOGS_0", pub.seq); // as retention would, while no worker ran
    const { log, lines } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await waitUntil("loss recorded", async () => (await dlqCount(jsm)) === 1, 10_000);
      const m = await dlqMessage(jsm, 1);
      assert.equal(m.data.length, 0);
      assert.match(m.header.get("Shipper-DLQ-Lost"), /message 1 is no longer in stream LOGS_0/);
      assert.equal(m.header.get("Shipper-Reason"), "terminated");
      assert.equal(worker.counters.lost, 1);
      assert.ok(lines.some((l) => /dead letter LOST: message LOGS_0#1/.test(l)), lines.join("\n"));
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - waits for a missing dead-letter store, and copies once setup made it", async () => {
  await withServer(async (nc, jsm) => {
    const layout: Layout = { version: 1, prefix: "logs", partitions: 2, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" };
    const { log, lines } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await waitUntil("warned", () => lines.some((l) => /cannot read consumer DEADLETTERS_LOGS of stream SHIPPER_ADVISORIES/.test(l)), 5_000);
      await setUp(nc);
      await worker.reading;
      await jetstream(nc).publish("logs.p1.x", "late");
      await takeAndTerm(nc, "LOGS_1", "COLLECTOR");
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 10_000);
      assert.equal(lines.filter((l) => /cannot read consumer/.test(l)).length, 1, "warned once");
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - goes on after its consumer was deleted and made again by setup", async () => {
  await withServer(async (nc, jsm) => {
    const layout = await setUp(nc);
    const { log, lines } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await worker.reading;
      await jsm.consumers.delete(ADVISORY_STREAM, "DEADLETTERS_LOGS");
      await new Promise((r) => setTimeout(r, 500));
      await setUp(nc);
      await jetstream(nc).publish("logs.p1.x", "after");
      await takeAndTerm(nc, "LOGS_1", "COLLECTOR");
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 10_000);
      assert.ok(lines.some((l) => /reading SHIPPER_ADVISORIES > DEADLETTERS_LOGS stopped \(consumer deleted\); looking for it again/.test(l)), lines.join("\n"));
    } finally {
      await worker.stop();
    }
  });
});

test("dlq worker - goes on after the server restarted on the same store", async () => {
  await withServer(async (nc, jsm, server) => {
    const layout = await setUp(nc);
    const { log } = capturedLogger();
    const worker = startDeadLetterWorker(nc, layout, log, { retryDelayMs: 200 });
    try {
      await worker.reading;
      await server.restart();
      await waitUntil("reconnected", async () => {
        try {
          return (await jsm.streams.info(DLQ_STREAM)).state.messages === 0;
        } catch {
          return false;
        }
      }, 15_000);
      await jetstream(nc).publish("logs.p0.y", "after restart");
      await takeAndTerm(nc, "LOGS_0", "COLLECTOR");
      await waitUntil("dead letter stored", async () => (await dlqCount(jsm)) === 1, 20_000);
      assert.equal(worker.counters.stored, 1);
    } finally {
      await worker.stop();
    }
  });
});
