import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper } from "../src/testkit/shipper-process.js";
import { partitionOf } from "../src/protocol/partition.js";
import type { DeploymentReport } from "../src/streams/report.js";

const HOSTS = ["web1.example.net", "web2.example.net", "db1.example.net", "str1.example.net"];

async function publishLines(nc: NatsConnection, perHost: number, partitions: number): Promise<Map<number, number>> {
  const js = jetstream(nc);
  const byPartition = new Map<number, number>();
  for (let i = 0; i < perHost; i++) {
    for (const host of HOSTS) {
      const p = partitionOf(host, partitions);
      await js.publish(`logs.p${p}.${host}`, `Apr  2 12:26:43 ${host} app[1]: line ${i}`);
      byPartition.set(p, (byPartition.get(p) ?? 0) + 1);
    }
  }
  return byPartition;
}

test("streams report - counts the lines of every stream of the layout, with consumers' pending; table and --json", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const env = { NATS_URL: server.url };
    assert.equal((await runShipper(["setup", "--partitions", "10"], env)).code, 0);
    const byPartition = await publishLines(nc, 25, 10);

    const json = await runShipper(["report", "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as DeploymentReport;
    assert.equal(report.source, "layout record");
    assert.deepEqual(report.streams.map((s) => s.name), Array.from({ length: 10 }, (_, i) => `LOGS_${i}`));
    for (const s of report.streams) {
      const p = Number(s.name.slice("LOGS_".length));
      const expected = byPartition.get(p) ?? 0;
      assert.equal(s.messages, expected, s.name);
      assert.equal(s.consumers, 1);
      assert.equal(s.storage, "file");
      assert.equal(s.replicas, 1);
      assert.equal(s.firstTime === undefined, expected === 0);
      const [c] = s.consumerReports;
      assert.equal(c!.name, "COLLECTOR");
      assert.equal(c!.pending, expected);
      assert.equal(c!.ackPending, 0);
      assert.equal(c!.lastDeliveredSeq, 0);
    }
    assert.ok(report.streams[5]!.bytes > 0);

    const table = await runShipper(["report"], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /Streams of prefix "logs": 10 partitions, per-partition layout/);
    // web1 (p5) and str1 (p4) have 25 lines each; web2 and db1 are in p0 and p9.
    assert.match(table.stdout, /│ LOGS_5 +│ logs\.p5\.> +│ +1 │ +25 │ +[0-9.]+ KiB │ file +│ +1 │ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d │/);
    assert.match(table.stdout, /│ LOGS_3 +│ logs\.p3\.> +│ +1 │ +0 │ +0 B │ file +│ +1 │ - +│ - +│/);
    assert.match(table.stdout, /│ LOGS_5 +│ COLLECTOR │ pull +│ +25 │ +0 │ +0 │ +0 │ +0 │/);

    const all = JSON.parse((await runShipper(["report", "--all", "--json"], env)).stdout) as DeploymentReport;
    assert.ok(all.streams.some((s) => s.name === "KV_shipper_layouts"));
  } finally {
    await nc.close();
    await server.dispose();
  }
});

test("streams report - works on a Part 8 deployment made by hand (no layout record), finding streams by subject", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 10; i++) {
      await jsm.streams.add({ name: `LOGS_${i}`, subjects: [`logs.p${i}.>`], storage: "file", max_age: 86_400e9 });
      await jsm.consumers.add(`LOGS_${i}`, { durable_name: "TAIL", deliver_subject: `out.logs.p${i}`, deliver_policy: "all", replay_policy: "instant", ack_policy: "none" });
    }
    await jsm.streams.add({ name: "UNRELATED", subjects: ["other.>"] });
    const byPartition = await publishLines(nc, 10, 10);
    const out = await runShipper(["report", "--json"], { NATS_URL: server.url });
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout) as DeploymentReport;
    assert.equal(report.source, "subjects");
    assert.equal(report.streams.length, 10);
    assert.equal(report.streams[4]!.messages, byPartition.get(4));
    assert.deepEqual(
      report.streams[4]!.consumerReports.map((c) => [c.name, c.kind, c.deliverSubject]),
      [["TAIL", "push", "out.logs.p4"]],
    );
    const table = await runShipper(["report"], { NATS_URL: server.url });
    assert.match(table.stdout, /no layout record/);
    assert.match(table.stdout, /push -> out\.logs\.p4/);
    assert.doesNotMatch(table.stdout, /UNRELATED/);
  } finally {
    await nc.close();
    await server.dispose();
  }
});
