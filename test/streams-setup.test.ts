import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type ConsumerInfo } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper } from "../src/testkit/shipper-process.js";
import { readLayoutRecord } from "../src/streams/layout-record.js";

async function withServer(body: (server: NatsServer, nc: NatsConnection) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    await body(server, nc);
  } finally {
    await nc.close();
    await server.dispose();
  }
}

async function consumers(nc: NatsConnection, stream: string): Promise<ConsumerInfo[]> {
  const jsm = await jetstreamManager(nc);
  const out: ConsumerInfo[] = [];
  for await (const ci of jsm.consumers.list(stream)) out.push(ci);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

test("streams setup - creates the per-partition layout and records it; a second run changes nothing; a new max-age is applied and printed", async () => {
  await withServer(async (server, nc) => {
    const env = { NATS_URL: server.url };
    const first = await runShipper(["setup", "--partitions", "4"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created: stream LOGS_3 \(logs\.p3\.>, file storage, limits retention, max-age 1d, replicas 1\)/);
    assert.match(first.stdout, /created: consumer LOGS_0 > COLLECTOR \(pull, ack all, ack-wait 30s, max-deliver 10, max-ack-pending 100000\)/);
    assert.match(first.stdout, /Done: 9 created, 0 changed, 0 already up to date/);

    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 4; i++) {
      const si = await jsm.streams.info(`LOGS_${i}`);
      assert.deepEqual(si.config.subjects, [`logs.p${i}.>`]);
      assert.equal(si.config.storage, "file");
      assert.equal(si.config.retention, "limits");
      assert.equal(si.config.max_age, 86_400e9);
      const [c] = await consumers(nc, `LOGS_${i}`);
      assert.equal(c!.name, "COLLECTOR");
      assert.equal(c!.config.ack_policy, "all");
      assert.equal(c!.config.deliver_policy, "all");
      assert.equal(c!.config.ack_wait, 30e9);
      assert.equal(c!.config.max_deliver, 10);
      assert.equal(c!.config.max_ack_pending, 100_000);
      assert.equal(c!.config.deliver_subject, undefined);
    }
    await assert.rejects(jsm.streams.info("LOGS_4"));
    const record = await readLayoutRecord(nc, "logs");
    assert.deepEqual({ ...record }, { version: 1, prefix: "logs", partitions: 4, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });

    const second = await runShipper(["setup", "--partitions", "4"], env);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /created|changed:/);
    assert.match(second.stdout, /up to date: stream LOGS_2/);
    assert.match(second.stdout, /Nothing to change: the deployment is up to date \(4 streams, 4 consumers, layout record\)/);

    // Left-out --partitions uses the deployment's (4), not the default 10.
    const dry = await runShipper(["setup", "--max-age", "3d", "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would change: stream LOGS_0: max_age 1d -> 3d/);
    assert.equal((await jsm.streams.info("LOGS_0")).config.max_age, 86_400e9);

    const changed = await runShipper(["setup", "--max-age", "3d"], { ...env, SHIPPER_PARTITIONS: "4" });
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /changed: stream LOGS_0: max_age 1d -> 3d/);
    assert.match(changed.stdout, /Done: 0 created, 4 changed, 5 already up to date/);
    assert.equal((await jsm.streams.info("LOGS_3")).config.max_age, 3 * 86_400e9);
  });
});

test("streams setup - a different partition count or layout kind is refused with an explanation, and nothing changes", async () => {
  await withServer(async (server, nc) => {
    const env = { NATS_URL: server.url };
    assert.equal((await runShipper(["setup", "--partitions", "3"], env)).code, 0);
    const refused = await runShipper(["setup", "--partitions", "5"], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /refused; nothing was changed/);
    assert.match(refused.stderr, /partition count: the deployment of prefix "logs" has 3 partitions \(from its layout record\), and setup was asked for 5/);
    assert.match(refused.stderr, /moves most hosts to other partitions/);
    assert.match(refused.stderr, /What to do: keep --partitions 3/);
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.info("LOGS_3"));
    assert.equal((await readLayoutRecord(nc, "logs"))!.partitions, 3);

    const kind = await runShipper(["setup", "--layout", "single"], { ...env, SHIPPER_PARTITIONS: "3" });
    assert.notEqual(kind.code, 0);
    assert.match(kind.stderr, /layout kind: the deployment of prefix "logs" uses the per-partition layout/);

    const storage = await runShipper(["setup", "--storage", "memory"], env);
    assert.notEqual(storage.code, 0);
    assert.match(storage.stderr, /stream LOGS_0: its storage is file and setup was asked for memory; the server cannot change/);

    const replicas = await runShipper(["setup", "--replicas", "3"], env);
    assert.notEqual(replicas.code, 0);
    assert.match(replicas.stderr, /not part of a JetStream cluster/);

    const bad = await runShipper(["setup", "--partitions", "-2"], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--partitions \/ SHIPPER_PARTITIONS must be a whole number/);
  });
});

test("streams setup - the single layout with --seed: one stream, filtered pull consumers, TAIL push consumers", async () => {
  await withServer(async (server, nc) => {
    const env = { NATS_URL: server.url };
    const out = await runShipper(["setup", "--layout", "single", "--partitions", "3", "--seed"], env);
    assert.equal(out.code, 0, out.stderr);
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.info("LOGS");
    assert.deepEqual(si.config.subjects, ["logs.>"]);
    const cs = await consumers(nc, "LOGS");
    assert.deepEqual(
      cs.map((c) => [c.name, c.config.filter_subject, c.config.deliver_subject ?? null, c.config.ack_policy]),
      [
        ["COLLECTOR_p0", "logs.p0.>", null, "all"],
        ["COLLECTOR_p1", "logs.p1.>", null, "all"],
        ["COLLECTOR_p2", "logs.p2.>", null, "all"],
        ["TAIL_p0", "logs.p0.>", "out.logs.p0", "none"],
        ["TAIL_p1", "logs.p1.>", "out.logs.p1", "none"],
        ["TAIL_p2", "logs.p2.>", "out.logs.p2", "none"],
      ],
    );
    assert.equal((await readLayoutRecord(nc, "logs"))!.kind, "single");
    const again = await runShipper(["setup", "--seed"], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Nothing to change/);
  });
});

test("streams setup - --seed on the per-partition layout makes Part 8's TAIL consumers, which deliver with the original subject", async () => {
  await withServer(async (server, nc) => {
    const out = await runShipper(["setup", "--partitions", "10", "--seed"], { NATS_URL: server.url });
    assert.equal(out.code, 0, out.stderr);
    const jsm = await jetstreamManager(nc);
    const tail = await jsm.consumers.info("LOGS_4", "TAIL");
    assert.equal(tail.config.deliver_subject, "out.logs.p4");
    assert.equal(tail.config.deliver_policy, "all");
    assert.equal(tail.config.replay_policy, "instant");
    assert.equal(tail.config.ack_policy, "none");
    const sub = nc.subscribe("out.logs.p4", { max: 1 });
    const { jetstream } = await import("@nats-io/jetstream");
    await jetstream(nc).publish("logs.p4.str1.example.net", "hello");
    for await (const m of sub) {
      assert.equal(m.subject, "logs.p4.str1.example.net"); // Part 8: the original subject, not out.logs.p4
      assert.equal(m.string(), "hello");
    }
  });
});

test("streams setup - adopts a Part 8 deployment made by hand, and refuses another partition count found from its streams", async () => {
  await withServer(async (server, nc) => {
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 10; i++) {
      // The raw configuration `nats str add` / `nats consumer add` of Part 8 produce.
      await jsm.streams.add({ name: `LOGS_${i}`, subjects: [`logs.p${i}.>`], storage: "file", retention: "limits", max_msgs: -1, max_bytes: -1, max_age: 86_400e9 });
      await jsm.consumers.add(`LOGS_${i}`, { durable_name: "TAIL", deliver_subject: `out.logs.p${i}`, deliver_policy: "all", replay_policy: "instant", ack_policy: "none" });
    }
    const env = { NATS_URL: server.url };
    const refused = await runShipper(["setup", "--partitions", "6"], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /has 10 partitions \(from the streams found on the server \(LOGS_0, LOGS_1/);

    const adopt = await runShipper(["setup"], env);
    assert.equal(adopt.code, 0, adopt.stderr);
    assert.match(adopt.stdout, /existing deployment, from its streams on the server/);
    assert.match(adopt.stdout, /up to date: stream LOGS_9/);
    assert.match(adopt.stdout, /created: consumer LOGS_9 > COLLECTOR/);
    assert.match(adopt.stdout, /created: layout record shipper_layouts\/logs \(10 partitions, per-partition\)/);
    assert.equal((await consumers(nc, "LOGS_9")).length, 2);
    assert.equal((await readLayoutRecord(nc, "logs"))!.partitions, 10);
  });
});
