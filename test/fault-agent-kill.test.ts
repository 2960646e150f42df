// Fault 1: SIGKILL the real agent at random points, several times, while two hosts ship and their
// files keep growing; restart it each time. The stream must hold every line of each host exactly
// once, in order: each restart resumes from the saved position, and the lines re-sent after a
// kill (acknowledged after the last save, or in flight) carry the ids they had, so the stream's
// duplicate window drops them.
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

const HOSTS = ["web1.example.net", "db1.example.net"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StoredLine {
  host: string;
  line: string;
  msgId: string;
}

async function readAll(nc: NatsConnection, stream: string): Promise<StoredLine[]> {
  const n = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  const out: StoredLine[] = [];
  if (n === 0) return out;
  const messages = await (await jetstream(nc).consumers.get(stream)).consume();
  for await (const m of messages) {
    out.push({ host: m.subject.split(".").slice(2).join("."), line: Buffer.from(m.data).toString("utf8"), msgId: m.headers?.get("Nats-Msg-Id") ?? "" });
    if (out.length === n) break;
  }
  await messages.close();
  return out;
}

test("fault agent - SIGKILL at random points, five times per host, while files grow: every line once, in order", async (t) => {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-fault-kill-"));
  const nc = await connect({ servers: server.url });
  const agents = new Map<string, ShipperProcess>();
  let writing = true;
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS", subjects: ["logs.>"] });
    const files = new Map(HOSTS.map((h) => [h, join(dir, `${h}.log`)]));
    const written = new Map(HOSTS.map((h) => [h, ""]));
    const start = (host: string) => {
      const agent = agentProcess({ url: server.url, file: files.get(host)!, host, stateDir: join(dir, `state-${host}`), args: ["--poll-interval", "50ms", "--save-interval", "100ms"] });
      agents.set(host, agent);
      return agent;
    };
    // The writers: ~1,500 lines/s per host, in bursts of varying size (some end mid-line).
    const writer = (async () => {
      const fds = new Map(HOSTS.map((h) => [h, openSync(files.get(h)!, "a")]));
      let n = 0;
      let pending = new Map(HOSTS.map((h) => [h, ""]));
      while (writing) {
        for (const host of HOSTS) {
          let chunk = pending.get(host)!;
          const count = 10 + Math.floor(Math.random() * 40);
          for (let i = 0; i < count; i++) chunk += `${host} line ${String(n++).padStart(7, "0")} <14>Nov 27 07:25:19 app[42]: request served\n`;
          // write all but a random tail, which goes out with the next burst (a line half written)
          const cut = chunk.length - Math.floor(Math.random() * 30);
          writeSync(fds.get(host)!, chunk.slice(0, cut));
          written.set(host, written.get(host)! + chunk.slice(0, cut));
          pending.set(host, chunk.slice(cut));
        }
        await sleep(20);
      }
      for (const host of HOSTS) {
        writeSync(fds.get(host)!, pending.get(host)!);
        written.set(host, written.get(host)! + pending.get(host)!);
        closeSync(fds.get(host)!);
      }
      pending = new Map();
    })();

    for (const host of HOSTS) start(host);
    const kills = new Map(HOSTS.map((h) => [h, 0]));
    const killer = async (host: string) => {
      for (let k = 0; k < 5; k++) {
        await agents.get(host)!.waitForOutput(/following /, 15_000);
        await sleep(200 + Math.random() * 1200);
        await agents.get(host)!.kill();
        kills.set(host, kills.get(host)! + 1);
        start(host);
      }
    };
    await Promise.all(HOSTS.map(killer));
    writing = false;
    await writer;
    const total = (h: string) => written.get(h)!.split("\n").length - 1;
    const storedCount = async () => (await (await jetstreamManager(nc)).streams.info("LOGS")).state.messages;
    const want = HOSTS.reduce((s, h) => s + total(h), 0);
    await waitUntil("every line stored", async () => (await storedCount()) >= want, 30_000);
    for (const host of HOSTS) {
      const exit = await agents.get(host)!.stop();
      assert.equal(exit.code, 0, exit.stderr);
      assert.match(exit.stderr, /taking over the stale lock .* of pid \d+, which is no longer running/);
      assert.match(exit.stderr, /from offset [1-9]\d*/, "a restart resumed at a saved position");
    }

    const stored = await readAll(nc, "LOGS");
    assert.equal(new Set(stored.map((s) => s.msgId)).size, stored.length, "every message id once");
    for (const host of HOSTS) {
      const got = stored.filter((s) => s.host === host).map((s) => s.line + "\n").join("");
      const audit = auditLines(written.get(host)!, got);
      t.diagnostic(`${host}: ${kills.get(host)} kills, ${JSON.stringify(audit)}`);
      assert.deepEqual(audit, { expected: total(host), received: total(host), missing: 0, duplicated: 0, outOfOrder: 0 });
    }
  } finally {
    writing = false;
    for (const a of agents.values()) await a.kill();
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
