// A host name that would put a file outside its directory is never written as a path: its lines
// go to the quarantine file, are counted, and each such host is logged once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import strftime from "strftime";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper, ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";

// Hosts like "..", ".hidden" or "a/../b" cannot travel in a subject at all (they make empty
// tokens, which the server drops); the unit tests of host-directory.ts refuse them anyway.
const HOSTILE = ["/etc", "a/b", "c:\\windows", "\u0001bell", "x".repeat(300)];

test("collector hostile hosts - lines of unsafe host names land in quarantine, counted, logged once per host; nothing escapes", async () => {
  const server = await NatsServer.start();
  const work = mkdtempSync(join(tmpdir(), "shipper-hostile-"));
  const out = join(work, "out");
  mkdirSync(out);
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  try {
    // A stream on `logs.>` (so it also keeps a subject that does not parse) read by a pull
    // consumer named on the command line: no layout is recorded for this deployment.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "H_0", subjects: ["logs.>"] });
    await jsm.consumers.add("H_0", { durable_name: "C", ack_policy: AckPolicy.All });
    for (let i = 0; i < 3; i++) {
      for (const host of HOSTILE) nc.publish(`logs.p0.${host}`, `line ${i} of ${JSON.stringify(host)}`);
      nc.publish("logs.p0.ok.example.net", `good line ${i}`);
    }
    nc.publish("logs.px.broken", "a subject without a partition");
    nc.publish("logs.p0./etc", new Uint8Array([0xff, 0xfe, 0x00, 0x0a])); // not UTF-8: kept as base64
    await nc.flush();
    await waitUntil("stored", async () => (await jsm.streams.info("H_0")).state.messages === 3 * (HOSTILE.length + 1) + 2);

    collector = new ShipperProcess(["collector", "--stream", "H", "--consumer", "C"], {
      NATS_URL: server.url,
      SHIPPER_SUBJECT: "logs",
      SHIPPER_DIRECTORY: out,
      SHIPPER_OUTPUT: "logfile",
      SHIPPER_READ_PARTITIONS: "0",
    });
    const quarantineFile = join(out, ".quarantine", `${strftime("%Y-%m-%d", new Date())}.jsonl`);
    const quarantined = () => (existsSync(quarantineFile) ? readFileSync(quarantineFile, "utf8").split("\n").filter((l) => l !== "") : []);
    await waitUntil("every line handled", () => quarantined().length >= 3 * HOSTILE.length + 2 || !collector!.running, 20_000);
    await waitUntil("all acknowledged", async () => (await jsm.consumers.info("H_0", "C")).num_ack_pending === 0);
    const exit = await collector.stop();
    assert.equal(exit.code, 0, exit.stderr);

    // Only the good host became a directory; nothing was written beside the output directory.
    assert.deepEqual(readdirSync(out).sort(), [".quarantine", ".shipper", "ok.example.net"]); // .shipper: the partition state
    assert.deepEqual(readdirSync(work), ["out"]);
    assert.equal(existsSync(`/etc/logfile-${strftime("%Y%m%d", new Date())}0000`), false);
    const [goodFile] = readdirSync(join(out, "ok.example.net"));
    assert.equal(readFileSync(join(out, "ok.example.net", goodFile!), "utf8"), "good line 0\ngood line 1\ngood line 2\n");

    const records = quarantined().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 3 * HOSTILE.length + 2);
    for (const host of HOSTILE) {
      const mine = records.filter((r) => r.host === host);
      assert.equal(mine.length, host === "/etc" ? 4 : 3, host);
      assert.deepEqual(mine.slice(0, 3).map((r) => r.line), [0, 1, 2].map((i) => `line ${i} of ${JSON.stringify(host)}`));
      for (const r of mine) {
        assert.equal(r.subject, `logs.p0.${host}`);
        assert.equal(r.stream, "H_0");
        assert.equal(typeof r.sequence, "number");
        assert.equal(typeof r.reason, "string");
      }
    }
    const binary = records.find((r) => r.line_base64 !== undefined);
    assert.deepEqual(Buffer.from(binary!.line_base64 as string, "base64"), Buffer.from([0xff, 0xfe, 0x00, 0x0a]));
    const broken = records.find((r) => r.subject === "logs.px.broken");
    assert.equal(broken?.host, null);
    assert.match(String(broken?.reason), /not logs\.p<N>\.<host>/);

    const logLines = exit.stderr.split("\n").filter((l) => l.includes("Quarantining"));
    assert.equal(logLines.length, HOSTILE.length + 1, `one log line per host and one for the bad subject:\n${logLines.join("\n")}`);
    assert.match(exit.stderr, new RegExp(`3 lines \\(\\d+ bytes\\) written in \\d+ batches, ${3 * HOSTILE.length + 1} quarantined, 1 with unparsable subjects`));
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(work, { recursive: true, force: true });
  }
});

test("collector hostile hosts - a line that can never be written is quarantined and terminated; the collector's dead-letter worker stores it in SHIPPER_DLQ", async () => {
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-hostile-dlq-"));
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  try {
    const setup = await runShipper(["setup", "--partitions", "1"], { NATS_URL: server.url });
    assert.equal(setup.code, 0, setup.stderr);
    nc.publish("logs.p0.c:\\windows", "poison line");
    nc.publish("logs.p0.ok.example.net", "good line");
    await nc.flush();
    collector = new ShipperProcess(["collector"], { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" });
    const jsm = await jetstreamManager(nc);
    await waitUntil("the dead letter stored", async () => (await jsm.streams.info("SHIPPER_DLQ")).state.messages === 1 || !collector!.running, 20_000);
    const exit = await collector.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /dead-letter worker stopped: 1 dead letter stored/);
    const dead = await jsm.streams.getMessage("SHIPPER_DLQ", { seq: 1 });
    assert.equal(Buffer.from(dead!.data).toString(), "poison line");
    const [goodFile] = readdirSync(join(out, "ok.example.net"));
    assert.equal(readFileSync(join(out, "ok.example.net", goodFile!), "utf8"), "good line\n");
    assert.match(readdirSync(join(out, ".quarantine")).map((f) => readFileSync(join(out, ".quarantine", f), "utf8")).join(""), /poison line/);
  } finally {
    await collector?.kill();
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});
