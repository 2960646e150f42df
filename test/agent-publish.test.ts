import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, DiscardPolicy } from "@nats-io/jetstream";
import { Agent, type SettledPosition } from "../src/agent/agent.js";
import { NoStreamError } from "../src/agent/errors.js";
import { fnv1a32 } from "../src/protocol/partition.js";
import { fileVersionKey, lineMsgId, parseMsgId } from "../src/protocol/msg-id.js";
import { JetStreamPublisher } from "../src/agent/jetstream-publisher.js";
import { identityOf } from "../src/agent/file-identity.js";
import type { LineOrigin } from "../src/agent/publisher.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { installFastMsgFrames } from "../src/shared/fast-msg-frames.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";

const HOST = "web1.example.net";
const SUBJECT = `logs.p0.${HOST}`;

interface Stored {
  subject: string;
  data: Buffer;
  msgId: string;
}

async function readStream(nc: NatsConnection, stream: string): Promise<Stored[]> {
  const jsm = await jetstreamManager(nc);
  const n = (await jsm.streams.info(stream)).state.messages;
  const out: Stored[] = [];
  if (n === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push({ subject: m.subject, data: Buffer.from(m.data), msgId: m.headers?.get("Nats-Msg-Id") ?? "" });
    if (out.length === n) break;
  }
  await messages.close();
  return out;
}

function sourceLines(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 500 === 7) lines.push("");
    else if (i % 300 === 11) lines.push(`${i} windows line\r`);
    else if (i % 700 === 13) lines.push(`${i} ünïcödé ✓ ${"x".repeat(i % 50)}`);
    else lines.push(`${i} <13>Nov 27 07:25:19 ${HOST} app[${i % 97}]: request ${i} served in ${i % 1000} ms`);
  }
  return lines;
}

/** `fastFrames`: the connection's frames go through shipper's reader first, as the programs' do (the publisher then reads its PubAcks itself). */
async function withServer(body: (server: NatsServer, nc: NatsConnection, dir: string) => Promise<void>, opts: { maxPayload?: number; fastFrames?: boolean } = {}): Promise<void> {
  const server = await NatsServer.start({ ...(opts.maxPayload ? { maxPayload: opts.maxPayload } : {}) });
  const dir = mkdtempSync(join(tmpdir(), "shipper-agent-"));
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  if (opts.fastFrames) assert.ok(installFastMsgFrames(nc), "the frame reader installs");
  try {
    await body(server, nc, dir);
  } finally {
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("agent - publishes every line of a file, in order and byte-identical, with deterministic message ids", async () => {
  await withServer(async (_server, nc, dir) => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    const file = join(dir, "app.log");
    const lines = sourceLines(6000);
    writeFileSync(file, lines.join("\n") + "\nheld without newline");

    const { log } = memoryLogger();
    const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50, readChunkBytes: 64 * 1024 });
    const positions: SettledPosition[] = [];
    agent.onSettled((p) => positions.push(p));
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    await waitUntil("6000 lines acknowledged", () => agent.counters.acknowledged === lines.length, 20_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(agent.counters.published, lines.length, "the unterminated last line is held");
    appendFileSync(file, "\n");
    await waitUntil("the completed last line", () => agent.counters.acknowledged === lines.length + 1, 10_000);
    stop.abort();
    assert.deepEqual(await running, { unacknowledged: 0 });

    const want = [...lines, "held without newline"];
    const stored = await readStream(nc, "LOGS_0");
    assert.equal(stored.length, want.length);
    const { dev, ino } = statSync(file, { bigint: true });
    const fp = fnv1a32(Buffer.from(want[0]! + "\n")).toString(16).padStart(8, "0");
    let offset = 0;
    for (const [i, m] of stored.entries()) {
      assert.equal(m.subject, SUBJECT);
      assert.ok(m.data.equals(Buffer.from(want[i]!, "utf8")), `line ${i} differs`);
      offset += Buffer.byteLength(want[i]!) + 1;
      assert.equal(m.msgId, lineMsgId(HOST, fileVersionKey(String(dev), String(ino), fp, 0), offset));
    }
    assert.equal(agent.settledOffsets.get(`${dev}:${ino}:${fp}:0`), statSync(file).size);
    assert.deepEqual(positions.at(-1), {
      path: file,
      identity: identityOf(statSync(file, { bigint: true })),
      fingerprint: fp,
      generation: 0,
      offset: statSync(file).size,
    });
    assert.ok(positions.every((p, i) => i === 0 || p.offset > positions[i - 1]!.offset), "positions only move forward");
    const c = agent.counters;
    assert.equal(c.linesRead, want.length);
    assert.equal(c.duplicates, 0);
    assert.equal(c.errors, 0);
  });
});

for (const fastFrames of [false, true]) {
  const how = fastFrames ? "PubAcks read in the read buffer" : "PubAcks through nats.js";
  test(`agent - a second run over the same file is de-duplicated by the stream (${how})`, async () => {
    // Counts the PubAcks the publisher took itself (readFrame), without a nats.js message.
    const readFrame = JetStreamPublisher.prototype.readFrame;
    let taken = 0;
    JetStreamPublisher.prototype.readFrame = function (this: JetStreamPublisher, buf, frame) {
      const took = readFrame.call(this, buf, frame);
      if (took) taken++;
      return took;
    };
    try {
      await withServer(async (_server, nc, dir) => {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
        const file = join(dir, "app.log");
        const lines = sourceLines(3000);
        writeFileSync(file, lines.join("\n") + "\n");
        const { log } = memoryLogger();
        for (const run of [1, 2]) {
          const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50 });
          const stop = new AbortController();
          const running = agent.run(stop.signal);
          await waitUntil(`run ${run} acknowledged`, () => agent.counters.acknowledged === lines.length, 20_000);
          stop.abort();
          await running;
          assert.equal(agent.counters.duplicates, run === 1 ? 0 : lines.length);
        }
        assert.equal((await jsm.streams.info("LOGS_0")).state.messages, lines.length);
      }, { fastFrames });
    } finally {
      JetStreamPublisher.prototype.readFrame = readFrame;
    }
    assert.equal(taken, fastFrames ? 2 * 3000 : 0, "every PubAck of both runs was read in the read buffer, or none without the frame reader");
  });
}

test("agent - lines survive a stalled server (SIGSTOP past the ack timeout) and a server restart, in order, once", async () => {
  await withServer(async (server, nc, dir) => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    const file = join(dir, "app.log");
    const lines = Array.from({ length: 60_000 }, (_, i) => `${i} ${HOST} app: distinct line ${i}`);
    writeFileSync(file, lines.join("\n") + "\n");
    const { log, text } = memoryLogger();
    const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, ackTimeoutMs: 300, maxInFlight: 2000, readChunkBytes: 16 * 1024 });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    await waitUntil("some lines acknowledged", () => agent.counters.acknowledged > 5000, 20_000);
    server.pause();
    await new Promise((r) => setTimeout(r, 1200));
    server.resume();
    await waitUntil("more lines acknowledged", () => agent.counters.acknowledged > 30_000, 20_000);
    await server.kill();
    await new Promise((r) => setTimeout(r, 300));
    await server.start();
    await waitUntil("every line acknowledged", () => agent.counters.acknowledged >= lines.length && agent.counters.inFlight === 0, 30_000);
    stop.abort();
    await running;
    assert.ok(agent.counters.retried > 0, "lines were sent again");
    assert.match(text(), /sending the \d+ unacknowledged lines again with the same message ids/);

    const stored = await readStream(nc, "LOGS_0");
    const got = stored.map((m) => m.data.toString("utf8") + "\n").join("");
    assert.deepEqual(auditLines(lines.join("\n") + "\n", got), { expected: lines.length, received: lines.length, missing: 0, duplicated: 0, outOfOrder: 0 });
  });
});

for (const fastFrames of [false, true]) {
  const how = fastFrames ? "PubAcks read in the read buffer" : "PubAcks through nats.js";
  test(`agent - a subject no stream captures stops the publisher with an error naming it and \`shipper setup\` (${how})`, async () => {
    await withServer(async (_server, nc) => {
      const { log } = memoryLogger();
      const publisher = new JetStreamPublisher(nc, { host: HOST, log });
      const origin: LineOrigin = { key: "1:2:0", path: "/var/log/app.log" };
      publisher.publish("nowhere.p3.web1.example.net", Buffer.from("a line"), origin, 7);
      const err = await publisher.failed.catch((e: unknown) => e);
      assert.ok(err instanceof NoStreamError, String(err));
      assert.match((err as Error).message, /no JetStream stream captures the subject "nowhere\.p3\.web1\.example\.net"/);
      assert.match((err as Error).message, /shipper setup/);
      assert.throws(() => publisher.publish("nowhere.p3.web1.example.net", Buffer.from("x"), origin, 9), NoStreamError);
      await assert.rejects(publisher.drain(1000), NoStreamError);
      await publisher.close();
    }, { fastFrames });
  });
}

test("agent - the program refuses a subject no stream captures with one line and exit 2", async () => {
  await withServer(async (server, _nc, dir) => {
    const file = join(dir, "app.log");
    writeFileSync(file, "one\n");
    const exit = await runShipper(["agent"], { NATS_URL: server.url, SHIPPER_FILE: file, SHIPPER_SUBJECT: "logs", HOSTNAME: HOST }, { timeoutMs: 20_000 });
    assert.equal(exit.code, 2, exit.stderr);
    assert.equal(
      exit.stderr.trim().split("\n").at(-1),
      `no JetStream stream captures the subject "logs.p0.${HOST}": run \`shipper setup\` for this prefix and partition count (or check SHIPPER_SUBJECT and SHIPPER_PARTITIONS)`,
    );
  });
});

test("agent - a line over the server's max payload is split into parts with Shipper-Part headers and part ids; the rest goes on", async () => {
  await withServer(
    async (_server, nc, dir) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
      const file = join(dir, "app.log");
      const big = Array.from({ length: 5000 }, (_, i) => String.fromCharCode(65 + (i % 26))).join("");
      writeFileSync(file, `first\n${big}\nlast\n`);
      const { log, text } = memoryLogger();
      const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50 });
      const stop = new AbortController();
      const running = agent.run(stop.signal);
      await waitUntil("the lines settled", () => agent.settledOffsets.size > 0 && [...agent.settledOffsets.values()][0] === statSync(file).size, 10_000);
      stop.abort();
      await running;
      assert.equal(agent.counters.refused, 0);
      assert.equal(agent.counters.split, 1);
      const n = agent.counters.parts;
      assert.ok(n >= 3, `a 5000-byte line in messages of at most 2048 bytes takes 3 parts or more, got ${n}`);
      assert.match(text(), new RegExp(`line ending at offset ${6 + 5001} of .* is 5000 bytes, over the largest message of 2048 bytes: sent as ${n} parts`));
      const stored = await readStream(nc, "LOGS_0");
      assert.equal(stored.length, 2 + n);
      assert.deepEqual([stored[0]!.data.toString(), stored.at(-1)!.data.toString()], ["first", "last"]);
      const parts = stored.slice(1, -1);
      assert.equal(Buffer.concat(parts.map((p) => p.data)).toString(), big);
      const lineId = stored[1]!.msgId.replace(/:p1$/, "");
      assert.match(lineId, new RegExp(`^[A-Za-z0-9_-]{12}:${(6 + 5001).toString(36)}$`));
      assert.equal(parseMsgId(lineId)?.offset, 6 + 5001);
      for (const [i, p] of parts.entries()) assert.equal(p.msgId, `${lineId}:p${i + 1}`);
      const info = await jsm.streams.getMessage("LOGS_0", { seq: 2 });
      assert.equal(info?.header.get("Shipper-Part"), `1/${n}`);
      const lastPart = await jsm.streams.getMessage("LOGS_0", { seq: 1 + n });
      assert.equal(lastPart?.header.get("Shipper-Part"), `${n}/${n}`);
      for (const p of parts.slice(0, -1)) assert.ok(p.data.length > 1800 && p.data.length < 2048, `part of ${p.data.length} bytes`);
    },
    { maxPayload: 2048 },
  );
});

test("agent - with --oversize dead-letter, a line over the max payload goes to shipper.dlq.agent.<host>, or is refused loudly when no stream takes it", async () => {
  await withServer(
    async (_server, nc, dir) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"], max_msg_size: 1000 });
      const file = join(dir, "app.log");
      const big = "D".repeat(1500); // over the stream's max_msg_size, under the server's max payload
      writeFileSync(file, `first\n${big}\nlast\n`);
      const run = async () => {
        const { log, text } = memoryLogger();
        const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50, oversize: "dead-letter", maxMessageBytes: 1000 });
        const stop = new AbortController();
        const running = agent.run(stop.signal);
        await waitUntil("the lines settled", () => [...agent.settledOffsets.values()][0] === statSync(file).size, 10_000);
        stop.abort();
        await running;
        return { counters: agent.counters, text: text() };
      };
      // No stream for the dead letters: refused, logged, counted; the file still moves on.
      const first = await run();
      assert.equal(first.counters.deadLettered, 1);
      assert.equal(first.counters.refused, 1);
      assert.match(first.text, /not stored: no JetStream stream captures the dead-letter subject .*shipper\.dlq\.agent\.web1\.example\.net/);
      await jsm.streams.add({ name: "AGENT_DLQ", subjects: ["shipper.dlq.agent.>"] });
      const second = await run();
      assert.equal(second.counters.refused, 0);
      assert.equal(second.counters.deadLettered, 1);
      const dead = await jsm.streams.getMessage("AGENT_DLQ", { seq: 1 });
      assert.equal(Buffer.from(dead!.data).toString(), big);
      assert.equal(dead!.subject, `shipper.dlq.agent.${HOST}`);
      assert.equal(dead!.header.get("Shipper-Subject"), SUBJECT);
      assert.match(dead!.header.get("Shipper-Reason"), /^oversize: 1500 bytes, the largest message is 1000 bytes$/);
      assert.equal(parseMsgId(dead!.header.get("Nats-Msg-Id"))?.offset, 6 + 1501);
      assert.equal(dead!.header.get("Shipper-Part"), "");
    },
    { maxPayload: 4096 },
  );
});

for (const fastFrames of [false, true]) {
  const how = fastFrames ? "PubAcks read in the read buffer" : "PubAcks through nats.js";
  test(`agent - a PubAck error is reported with its description and the line is sent again until stored (${how})`, async () => {
    await withServer(async (_server, nc, dir) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"], max_msgs: 3, discard: DiscardPolicy.New });
      const file = join(dir, "app.log");
      writeFileSync(file, "1\n2\n3\n4\n5\n");
      const { log, text } = memoryLogger();
      const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50, ackTimeoutMs: 200 });
      const stop = new AbortController();
      const running = agent.run(stop.signal);
      await waitUntil("the refusal", () => agent.counters.ackErrors >= 2, 10_000);
      assert.equal(agent.counters.acknowledged, 3);
      assert.equal(agent.settledOffsets.get([...agent.settledOffsets.keys()][0]!), 6, "the position stops before the refused line");
      assert.match(text(), /the server refused the line ending at offset 8 of .*maximum messages exceeded; it will be sent again/);
      await jsm.streams.update("LOGS_0", { max_msgs: -1 });
      await waitUntil("every line stored", () => agent.counters.acknowledged === 5, 10_000);
      stop.abort();
      await running;
      const stored = await readStream(nc, "LOGS_0");
      assert.deepEqual(stored.map((m) => m.data.toString()), ["1", "2", "3", "4", "5"]);
    }, { fastFrames });
  });
}
