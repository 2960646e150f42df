// The collector against a deployment made by hand as in Part 8 (SPEC.md §4), not by our setup:
// streams and push consumers from the raw JSON API, lines from plain core publishes like the
// original producer, the collector run with only the original's environment variables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import strftime from "strftime";
import { partitionOf } from "../src/protocol/partition.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";

const DAY_NS = 86_400 * 1e9;

async function api(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const reply = (await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json<Record<string, unknown>>();
  assert.equal(reply.error, undefined, `${subject}: ${JSON.stringify(reply.error)}`);
  return reply;
}

/** `nats str add LOGS_i ...` and `nats consumer add LOGS_i TAIL ...` of Part 8, as raw API requests. */
async function createPart8Layout(nc: NatsConnection): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await api(nc, `$JS.API.STREAM.CREATE.LOGS_${i}`, {
      name: `LOGS_${i}`,
      subjects: [`logs.p${i}.>`],
      retention: "limits",
      max_consumers: -1,
      max_msgs: -1,
      max_bytes: -1,
      max_age: DAY_NS,
      max_msg_size: -1,
      storage: "file",
      discard: "old",
      num_replicas: 1,
    });
    await api(nc, `$JS.API.CONSUMER.DURABLE.CREATE.LOGS_${i}.TAIL`, {
      stream_name: `LOGS_${i}`,
      config: {
        durable_name: "TAIL",
        deliver_subject: `out.logs.p${i}`,
        deliver_policy: "all",
        ack_policy: "none",
        replay_policy: "instant",
      },
    });
  }
}

const HOSTS = ["web1.example.net", "web2.example.net", "db1.example.net", "str1.example.net"];

function linesOf(host: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(i % 97 === 0 ? "" : `Apr  2 12:26:43 ${host} syslogd[100]: line ${i} of ${host}\r`.slice(0, i % 2 ? undefined : -1));
  return out;
}

test("collector compatibility - Part 8 streams and TAIL push consumers, only the original's variables, files where the original put them", async () => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-compat-"));
  let collector: ShipperProcess | undefined;
  const nc = await connect({ servers: server.url });
  try {
    await createPart8Layout(nc);
    const publish = (from: number, to: number) => {
      for (const host of HOSTS) {
        for (const line of linesOf(host, from, to)) nc.publish(`logs.p${partitionOf(host, 10)}.${host}`, line);
      }
    };
    publish(0, 1500); // stored before the collector starts
    await nc.flush();

    collector = new ShipperProcess(
      ["consumer"],
      {
        NATS_URL: server.url,
        SHIPPER_SUBJECT: "logs",
        SHIPPER_DIRECTORY: out,
        SHIPPER_OUTPUT: "logfile",
        SHIPPER_STREAM_TARGET: "out.logs",
        SHIPPER_READ_PARTITIONS: "0, 1,2,3,4,5,6,7,8,9",
      },
      { inheritEnv: false },
    );
    await collector.waitForOutput(/Waiting for messages on subject out\.logs\.p9/);
    publish(1500, 3000); // delivered live
    await nc.flush();

    const fileName = `logfile-${strftime("%Y%m%d", new Date())}0000`;
    const expected = new Map(HOSTS.map((h) => [h, linesOf(h, 0, 3000).map((l) => l + "\n").join("")]));
    const fileOf = (h: string) => join(out, h, fileName);
    await waitUntil(
      "every host's file complete",
      () => HOSTS.every((h) => existsSync(fileOf(h)) && readFileSync(fileOf(h)).length >= Buffer.byteLength(expected.get(h)!)) || !collector!.running,
      30_000,
    );
    for (const h of HOSTS) {
      assert.deepEqual(readdirSync(join(out, h)), [fileName], h);
      assert.equal(readFileSync(fileOf(h), "utf8"), expected.get(h), `${h}: exact contents`);
      assert.ok(collector.stderr.includes(`Creating new log "${fileOf(h)}"`), collector.stderr);
    }
    assert.deepEqual(readdirSync(out).sort(), [...HOSTS].sort(), "nothing else in the output directory");
    const exit = await collector.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /collector stopped: 12000 lines/);
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});
