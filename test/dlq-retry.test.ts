// `retryDeadLetter` against a real server: a line retried twice at once is stored once; entries
// that cannot be sent stay, with the reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { applySetupPlan, planSetupOnServer } from "../src/streams/setup.js";
import { defaultStreamSettings } from "../src/streams/desired.js";
import { DEFAULT_DLQ_MAX_AGE_MS } from "../src/deadletter/desired.js";
import { DeadLetterStore } from "../src/deadletter/store.js";
import { retryDeadLetter, retryObstacle, RetryRefused } from "../src/deadletter/retry.js";
import { DLQ_STREAM, retryMsgId } from "../src/deadletter/names.js";
import { parseMsgId } from "../src/protocol/msg-id.js";

async function withStore(body: (nc: NatsConnection, jsm: JetStreamManager, store: DeadLetterStore) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const plan = await planSetupOnServer(nc, {
      prefix: "logs",
      partitions: 2,
      settings: defaultStreamSettings("logs"),
      deadLetters: { maxAgeMs: DEFAULT_DLQ_MAX_AGE_MS, replicas: 1 },
    });
    await applySetupPlan(nc, plan, 1, () => {});
    await body(nc, await jetstreamManager(nc), await DeadLetterStore.open(nc));
  } finally {
    await nc.close();
    await server.dispose();
  }
}

/** A collector's dead letter as the worker stores it. */
async function deadLetter(nc: NatsConnection, fields: Record<string, string>, line = "the line"): Promise<number> {
  const h = headers();
  for (const [k, v] of Object.entries({ "Shipper-DLQ-Stream": "LOGS_0", "Shipper-DLQ-Sequence": "9", "Shipper-Reason": "terminated", ...fields })) {
    h.set(k, v);
  }
  const ack = await jetstream(nc).publish(`shipper.dlq.collector.LOGS_0.${Math.random().toString().slice(2)}`, line, { headers: h });
  return ack.seq;
}

test("dlq retry - the same dead letter retried twice at once is stored once, with the original's headers and where it came from", async () => {
  await withStore(async (nc, jsm, store) => {
    await jsm.consumers.add("LOGS_0", { durable_name: "READER", ack_policy: AckPolicy.Explicit });
    const seq = await deadLetter(nc, { "Shipper-Subject": "logs.p0.web2.example.net", "X-Extra": "kept", "Shipper-DLQ-Original-Msg-Id": "id" });
    const results = await Promise.allSettled([retryDeadLetter(store, seq), retryDeadLetter(store, seq)]);
    const done = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof RetryRefused && r.reason.missing, String(r.reason));
    assert.ok(done.length >= 1);
    assert.equal((await jsm.streams.info("LOGS_0")).state.messages, 1, "stored once");
    assert.equal(await store.get(seq), undefined, "removed from the store");

    const reader = await jetstream(nc).consumers.get("LOGS_0", "READER");
    const m = await reader.next({ expires: 2_000 });
    assert.ok(m);
    assert.equal(m.subject, "logs.p0.web2.example.net");
    assert.equal(m.string(), "the line");
    assert.equal(m.headers?.get("X-Extra"), "kept");
    assert.equal(m.headers?.get("Shipper-Retried-From"), `${DLQ_STREAM}#${seq}`);
    assert.match(m.headers?.get("Nats-Msg-Id") ?? "", new RegExp(`^dlq-retry:${seq}`));
    for (const k of m.headers?.keys() ?? []) assert.doesNotMatch(k, /^Shipper-(DLQ-|Reason|Subject)/i, `bookkeeping header ${k} left on the line`);
    m.ack();
    assert.equal(await reader.next({ expires: 1_000 }), null, "delivered once");
  });
});

test("dlq retry - lost lines, parts, lines over the max payload and subjects no stream captures are refused and stay", async () => {
  await withStore(async (nc, jsm, store) => {
    const lost = await deadLetter(nc, { "Shipper-DLQ-Lost": "message 9 is no longer in stream LOGS_0" }, "");
    const part = await deadLetter(nc, { "Shipper-Subject": "logs.p0.h", "Shipper-Part": "1/3" });
    const nowhere = await deadLetter(nc, { "Shipper-Subject": "nobody.listens.here" });
    const huge = await deadLetter(nc, { "Shipper-Subject": "logs.p0.h" }, "x".repeat(nc.info!.max_payload - 1000));
    const badBatch = await deadLetter(nc, { "Shipper-Subject": "logs.p0.h", "Shipper-Batch": "3" }, "one\ntwo");
    const expectations: Array<[number, RegExp]> = [
      [lost, /its line was never copied \(message 9 is no longer in stream LOGS_0\)/],
      [part, /it is part 1\/3 of a line split in parts/],
      [nowhere, /no stream captures its subject nobody\.listens\.here/],
      [badBatch, /it is a malformed batch \(Shipper-Batch "3" does not match its 7 bytes\)/],
    ];
    // On a server with a smaller max payload `huge` would be refused; here it fits, so check the rule alone.
    const hugeEntry = (await store.get(huge))!;
    assert.match(retryObstacle(hugeEntry, 1024) ?? "", /larger than the server's max payload \(1024 bytes\)/);
    for (const [seq, reason] of expectations) {
      await assert.rejects(retryDeadLetter(store, seq), (err: unknown) => err instanceof RetryRefused && reason.test(err.message));
      assert.ok(await store.get(seq), `#${seq} stays`);
    }
    assert.equal((await jsm.streams.info("LOGS_0")).state.messages, 0);
  });
});

test("dlq retry - a batch of lines is sent again as its lines, in order, each once, with ids no reader takes for an agent's", async () => {
  await withStore(async (nc, jsm, store) => {
    await jsm.consumers.add("LOGS_0", { durable_name: "READER", ack_policy: AckPolicy.Explicit });
    const agentId = "web2.example.net:2049:1234:0badc0de:0:120:b3";
    const seq = await deadLetter(nc, { "Shipper-Subject": "logs.p0.web2.example.net", "Shipper-Batch": "3", "Shipper-DLQ-Original-Msg-Id": agentId }, "first\n\nthird");
    const first = await retryDeadLetter(store, seq);
    assert.equal(first.streamSeqs.length, 3);
    assert.equal(first.duplicates, 0);
    const reader = await jetstream(nc).consumers.get("LOGS_0", "READER");
    const got: string[] = [];
    for (;;) {
      const m = await reader.next({ expires: 1_000 });
      if (!m) break;
      got.push(m.string());
      assert.equal(m.headers?.get("Shipper-Batch"), "", "no batch header on a retried line");
      assert.equal(parseMsgId(m.headers!.get("Nats-Msg-Id")), undefined, "not an agent line id");
      m.ack();
    }
    assert.deepEqual(got, ["first", "", "third"]);
  });
  for (const id of [retryMsgId(5, undefined), retryMsgId(5, "LOGS_0:9"), retryMsgId(5, "h:1:2:0badc0de:0:15"), retryMsgId(5, "h:1:2:0badc0de:0:15:b3", 2)]) {
    assert.equal(parseMsgId(id), undefined, id);
  }
});
