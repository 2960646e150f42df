import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Agent } from "../src/agent/agent.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";

const HOST = "web2.example.net";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("agent backpressure - while the server is away the file is the buffer: reading stops at the in-flight bound, then everything arrives once", async () => {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-backpressure-"));
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    const file = join(dir, "app.log");
    let n = 0;
    let expected = "";
    const write = (count: number) => {
      let t = "";
      for (let i = 0; i < count; i++) t += `line ${String(n++).padStart(7, "0")} <14>Nov 27 07:25:19 ${HOST} app[42]: something happened\n`;
      appendFileSync(file, t);
      expected += t;
    };
    writeFileSync(file, "");
    write(1000);
    const maxInFlight = 2000;
    const agent = new Agent(nc, { file, subject: `logs.p0.${HOST}`, host: HOST, log: pino({ level: "silent" }), pollIntervalMs: 50, maxInFlight, readChunkBytes: 16 * 1024, ackTimeoutMs: 300 });
    const stop = new AbortController();
    const running = agent.run(stop.signal);
    await waitUntil("the first lines", () => agent.counters.acknowledged === 1000, 20_000);

    await server.kill();
    const acknowledged = agent.counters.acknowledged;
    for (let i = 0; i < 20; i++) {
      write(5000); // 100,000 lines while the server is away
      await sleep(50);
    }
    await sleep(500);
    const c = agent.counters;
    // Read no further than the window allows (plus one chunk being split into lines).
    assert.ok(c.linesRead - acknowledged <= maxInFlight + 200, `read ${c.linesRead - acknowledged} lines ahead of the last acknowledgement`);
    assert.ok(c.inFlight <= maxInFlight);

    await server.start();
    await waitUntil("every line acknowledged", () => agent.counters.acknowledged >= n && agent.counters.inFlight === 0, 40_000);
    stop.abort();
    await running;
    const stored = (await (await jetstreamManager(nc)).streams.info("LOGS_0")).state.messages;
    assert.equal(stored, n);
    let out = "";
    const messages = await (await jetstream(nc).consumers.get("LOGS_0")).consume();
    let count = 0;
    for await (const m of messages) {
      out += Buffer.from(m.data).toString() + "\n";
      if (++count === n) break;
    }
    await messages.close();
    assert.deepEqual(auditLines(expected, out), { expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });
  } finally {
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
