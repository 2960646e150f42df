// Exactly once across restarts, with the real collector: the partition state file, cutting back
// a batch written but never saved, lines the consumer skipped (read from the stream), lines gone
// from the stream (counted as lost), re-sends past the duplicate window, and split lines joined.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { PartitionStateFile } from "../src/collector/partition-state.js";
import { parseMsgId } from "../src/protocol/msg-id.js";
import { plain } from "../src/testkit/plain.js";

const HOST = "web1.example.net";

interface World {
  server: NatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  out: string;
}

async function world(streamExtra: { duplicate_window?: number } = {}): Promise<World> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"], ...streamExtra });
  await jsm.consumers.add("LOGS_0", { durable_name: "COLLECTOR", ack_policy: AckPolicy.All, ack_wait: 2_000_000_000 });
  await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 1, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
  return { server, nc, jsm, out: mkdtempSync(join(tmpdir(), "shipper-exactly-")) };
}

async function dispose(w: World): Promise<void> {
  await w.nc.close().catch(() => {});
  await w.server.dispose();
  rmSync(w.out, { recursive: true, force: true });
}

const lineText = (i: number) => `line ${String(i).padStart(5, "0")}`;

/** Publishes lines [from, to) as the agent would: one origin, offsets growing. */
async function publish(nc: NatsConnection, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const h = headers();
    h.set("Nats-Msg-Id", `${HOST}:1:2:0000abcd:0:${(i + 1) * 11}`);
    nc.publish(`logs.p0.${HOST}`, lineText(i), { headers: h });
  }
  await nc.flush();
}

const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => lineText(from + k) + "\n").join("");

function output(out: string): string {
  const dir = join(out, HOST);
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
}

/** Runs the collector until the host's file holds `want` (or it stops), then SIGTERM; its stderr. */
async function collect(w: World, want: string): Promise<string> {
  const c = new ShipperProcess(["collector"], { NATS_URL: w.server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: w.out, SHIPPER_OUTPUT: "logfile" });
  try {
    await waitUntil("the lines written", () => output(w.out).length >= want.length || !c.running, 20_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const exit = await c.stop();
    assert.equal(exit.code, 0, exit.stderr);
    return exit.stderr;
  } finally {
    await c.kill();
  }
}

test("collector exactly once - the partition state records sequence, stream, file size and origin; bytes past the saved size are cut back", async () => {
  const w = await world();
  try {
    await publish(w.nc, 0, 100);
    await collect(w, expected(0, 100));
    const state = await new PartitionStateFile(w.out, 0).load();
    assert.ok(state);
    assert.equal(state.version, 2);
    assert.equal(state.stream, "LOGS_0");
    assert.equal(state.sequence, 100);
    assert.equal(state.streamCreated, (await w.jsm.streams.info("LOGS_0")).created);
    const mark = state.hosts[HOST];
    assert.ok(mark);
    assert.equal(mark.size, expected(0, 100).length);
    assert.deepEqual(plain(mark.origins), { [parseMsgId(`${HOST}:1:2:0000abcd:0:1100`)!.originKey]: 1100 });
    // A batch written but never saved (the collector died before saving its state).
    appendFileSync(mark.path, "line 00100\nline 00101\n");
    await publish(w.nc, 100, 150);
    const stderr = await collect(w, expected(0, 150));
    assert.match(stderr, /held 22 bytes written after the last saved state/);
    assert.equal(output(w.out), expected(0, 150));
  } finally {
    await dispose(w);
  }
});

test("collector exactly once - lines the consumer skipped (its pointer moved past them, as after a server crash) are read from the stream", async () => {
  const w = await world();
  try {
    await publish(w.nc, 0, 100);
    await collect(w, expected(0, 100));
    await publish(w.nc, 100, 200);
    // What a 2.9 server can come back with after SIGKILL: delivered pointer past 101..150.
    await w.jsm.consumers.delete("LOGS_0", "COLLECTOR");
    await w.jsm.consumers.add("LOGS_0", {
      durable_name: "COLLECTOR",
      ack_policy: AckPolicy.All,
      ack_wait: 2_000_000_000,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: 151,
    });
    const stderr = await collect(w, expected(0, 200));
    assert.match(stderr, /the consumer skipped 50 lines between sequences 101 and 150/);
    assert.equal(output(w.out), expected(0, 200));
  } finally {
    await dispose(w);
  }
});

test("collector exactly once - skipped lines no longer in the stream are counted as lost, with their range", async () => {
  const w = await world();
  try {
    await publish(w.nc, 0, 100);
    await collect(w, expected(0, 100));
    await publish(w.nc, 100, 200);
    await w.jsm.streams.purge("LOGS_0", { seq: 151 }); // removes 101..150, like max-age would
    const stderr = await collect(w, expected(0, 100) + expected(150, 200));
    assert.match(stderr, /stream sequences 101-150 were never delivered and are no longer in the stream/);
    assert.match(stderr, /50 lost to stream limits/);
    assert.equal(output(w.out), expected(0, 100) + expected(150, 200));
  } finally {
    await dispose(w);
  }
});

test("collector exactly once - an agent's re-send past the duplicate window (same origin, offset written) is skipped and counted", async () => {
  const w = await world({ duplicate_window: 100_000_000 });
  try {
    await publish(w.nc, 0, 100);
    await collect(w, expected(0, 100));
    await new Promise((r) => setTimeout(r, 300));
    await publish(w.nc, 60, 150); // 60..99 stored again: the window has passed
    const stderr = await collect(w, expected(0, 150));
    assert.match(stderr, /40 re-sent lines skipped/);
    // Said when it happens, with the host and offsets, not only in the summary at stop.
    assert.match(stderr, /skipped \d+ line\(s\) of web1\.example\.net \(origin [^)]*, offsets \d+-\d+\) as re-sends/);
    assert.equal(output(w.out), expected(0, 150));
  } finally {
    await dispose(w);
  }
});

test("collector exactly once - split lines are joined; a part without its line is kept in quarantine and counted, never written", async () => {
  const w = await world();
  try {
    const send = (data: string, id: string, part?: string) => {
      const h = headers();
      h.set("Nats-Msg-Id", id);
      if (part) h.set("Shipper-Part", part);
      w.nc.publish(`logs.p0.${HOST}`, data, { headers: h });
    };
    const origin = `${HOST}:1:2:0000abcd:0`;
    send("first", `${origin}:6`);
    send("AAAA", `${origin}:20:p1`, "1/3");
    send("BBBB", `${origin}:20:p2`, "2/3");
    send("CC", `${origin}:20:p3`, "3/3");
    send("orphan", `${origin}:40:p2`, "2/2");
    send("last", `${origin}:45`);
    await w.nc.flush();
    const stderr = await collect(w, "first\nAAAABBBBCC\nlast\n");
    assert.equal(output(w.out), "first\nAAAABBBBCC\nlast\n");
    assert.match(stderr, /1 incomplete split lines/);
    const q = readdirSync(join(w.out, ".quarantine")).map((f) => readFileSync(join(w.out, ".quarantine", f), "utf8")).join("");
    assert.match(q, /orphan/);
  } finally {
    await dispose(w);
  }
});

test("collector exactly once - batches (Shipper-Batch) are split back into lines; an overlapping re-sent batch writes only its new lines; a malformed one is quarantined", async () => {
  const w = await world();
  try {
    const origin = `${HOST}:1:2:0000abcd:0`;
    const sendBatch = (from: number, to: number, count = to - from) => {
      const h = headers();
      h.set("Nats-Msg-Id", `${origin}:${to * 11}:b${count}`);
      h.set("Shipper-Batch", String(count));
      const payload = Array.from({ length: to - from }, (_, k) => lineText(from + k)).join("\n");
      w.nc.publish(`logs.p0.${HOST}`, payload, { headers: h });
    };
    sendBatch(0, 3);
    sendBatch(3, 8);
    sendBatch(5, 10); // re-sent after a restart, cut at other lines: 5..7 written already
    sendBatch(10, 12, 3); // says 3 lines, holds 2: malformed
    await publish(w.nc, 12, 14);
    await w.nc.flush();
    const want = expected(0, 10) + expected(12, 14);
    const stderr = await collect(w, want);
    assert.equal(output(w.out), want);
    assert.match(stderr, /3 re-sent lines skipped/);
    const q = readdirSync(join(w.out, ".quarantine")).map((f) => readFileSync(join(w.out, ".quarantine", f), "utf8")).join("");
    assert.match(q, /malformed batch/);
  } finally {
    await dispose(w);
  }
});
