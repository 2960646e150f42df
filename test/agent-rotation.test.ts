import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, closeSync, mkdtempSync, openSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Agent } from "../src/agent/agent.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";
import { storedText } from "../src/testkit/stream-text.js";

const HOST = "str1.example.net";
const SUBJECT = `logs.p0.${HOST}`;

/** Fixed-width numbered lines: after a truncation the new lines sit at the very same offsets. */
function line(i: number): string {
  return `line ${String(i).padStart(7, "0")} <14>Nov 27 07:25:19 ${HOST} app[42]: something happened`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withStream(body: (nc: NatsConnection, dir: string, server: NatsServer) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-rotation-"));
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    await body(nc, dir, server);
  } finally {
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("agent rotation - waits for the file, then follows two logrotate renames while the writer keeps writing: no line lost", async () => {
  await withStream(async (nc, dir) => {
    const file = join(dir, "file.log");
    const { log, text } = memoryLogger();
    const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50 });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    await sleep(150); // the agent starts before the file exists

    let expected = "";
    let fd = openSync(file, "a");
    const write = (text: string) => {
      writeSync(fd, text);
      expected += text;
    };
    let n = 0;
    for (let burst = 0; burst < 45; burst++) {
      let chunk = "";
      for (let i = 0; i < 200; i++) chunk += line(n++) + "\n";
      write(chunk);
      if (burst === 15 || burst === 30) {
        // logrotate: shift the old ones, rename the live file, and create a new one
        if (burst === 30) renameSync(`${file}.1`, `${file}.2`);
        renameSync(file, `${file}.1`);
        // the application writes a little more to its open file before it reopens
        for (let i = 0; i < 50; i++) write(line(n++) + "\n");
        if (burst === 30) write(`line ${n++} unterminated at the end of a rotated file`);
        closeSync(fd);
        if (burst === 30) expected += "\n"; // the finished file's last line is sent as a line
        fd = openSync(file, "a");
      }
      await sleep(5);
    }
    closeSync(fd);
    await waitUntil("every line acknowledged", () => agent.counters.acknowledged === n, 30_000);
    stop.abort();
    await running;

    assert.deepEqual(auditLines(expected, await storedText(nc, "LOGS_0")), { expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });
    assert.equal(agent.counters.rotations, 2);
    assert.equal(agent.counters.duplicates, 0);
    assert.match(text(), /waiting for .*file\.log.* to appear/);
    // When the path was rotated again before the file was read, the message also names where it is now.
    assert.match(text(), /was rotated: finished file \d+:\d+ (\(\\?".*?\\?"\) )?at offset \d+ \(its last \d+ bytes had no newline; sent as a line\)/);
  });
});

test("agent rotation - truncation starts the file again from 0 and lines at the same offsets are not mistaken for duplicates", async () => {
  await withStream(async (nc, dir) => {
    const file = join(dir, "file.log");
    const { log, text } = memoryLogger();
    let expected = "";
    let n = 0;
    const fd = openSync(file, "a");
    const write = (count: number) => {
      let chunk = "";
      for (let i = 0; i < count; i++) chunk += line(n++) + "\n";
      writeSync(fd, chunk);
      expected += chunk;
    };
    write(2000);
    const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50 });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    await waitUntil("the first lines", () => agent.counters.acknowledged === 2000, 20_000);

    // copytruncate after the agent caught up: the file restarts at 0 and is written again at once
    truncateSync(file, 0);
    write(10);
    await waitUntil("the truncation seen", () => agent.counters.truncations === 1, 10_000);
    write(1990);
    await waitUntil("every line acknowledged", () => agent.counters.acknowledged === 4000, 20_000);
    // and once more, while a last line is half written (its start is dropped, counted in the log)
    writeSync(fd, "half a li");
    await sleep(200);
    truncateSync(file, 0);
    write(500);
    await waitUntil("every line acknowledged", () => agent.counters.acknowledged === 4500, 20_000);
    closeSync(fd);
    stop.abort();
    await running;

    assert.deepEqual(auditLines(expected, await storedText(nc, "LOGS_0")), { expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });
    assert.equal(agent.counters.truncations, 2);
    assert.equal(agent.counters.duplicates, 0);
    assert.match(text(), /was truncated: read up to offset \d+, it is now \d+ bytes; reading it again from offset 0/);
    assert.match(text(), /dropping 9 bytes of an unterminated last line/);
  });
});

test("agent rotation - content replaced in place between two runs is shipped, not taken for duplicates of the first run", async () => {
  await withStream(async (nc, dir) => {
    const file = join(dir, "file.log");
    const { log } = memoryLogger();
    const runOnce = async (want: number) => {
      const agent = new Agent(nc, { file, subject: SUBJECT, host: HOST, log, pollIntervalMs: 50 });
      const stop = new AbortController();
      const running = agent.run(stop.signal);
      await waitUntil("the run's lines", () => agent.counters.acknowledged === want, 20_000);
      stop.abort();
      await running;
      return agent.counters;
    };
    let expected = "";
    const content = (from: number) => {
      let t = "";
      for (let i = from; i < from + 1000; i++) t += line(i) + "\n";
      return t;
    };
    const a = content(0);
    writeFileSync(file, a);
    expected += a;
    assert.equal((await runOnce(1000)).duplicates, 0);
    // copytruncate while the agent is stopped: same inode, same offsets, other lines
    const b = content(1000);
    truncateSync(file, 0);
    appendFileSync(file, b);
    expected += b;
    assert.equal((await runOnce(1000)).duplicates, 0, "the new lines must not share the old lines' message ids");
    assert.deepEqual(auditLines(expected, await storedText(nc, "LOGS_0")), { expected: 2000, received: 2000, missing: 0, duplicated: 0, outOfOrder: 0 });
  });
});

test("agent rotation - the real program follows a rename and a truncation, and SIGTERM ends it cleanly", async () => {
  await withStream(async (nc, dir, server) => {
    const file = join(dir, "file.log");
    let expected = "";
    let n = 0;
    let fd = openSync(file, "a");
    const write = (count: number) => {
      let chunk = "";
      for (let i = 0; i < count; i++) chunk += line(n++) + "\n";
      writeSync(fd, chunk);
      expected += chunk;
    };
    const stored = async () => (await (await jetstreamManager(nc)).streams.info("LOGS_0")).state.messages;
    write(1000);
    const agent = new ShipperProcess(["producer", "--poll-interval", "50ms"], {
      NATS_URL: server.url,
      SHIPPER_FILE: file,
      SHIPPER_SUBJECT: "logs",
      HOSTNAME: HOST,
    });
    try {
      await waitUntil("the first lines", async () => (await stored()) === 1000 || !agent.running, 20_000);
      renameSync(file, `${file}.1`);
      write(500);
      closeSync(fd);
      fd = openSync(file, "a");
      write(1000);
      await waitUntil("lines after the rename", async () => (await stored()) === 2500 || !agent.running, 20_000);
      truncateSync(file, 0);
      await sleep(300);
      write(1000);
      await waitUntil("lines after the truncation", async () => (await stored()) === 3500 || !agent.running, 20_000);
      closeSync(fd);
      const exit = await agent.stop();
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /was rotated/);
      assert.match(exit.stderr, /was truncated/);
      assert.match(exit.stderr, /stopped: 3500 lines read, 3500 acknowledged/);
      assert.deepEqual(auditLines(expected, await storedText(nc, "LOGS_0")), { expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });
    } finally {
      await agent.kill();
    }
  });
});
