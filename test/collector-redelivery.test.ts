// AckAll acknowledges everything up to the acked message, so the collector must never ack past a
// delivery it did not write. These tests steal deliveries with a second client that never acks
// them, and check the host's file is still complete, exactly once and in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";

const HOST = "web1.example.net";
const ACK_WAIT_NS = 2_000_000_000;

async function setUp(nc: NatsConnection, ackPolicy: AckPolicy = AckPolicy.All): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
  await jsm.consumers.add("LOGS_0", { durable_name: "COLLECTOR", ack_policy: ackPolicy, ack_wait: ACK_WAIT_NS });
  await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 1, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
  return jsm;
}

async function publish(nc: NatsConnection, from: number, to: number): Promise<string> {
  let text = "";
  for (let i = from; i < to; i++) {
    nc.publish(`logs.p0.${HOST}`, `line ${i}`);
    text += `line ${i}\n`;
  }
  await nc.flush();
  return text;
}

function output(out: string): string {
  const dir = join(out, HOST);
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
}

/** Takes up to `n` deliveries of the collector's consumer and never acknowledges them. */
async function steal(nc: NatsConnection, n: number): Promise<number> {
  const consumer = await jetstream(nc).consumers.get("LOGS_0", "COLLECTOR");
  let got = 0;
  for await (const _ of await consumer.fetch({ max_messages: n, expires: 1000 })) got++;
  return got;
}

function env(server: NatsServer, out: string): NodeJS.ProcessEnv {
  return { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" };
}

test("collector redelivery - deliveries a previous reader left unacknowledged are written first, in order, not acked away", async () => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-redeliver-"));
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  try {
    const jsm = await setUp(nc);
    const expected = await publish(nc, 0, 3000);
    assert.equal(await steal(nc, 10), 10); // like a collector killed between delivery and write
    collector = new ShipperProcess(["collector"], env(server, out));
    await waitUntil("all lines", () => output(out).length >= expected.length || !collector!.running, 20_000);
    assert.equal(output(out), expected);
    assert.match(collector.stderr, /10 lines were delivered before but never acknowledged/);
    await waitUntil("all acknowledged", async () => (await jsm.consumers.info("LOGS_0", "COLLECTOR")).num_ack_pending === 0, 5000);
    assert.equal((await collector.stop()).code, 0);
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});

test("collector redelivery - a gap in deliveries while running pauses until they are redelivered; the file stays exact", async () => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-redeliver-"));
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  try {
    await setUp(nc);
    let expected = await publish(nc, 0, 1000);
    collector = new ShipperProcess(["collector"], env(server, out));
    await waitUntil("first lines", () => output(out).length >= expected.length || !collector!.running, 20_000);
    // Publish while a second client competes for deliveries, until it has taken some.
    let stolen = 0;
    let next = 1000;
    const stealing = (async () => {
      for (let round = 0; round < 20 && stolen === 0; round++) stolen += await steal(nc, 3);
    })();
    while (stolen === 0 && next < 50_000) {
      expected += await publish(nc, next, next + 100);
      next += 100;
      await new Promise((r) => setTimeout(r, 5));
    }
    await stealing;
    assert.ok(stolen > 0, "the second client took some deliveries");
    expected += await publish(nc, next, next + 500);
    await waitUntil("every line", () => output(out).length >= expected.length || !collector!.running, 30_000);
    assert.equal(output(out), expected, "complete, exactly once, in order");
    assert.match(collector.stderr, /arrived where \d+ was expected/);
    assert.equal((await collector.stop()).code, 0);
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});

test("collector redelivery - a consumer with ack policy explicit gets every line acknowledged", async () => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-redeliver-"));
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  try {
    const jsm = await setUp(nc, AckPolicy.Explicit);
    const expected = await publish(nc, 0, 5000);
    collector = new ShipperProcess(["collector"], env(server, out));
    await waitUntil("all lines", () => output(out).length >= expected.length || !collector!.running, 20_000);
    assert.equal(output(out), expected);
    await waitUntil("all acknowledged", async () => {
      const info = await jsm.consumers.info("LOGS_0", "COLLECTOR");
      return info.num_ack_pending === 0 && info.ack_floor.stream_seq === 5000;
    }, 5000);
    assert.equal((await collector.stop()).code, 0);
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});
