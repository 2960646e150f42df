// Faults 3 and 4: the real agent and the real collector ship two growing files while nats-server
// is SIGKILLed and restarted on its store (a 2.9 server may come back with the consumer's
// delivered pointer past lines it never delivered: the collector reads those from the stream),
// or SIGSTOPped longer than the agent's publish timeout and then continued. Each host's file
// must hold every line exactly once, in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, agentProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines, type LineAudit } from "../src/testkit/line-count.js";

const HOSTS = ["web1.example.net", "db1.example.net"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function output(out: string, host: string): string {
  const dir = join(out, host);
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
}

/** One partition as `shipper setup` makes it: stream LOGS_0, an AckAll consumer (3 s ack wait), the layout record. */
async function setUpOnePartition(nc: NatsConnection, jsm: JetStreamManager): Promise<void> {
  await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
  await jsm.consumers.add("LOGS_0", { durable_name: "COLLECTOR", ack_policy: AckPolicy.All, ack_wait: 3_000_000_000 });
  await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 1, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
}

/** Ships two growing files through `server` while `fault` runs; returns each host's audit. */
async function shipThrough(server: NatsServer, fault: () => Promise<void>): Promise<Map<string, LineAudit & { stderr?: string }>> {
  const dir = mkdtempSync(join(tmpdir(), "shipper-fault-server-"));
  const out = join(dir, "out");
  const procs: ShipperProcess[] = [];
  let writing = true;
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await setUpOnePartition(nc, jsm);
    await nc.close();

    const files = new Map(HOSTS.map((h) => [h, join(dir, `${h}.log`)]));
    const written = new Map(HOSTS.map((h) => [h, ""]));
    const writer = (async () => {
      const fds = new Map(HOSTS.map((h) => [h, openSync(files.get(h)!, "a")]));
      let n = 0;
      while (writing) {
        for (const host of HOSTS) {
          let chunk = "";
          for (let i = 0; i < 40; i++) chunk += `${host} line ${String(n++).padStart(7, "0")} <14>Nov 27 07:25:19 app[42]: request served\n`;
          writeSync(fds.get(host)!, chunk);
          written.set(host, written.get(host)! + chunk);
        }
        await sleep(20);
      }
      for (const fd of fds.values()) closeSync(fd);
    })();
    for (const host of HOSTS) {
      procs.push(
        agentProcess({ url: server.url, file: files.get(host)!, host, stateDir: join(dir, `state-${host}`), args: ["--poll-interval", "50ms", "--save-interval", "100ms", "--ack-timeout", "1s"] }),
      );
    }
    const collector = new ShipperProcess(["collector"], { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" });
    procs.push(collector);
    await collector.waitForOutput(/collector: reading/, 15_000);
    await sleep(1000);
    await fault();
    await sleep(1000);
    writing = false;
    await writer;
    await waitUntil(
      "every line written",
      () => HOSTS.every((h) => output(out, h).length >= written.get(h)!.length) || !collector.running,
      40_000,
    ).catch(() => undefined); // the audit below says what is missing
    await sleep(300);
    const audits = new Map<string, LineAudit & { stderr?: string }>();
    for (const host of HOSTS) audits.set(host, auditLines(written.get(host)!, output(out, host)));
    for (const p of procs) {
      const exit = await p.stop();
      if (p === collector) audits.get(HOSTS[0]!)!.stderr = exit.stderr;
    }
    return audits;
  } finally {
    writing = false;
    for (const p of procs) await p.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(t: { diagnostic(m: string): void }, audits: Map<string, LineAudit & { stderr?: string }>): void {
  for (const [host, a] of audits) {
    const { stderr, ...audit } = a;
    t.diagnostic(`${host}: ${JSON.stringify(audit)}`);
    // What the collector went through (skipped sequences read from the stream, waits, counts).
    for (const line of (stderr ?? "").split("\n")) {
      if (/skipped|lost|cut back|never acknowledged|collector stopped/.test(line)) t.diagnostic(line.replace(/^.*?(ERROR|WARN|INFO)/, "$1"));
    }
    assert.deepEqual(audit, { expected: audit.expected, received: audit.expected, missing: 0, duplicated: 0, outOfOrder: 0 }, stderr?.slice(-3000));
  }
}

test("fault collector - nats-server SIGKILLed twice while agent and collector ship, restarted on its store: every line once, in order", async (t) => {
  const server = await NatsServer.start();
  try {
    const audits = await shipThrough(server, async () => {
      for (let k = 0; k < 2; k++) {
        await server.kill();
        await sleep(500);
        await server.start();
        await sleep(1500);
      }
    });
    check(t, audits);
  } finally {
    await server.dispose();
  }
});

test("fault collector - nats-server SIGSTOPped longer than the publish timeout, then continued: every line once, in order", async (t) => {
  const server = await NatsServer.start();
  try {
    const audits = await shipThrough(server, async () => {
      server.pause();
      await sleep(3000);
      server.resume();
    });
    check(t, audits);
  } finally {
    await server.dispose();
  }
});

test("fault collector - nats-server SIGKILLed while the collector catches up a backlog: every line once, in order", async (t) => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-fault-backlog-"));
  let collector: ShipperProcess | undefined;
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await setUpOnePartition(nc, jsm);
    const host = HOSTS[0]!;
    let sent = "";
    for (let i = 0; i < 40_000; i++) {
      const line = `${host} line ${String(i).padStart(7, "0")} <14>Nov 27 07:25:19 app[42]: request served`;
      nc.publish(`logs.p0.${host}`, line);
      sent += line + "\n";
      if (i % 2000 === 0) await nc.flush();
    }
    await nc.flush();
    await nc.close();
    collector = new ShipperProcess(["collector"], { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" });
    await collector.waitForOutput(/Creating new log/, 15_000);
    for (let k = 0; k < 2; k++) {
      await sleep(150 + Math.random() * 300);
      await server.kill();
      await sleep(300);
      await server.start();
    }
    await waitUntil("every line written", () => output(out, host).length >= sent.length || !collector!.running, 40_000).catch(() => undefined);
    await sleep(300);
    const exit = await collector.stop();
    const audits = new Map([[host, { ...auditLines(sent, output(out, host)), stderr: exit.stderr }]]);
    check(t, audits);
    assert.equal(exit.code, 0, exit.stderr);
  } finally {
    await collector?.kill();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});
