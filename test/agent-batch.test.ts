// Batched line messages (src/protocol/batch.ts): the format, the split a reader does, and the agent
// sending batches to a real server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Agent } from "../src/agent/agent.js";
import { MsgIdHeaderEncoder } from "../src/agent/msg-id-header.js";
import { FrameEncoder } from "../src/agent/frame-encoder.js";
import { BATCH_HEADER, parseBatchCount, splitBatch } from "../src/protocol/batch.js";
import { batchMsgId, fileVersionKey, lineMsgId, longLineMsgId, originToken, parseMsgId } from "../src/protocol/msg-id.js";
import { PART_HEADER } from "../src/protocol/line-parts.js";
import { fnv1a32 } from "../src/protocol/partition.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";

const HOST = "web1.example.net";
const SUBJECT = `logs.p0.${HOST}`;
const log = pino({ level: "silent" });
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

test("agent batch - Shipper-Batch counts: 2 or more, decimal", () => {
  assert.equal(parseBatchCount("2"), 2);
  assert.equal(parseBatchCount(" 1000 "), 1000);
  for (const bad of [undefined, "", "1", "0", "02", "-3", "2.5", "x", "9007199254740993"]) assert.equal(parseBatchCount(bad), undefined, String(bad));
});

test("agent batch - a batch id is the last line's id with :b<count>, and parses back (either form)", () => {
  const version = fileVersionKey("2049", "77", "0badf00d", 1);
  const last = lineMsgId("fe80::1:web", version, 4711);
  const id = batchMsgId(last, 25);
  assert.equal(id, `${originToken("fe80::1:web", version)}:3mv:b25`);
  assert.deepEqual(parseMsgId(id), { originKey: originToken("fe80::1:web", version), offset: 4711, batch: 25 });
  const long = parseMsgId(batchMsgId(longLineMsgId("fe80::1:web", version, 4711), 25))!;
  assert.equal(long.origin?.host, "fe80::1:web");
  assert.equal(long.offset, 4711);
  assert.equal(long.batch, 25);
  assert.equal(long.part, undefined);
  assert.equal(long.originKey, "fe80::1:web:2049:77:0badf00d:1");
  assert.equal(parseMsgId(last)!.batch, undefined);
  for (const line of [last, longLineMsgId("fe80::1:web", version, 4711)]) {
    for (const bad of [`${line}:b1`, `${line}:b0`, `${line}:b`, `${line}:b02`, `${line}:p2:b3`]) assert.equal(parseMsgId(bad), undefined, bad);
  }
});

test("agent batch - splitting gives each line and the offset it would have had alone", () => {
  // The file: "x\n", then the batch's lines "a\r", "" and "ccc", each with its newline.
  const payload = Buffer.from("a\r\n\nccc");
  const split = splitBatch(payload, 3, 10)!;
  assert.deepEqual(split.lines.map(text), ["a\r", "", "ccc"]);
  assert.deepEqual(split.ends, [5, 6, 10]);
  // empty lines only
  const empties = splitBatch(Buffer.from("\n\n"), 3, 3)!;
  assert.deepEqual(empties.lines.map(text), ["", "", ""]);
  assert.deepEqual(empties.ends, [1, 2, 3]);
  // a count that does not match the payload, or offsets before the file's start: not ours
  assert.equal(splitBatch(payload, 2, 10), undefined);
  assert.equal(splitBatch(payload, 4, 10), undefined);
  assert.equal(splitBatch(payload, 3, 7), undefined);
  assert.equal(splitBatch(payload, 1, 10), undefined);
});

test("agent batch - the hand-made batch header and frame match what nats.js would send", () => {
  const ids = new MsgIdHeaderEncoder();
  const version = fileVersionKey("1", "2", "0badf00d", 0);
  ids.use(HOST, version);
  const header = `NATS/1.0\r\nNats-Msg-Id: ${batchMsgId(lineMsgId(HOST, version, 123), 12)}\r\n${BATCH_HEADER}: 12\r\n\r\n`;
  assert.equal(ids.encode(123, 12).toString(), header);
  const parts: Buffer[] = [];
  const frames = new FrameEncoder((b) => parts.push(Buffer.from(b)));
  const data = Buffer.from("one\ntwo\n");
  frames.line(Buffer.from(`HPUB ${SUBJECT} _I.`), 5, ids.prefixBytes, 123, data, 0, 7, 12);
  frames.flush();
  const h = Buffer.byteLength(header);
  assert.equal(Buffer.concat(parts).toString(), `HPUB ${SUBJECT} _I.5 ${h} ${h + 7}\r\n${header}one\ntwo\r\n`);
});

interface Stored {
  data: Buffer;
  msgId: string;
  batch?: string;
  part?: string;
}

async function readStream(nc: NatsConnection, stream: string): Promise<Stored[]> {
  const n = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  const out: Stored[] = [];
  if (n === 0) return out;
  const messages = await (await jetstream(nc).consumers.get(stream)).consume();
  for await (const m of messages) {
    out.push({ data: Buffer.from(m.data), msgId: m.headers?.get("Nats-Msg-Id") ?? "", batch: m.headers?.get(BATCH_HEADER) || undefined, part: m.headers?.get(PART_HEADER) || undefined });
    if (out.length === n) break;
  }
  await messages.close();
  return out;
}

/** What a reader makes of the stream: lines with their end offsets, split from batches. */
function unbatch(stored: Stored[]): { lines: string[]; ends: number[] } {
  const lines: string[] = [];
  const ends: number[] = [];
  for (const m of stored) {
    const id = parseMsgId(m.msgId)!;
    assert.ok(id, m.msgId);
    if (m.batch !== undefined) {
      const count = parseBatchCount(m.batch)!;
      assert.equal(id.batch, count, "the id carries the header's count");
      const split = splitBatch(m.data, count, id.offset);
      assert.ok(split, `batch ${m.msgId} splits`);
      lines.push(...split.lines.map(text));
      ends.push(...split.ends);
    } else {
      lines.push(text(m.data));
      ends.push(id.offset);
    }
  }
  return { lines, ends };
}

async function withServer(body: (nc: NatsConnection, dir: string) => Promise<void>, opts: { maxPayload?: number } = {}): Promise<void> {
  const server = await NatsServer.start(opts);
  const dir = mkdtempSync(join(tmpdir(), "shipper-batch-"));
  const nc = await connect({ servers: server.url });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    await body(nc, dir);
  } finally {
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

function sourceLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    i % 97 === 5 ? "" : i % 131 === 7 ? `${i} windows line\r` : i % 89 === 3 ? `${i} ünïcödé ${"z".repeat(i % 300)}` : `${i} <13>Nov 27 07:25:19 ${HOST} app: request ${i}`,
  );
}

async function ship(nc: NatsConnection, file: string, opts: { batchLines: number; batchBytes?: number; readChunkBytes?: number }, lines: number): Promise<Agent> {
  const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50, ...opts });
  const stop = new AbortController();
  const running = agent.run(stop.signal);
  await waitUntil(`${lines} lines acknowledged`, () => agent.counters.acknowledged >= lines, 20_000);
  stop.abort();
  assert.deepEqual(await running, { unacknowledged: 0 });
  return agent;
}

test("agent batch - with --batch-lines the stream holds batches that split back into every line, in order, with each line's offset", async () => {
  await withServer(async (nc, dir) => {
    const file = join(dir, "app.log");
    const lines = sourceLines(5000);
    writeFileSync(file, lines.join("\n") + "\n");
    const agent = await ship(nc, file, { batchLines: 40, batchBytes: 2000, readChunkBytes: 16 * 1024 }, lines.length);
    const stored = await readStream(nc, "LOGS_0");
    const got = unbatch(stored);
    assert.deepEqual(got.lines, lines);
    let offset = 0;
    assert.deepEqual(got.ends, lines.map((l) => (offset += Buffer.byteLength(l) + 1)));
    const batches = stored.filter((m) => m.batch !== undefined);
    assert.ok(batches.length > 0 && stored.length < lines.length / 5, `${stored.length} messages, ${batches.length} batches`);
    for (const m of batches) {
      assert.ok(m.data.length <= 2000, "a batch stays within --batch-bytes");
      assert.ok(parseBatchCount(m.batch)! <= 40, "and within --batch-lines");
    }
    const c = agent.counters;
    assert.equal(c.published, lines.length);
    assert.equal(c.acknowledged, lines.length);
    assert.equal(c.messages, stored.length);
    assert.equal(c.batches, batches.length);
    assert.equal(agent.settledOffsets.size, 1);
    assert.equal([...agent.settledOffsets.values()][0], statSync(file).size);
  });
});

test("agent batch - a second run over the same file cuts the same batches, and the stream drops them as duplicates", async () => {
  await withServer(async (nc, dir) => {
    const file = join(dir, "app.log");
    const lines = sourceLines(3000);
    writeFileSync(file, lines.join("\n") + "\n");
    await ship(nc, file, { batchLines: 100 }, lines.length);
    const first = (await (await jetstreamManager(nc)).streams.info("LOGS_0")).state.messages;
    const again = await ship(nc, file, { batchLines: 100 }, lines.length);
    assert.equal(again.counters.duplicates, lines.length);
    assert.equal((await (await jetstreamManager(nc)).streams.info("LOGS_0")).state.messages, first);
    assert.deepEqual(unbatch(await readStream(nc, "LOGS_0")).lines, lines);
  });
});

test("agent batch - a line over the largest message is still split into parts, between batches", async () => {
  await withServer(
    async (nc, dir) => {
      const file = join(dir, "app.log");
      const big = "B".repeat(10_000);
      const lines = [...sourceLines(300), big, ...sourceLines(300)];
      writeFileSync(file, lines.join("\n") + "\n");
      const agent = await ship(nc, file, { batchLines: 50 }, lines.length);
      const stored = await readStream(nc, "LOGS_0");
      const parts = stored.filter((m) => m.part !== undefined);
      assert.ok(parts.length >= 2, "the big line went out in parts");
      assert.equal(Buffer.concat(parts.map((p) => p.data)).toString(), big);
      const rest = unbatch(stored.filter((m) => m.part === undefined)).lines;
      assert.deepEqual(rest, lines.filter((l) => l !== big));
      assert.equal(agent.counters.split, 1);
      assert.equal(agent.counters.acknowledged, lines.length);
    },
    { maxPayload: 4096 },
  );
});

test("agent batch - the fingerprint in batch ids is the file's first line's", async () => {
  await withServer(async (nc, dir) => {
    const file = join(dir, "app.log");
    const lines = sourceLines(100);
    writeFileSync(file, lines.join("\n") + "\n");
    await ship(nc, file, { batchLines: 1000 }, lines.length);
    const stored = await readStream(nc, "LOGS_0");
    assert.equal(stored.length, 1);
    const { dev, ino } = statSync(file, { bigint: true });
    const fp = fnv1a32(Buffer.from(lines[0]! + "\n")).toString(16).padStart(8, "0");
    assert.equal(stored[0]!.msgId, batchMsgId(lineMsgId(HOST, fileVersionKey(String(dev), String(ino), fp, 0), statSync(file).size), 100));
    assert.equal(stored[0]!.batch, "100");
  });
});

test("agent batch - without raw frames (a nats.js the agent cannot write frames to), nc.publish() sends the same messages", async () => {
  await withServer(async (nc) => {
    const { JetStreamPublisher } = await import("../src/agent/jetstream-publisher.js");
    const { LineSplitter } = await import("../src/agent/line-splitter.js");
    const jsm = await jetstreamManager(nc);
    const text = sourceLines(500).join("\n") + "\n";
    const stored: Stored[][] = [];
    for (const rawFrames of [true, false]) {
      for (const batchLines of [1, 30]) {
        await jsm.streams.purge("LOGS_0");
        const publisher = new JetStreamPublisher(nc, { host: HOST, log, rawFrames, batchLines });
        const lines = new LineSplitter().push(Buffer.from(text))!;
        // Another file version per run: the stream would drop the same ids as duplicates.
        const origin = { key: `1:2:0badf00d:${stored.length}`, path: "/app.log" };
        let i = 0;
        while (i < lines.ends.length) {
          i = publisher.publishLines(SUBJECT, lines, i, origin);
          if (i < lines.ends.length) await publisher.room();
        }
        assert.equal(await publisher.drain(10_000), true);
        assert.equal(publisher.counters.acknowledged, 500);
        await publisher.close();
        stored.push(await readStream(nc, "LOGS_0"));
      }
    }
    const [rawLines, rawBatches, pubLines, pubBatches] = stored;
    assert.equal(rawLines!.length, 500);
    assert.ok(rawBatches!.length < 30);
    // Each run had its own file version, so its own origin token: compare the rest.
    const withoutVersion = (s: Stored[]) => s.map((m) => ({ ...m, msgId: m.msgId.replace(/^[A-Za-z0-9_-]{12}:/, "V:") }));
    assert.deepEqual(withoutVersion(pubLines!), withoutVersion(rawLines!));
    assert.deepEqual(withoutVersion(pubBatches!), withoutVersion(rawBatches!));
    assert.deepEqual(unbatch(rawBatches!).lines, unbatch(rawLines!).lines);
  });
});
