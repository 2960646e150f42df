// The collector's main path: durable pull consumers with AckAll, as `shipper setup` makes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { partitionOf } from "../src/protocol/partition.js";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import type { Layout } from "../src/streams/layout.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";

const LAYOUT: Layout = { version: 1, prefix: "logs", partitions: 3, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" };

async function createLayout(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (let i = 0; i < LAYOUT.partitions; i++) {
    await jsm.streams.add({ name: `LOGS_${i}`, subjects: [`logs.p${i}.>`] });
    await jsm.consumers.add(`LOGS_${i}`, { durable_name: "COLLECTOR", ack_policy: AckPolicy.All, max_ack_pending: 20_000 });
  }
  await writeLayoutRecord(nc, LAYOUT);
  return jsm;
}

function line(host: string, i: number): string {
  return i % 500 === 7 ? "" : `<13>Nov 27 07:25:17 ${host} app[${1000 + (i % 50)}]: request ${i} served in ${i % 313} ms path=/api/v1/items/${i * 7}`;
}

async function publish(nc: NatsConnection, host: string, from: number, to: number): Promise<string> {
  const subject = `logs.p${partitionOf(host, LAYOUT.partitions)}.${host}`;
  let text = "";
  for (let i = from; i < to; i++) {
    nc.publish(subject, line(host, i));
    text += line(host, i) + "\n";
    if (i % 2000 === 0) await nc.flush();
  }
  await nc.flush();
  return text;
}

async function stored(jsm: JetStreamManager): Promise<number> {
  let n = 0;
  for (let i = 0; i < LAYOUT.partitions; i++) n += (await jsm.streams.info(`LOGS_${i}`)).state.messages;
  return n;
}

function outputOf(dir: string, host: string): string {
  const hostDir = join(dir, host);
  if (!existsSync(hostDir)) return "";
  return readdirSync(hostDir).sort().map((f) => readFileSync(join(hostDir, f), "utf8")).join("");
}

function collectorEnv(server: NatsServer, out: string): NodeJS.ProcessEnv {
  return { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "%Y%m%d.log" };
}

/** A server with the layout, an output directory and a client; collectors started with start() are killed after. */
async function withLayout(
  body: (t: { server: NatsServer; out: string; nc: NatsConnection; jsm: JetStreamManager; start: () => ShipperProcess }) => Promise<void>,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    await inTempDir("shipper-pull-", async (out) => {
      const procs: ShipperProcess[] = [];
      const start = () => {
        const p = new ShipperProcess(["collector"], { ...collectorEnv(server, out), ...extraEnv });
        procs.push(p);
        return p;
      };
      try {
        await body({ server, out, nc, jsm: await createLayout(nc), start });
      } finally {
        for (const p of procs) await p.kill(); // before the directory goes
      }
    });
  } finally {
    await nc.close();
    await server.dispose();
  }
}

// Lines are read from the connection's buffer by the pull inbox itself (fast-msg-frames.ts), or,
// with nats.js parsing alone, from its messages; host files are appended to with synchronous
// writes, or through the thread pool: every way must give the same files.
for (const [way, env] of [
  ["read in place", {}],
  ["from nats.js messages", { SHIPPER_NATS_PARSER: "nats" }],
  ["appended through the thread pool", { SHIPPER_SYNC_APPENDS: "off" }],
] as const) {
  test(`collector pull - thousands of lines of several hosts (${way}), every file byte-identical and in order; SIGTERM exits 0 with all acknowledged`, () =>
    withLayout(async ({ out, nc, jsm, start }) => {
      const hosts = ["web1.example.net", "web2.example.net", "web3.example.net", "db1.example.net", "a.b.c.d.example.co.uk"];
      assert.ok(new Set(hosts.map((h) => partitionOf(h, 3))).size >= 2, "hosts spread over partitions");
      const expected = new Map<string, string>();
      for (const h of hosts) expected.set(h, await publish(nc, h, 0, 4000));
      await waitUntil("lines stored", async () => (await stored(jsm)) === hosts.length * 4000);

      const collector = start();
      await collector.waitForOutput(/reading partitions 0,1,2 of "logs"/);
      for (const h of hosts) expected.set(h, expected.get(h)! + (await publish(nc, h, 4000, 6000))); // while it runs

      await waitUntil(
        "every host's file complete",
        () => hosts.every((h) => outputOf(out, h).length >= expected.get(h)!.length) || !collector.running,
        40_000,
      );
      for (const h of hosts) {
        assert.equal(readdirSync(join(out, h)).length, 1);
        assert.equal(outputOf(out, h), expected.get(h), `${h}: byte-identical and in order`);
      }
      const exit = await collector.stop();
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, new RegExp(`collector stopped: ${hosts.length * 6000} lines`));
      for (let i = 0; i < LAYOUT.partitions; i++) {
        // The server applies acknowledgements asynchronously: give it a moment.
        await waitUntil(`LOGS_${i}: everything written acknowledged`, async () => (await jsm.consumers.info(`LOGS_${i}`, "COLLECTOR")).num_ack_pending === 0, 5000);
        assert.equal((await jsm.consumers.info(`LOGS_${i}`, "COLLECTOR")).num_pending, 0, `LOGS_${i}: nothing left`);
      }
    }, env));
}

test("collector pull - SIGTERM under load leaves nothing delivered and unacknowledged; a restart appends the rest exactly once", () =>
  withLayout(async ({ out, nc, jsm, start }) => {
    const host = "busy.example.net";
    const lines = 100_000;
    const expected = await publish(nc, host, 0, lines);
    await waitUntil("lines stored", async () => (await stored(jsm)) === lines);
    const stream = `LOGS_${partitionOf(host, 3)}`;

    const first = start();
    await waitUntil("the first lines written", () => outputOf(out, host).length > 0 || !first.running, 20_000);
    const exit = await first.stop();
    assert.equal(exit.code, 0, exit.stderr);
    const partial = outputOf(out, host);
    // Usually stopped part-way; on a fast machine it may have finished, and the checks still hold.
    assert.ok(expected.startsWith(partial), "what was written is a whole-line prefix of the source");
    // The server applies acknowledgements asynchronously: give it a moment.
    await waitUntil("no delivery left unacknowledged by a clean stop", async () => (await jsm.consumers.info(stream, "COLLECTOR")).num_ack_pending === 0, 5000);
    const info = await jsm.consumers.info(stream, "COLLECTOR");
    assert.equal(info.ack_floor.stream_seq, partial.split("\n").length - 1, "acknowledged exactly what was written");

    const second = start();
    await waitUntil("the rest written", () => outputOf(out, host).length >= expected.length || !second.running, 30_000);
    assert.doesNotMatch(second.stderr, /never acknowledged/, "a clean stop leaves nothing to wait for");
    const [name] = readdirSync(join(out, host));
    assert.equal(readFileSync(join(out, host, name!), "utf8"), expected, "appended, exactly once, in order");
    assert.equal(statSync(join(out, host, name!)).size, Buffer.byteLength(expected));
    assert.equal((await second.stop()).code, 0);
  }));

test("collector pull - a backlog of large lines is asked for a share of bytes at a time: the server never cuts the collector off as a slow consumer", () =>
  withLayout(async ({ server, out, nc, jsm, start }) => {
    // 12,000 lines of 8 KB: by lines alone the default requests (10,000 in flight) ask for 80 MB,
    // more than nats-server's 64 MiB max_pending for one client.
    const host = "big.example.net";
    const subject = `logs.p${partitionOf(host, LAYOUT.partitions)}.${host}`;
    const count = 12_000;
    const big = (i: number) => `${String(i).padStart(6, "0")} ${"x".repeat(8_000)}`;
    for (let i = 0; i < count; i++) {
      nc.publish(subject, big(i));
      if (i % 500 === 0) await nc.flush();
    }
    await nc.flush();
    await waitUntil("lines stored", async () => (await stored(jsm)) === count, 30_000);

    const collector = start();
    await waitUntil("every line written", () => outputOf(out, host).length >= count * 8_008 || !collector.running, 60_000);
    const lines = outputOf(out, host).split("\n").slice(0, -1);
    assert.equal(lines.length, count);
    lines.forEach((l, i) => l === big(i) || assert.fail(`line ${i} is not the ${i}th line sent`));
    assert.doesNotMatch(server.log, /Slow Consumer/i);
    const exit = await collector.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.doesNotMatch(exit.stderr, /disconnected|arrived where/);
  }));
