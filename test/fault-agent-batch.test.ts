// Batching under faults: SIGKILL the real agent (--batch-lines) several times while its file
// grows. After a restart the agent may cut batches at other lines than before the kill, so a
// re-sent batch can overlap a stored one under another id; a reader that splits batches and skips
// lines at or below the last offset it has per origin (src/protocol/batch.ts, step 3) must end up
// with every line once, in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, agentProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { BATCH_HEADER, parseBatchCount, splitBatch } from "../src/protocol/batch.js";
import { parseMsgId } from "../src/protocol/msg-id.js";

const HOST = "web1.example.net";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The stream as a de-duplicating reader writes it, and how many lines it skipped as re-sent. */
async function readAsCollector(nc: NatsConnection, stream: string): Promise<{ text: string; messages: number; batches: number; skipped: number; lastOffset: number }> {
  const n = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  const last = new Map<string, number>();
  let text = "";
  let batches = 0;
  let skipped = 0;
  let read = 0;
  if (n > 0) {
    const messages = await (await jetstream(nc).consumers.get(stream)).consume();
    for await (const m of messages) {
      const id = parseMsgId(m.headers?.get("Nats-Msg-Id") ?? "");
      assert.ok(id, "every message has one of our ids");
      const count = parseBatchCount(m.headers?.get(BATCH_HEADER) || undefined);
      const split = count === undefined ? { lines: [m.data], ends: [id.offset] } : splitBatch(m.data, count, id.offset);
      assert.ok(split, "every batch splits");
      if (count !== undefined) batches++;
      for (let k = 0; k < split.lines.length; k++) {
        if (split.ends[k]! <= (last.get(id.originKey) ?? -1)) {
          skipped++;
          continue;
        }
        last.set(id.originKey, split.ends[k]!);
        text += Buffer.from(split.lines[k]!).toString("utf8") + "\n";
      }
      if (++read === n) break;
    }
    await messages.close();
  }
  return { text, messages: n, batches, skipped, lastOffset: Math.max(0, ...last.values()) };
}

test("fault agent batch - SIGKILL at random points while the file grows: split batches give every line once, in order", async (t) => {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-fault-batch-"));
  const nc = await connect({ servers: server.url });
  let agent: ShipperProcess | undefined;
  let writing = true;
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS", subjects: ["logs.>"] });
    const file = join(dir, "app.log");
    let written = "";
    const start = () =>
      (agent = agentProcess({ url: server.url, file, host: HOST, stateDir: join(dir, "state"), args: ["--poll-interval", "50ms", "--save-interval", "100ms", "--batch-lines", "25", "--batch-bytes", "2KiB"] }));
    // ~2,000 lines/s in bursts of varying size, some ending mid-line.
    const writer = (async () => {
      const fd = openSync(file, "a");
      let n = 0;
      let pending = "";
      while (writing) {
        const count = 10 + Math.floor(Math.random() * 70);
        for (let i = 0; i < count; i++) pending += `${HOST} line ${String(n++).padStart(7, "0")} <14>Nov 27 07:25:19 app[42]: request served\n`;
        const cut = pending.length - Math.floor(Math.random() * 30);
        writeSync(fd, pending.slice(0, cut));
        written += pending.slice(0, cut);
        pending = pending.slice(cut);
        await sleep(20);
      }
      writeSync(fd, pending);
      written += pending;
      closeSync(fd);
    })();

    start();
    for (let k = 0; k < 4; k++) {
      await agent!.waitForOutput(/following /, 15_000);
      await sleep(200 + Math.random() * 1000);
      await agent!.kill();
      start();
    }
    writing = false;
    await writer;
    const total = written.split("\n").length - 1;
    const size = Buffer.byteLength(written);
    const jsm = await jetstreamManager(nc);
    const lastStored = async () => {
      const last = await jsm.streams.getMessage("LOGS", { last_by_subj: `logs.p0.${HOST}` }).catch(() => null);
      return last ? (parseMsgId(last.header.get("Nats-Msg-Id"))?.offset ?? 0) : 0;
    };
    await waitUntil("the last line stored", async () => (await lastStored()) >= size, 30_000);
    const exit = await agent!.stop();
    assert.equal(exit.code, 0, exit.stderr);

    const got = await readAsCollector(nc, "LOGS");
    const audit = auditLines(written, got.text);
    t.diagnostic(`${got.messages} messages, ${got.batches} batches, ${got.skipped} re-sent lines skipped by offset; ${JSON.stringify(audit)}`);
    assert.ok(got.batches > 0, "lines went out in batches");
    assert.deepEqual(audit, { expected: total, received: total, missing: 0, duplicated: 0, outOfOrder: 0 });
  } finally {
    writing = false;
    await agent?.kill();
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
