// Fault 5: rotations against the real agent, counted line by line: rename rotation under load,
// copytruncate under load (the window the copy does not hold is counted and reported, nothing
// is duplicated), rotation while the agent is stopped (killed), and a deleted file recreated on
// a reused inode with the same first line.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, agentProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { storedText } from "../src/testkit/stream-text.js";

const HOST = "str1.example.net";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let lineNumber = 0;

/** Appends numbered lines to a path through an open descriptor, like an application does. */
class Writer {
  text = "";
  n = 0;
  private fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, "a");
  }
  write(count: number, tag = "line"): string {
    let chunk = "";
    for (let i = 0; i < count; i++) chunk += `${tag} ${String(lineNumber++).padStart(7, "0")} <14>Nov 27 07:25:19 ${HOST} app[42]: something happened\n`;
    this.n += count;
    writeSync(this.fd, chunk);
    this.text += chunk;
    return chunk;
  }
  /** The application reopens its log by name (after logrotate renamed or deleted it). */
  reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, "a");
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Waits until the stream holds `n` lines; on a timeout, says what the agent printed. */
async function waitStored(what: string, stored: () => Promise<number>, n: number, agent: ShipperProcess, timeoutMs = 30_000): Promise<void> {
  try {
    await waitUntil(what, async () => (await stored()) >= n || !agent.running, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${await stored()} of ${n} stored; the agent printed:\n${agent.stderr.slice(-3000)}`);
  }
}

interface Setup {
  nc: NatsConnection;
  dir: string;
  file: string;
  agent(...args: string[]): ShipperProcess;
  stored(): Promise<number>;
}

async function withSetup(body: (s: Setup) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-fault-rotation-"));
  const nc = await connect({ servers: server.url });
  const started: ShipperProcess[] = [];
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    const file = join(dir, "app.log");
    await body({
      nc,
      dir,
      file,
      agent: (...args: string[]) => {
        const p = agentProcess({ url: server.url, file, host: HOST, stateDir: join(dir, "state"), args: ["--poll-interval", "50ms", ...args] });
        started.push(p);
        return p;
      },
      stored: async () => (await (await jetstreamManager(nc)).streams.info("LOGS_0")).state.messages,
    });
  } finally {
    for (const p of started) await p.kill();
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const exact = (n: number) => ({ expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });
const count = (text: string) => text.split("\n").length - 1;

test("fault agent rotation - rename rotation four times under load: every line once, in order", async () => {
  await withSetup(async ({ nc, file, agent, stored }) => {
    const w = new Writer(file);
    const a = agent();
    await a.waitForOutput(/following /);
    for (let burst = 0; burst < 200; burst++) {
      w.write(40);
      if (burst % 50 === 25) {
        if (existsSync(`${file}.1`)) renameSync(`${file}.1`, `${file}.2`);
        renameSync(file, `${file}.1`);
        w.write(30); // the application still writes to the renamed file
        await sleep(5);
        w.write(30);
        w.reopen();
      }
      await sleep(5);
    }
    w.close();
    await waitStored("every line stored", stored, w.n, a);
    const exit = await a.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.stderr.match(/was rotated: finished file/g)?.length, 4, exit.stderr);
    assert.deepEqual(auditLines(w.text, await storedText(nc)), exact(w.n));
  });
});

test("fault agent rotation - copytruncate under load: no duplicates, the copy fills the gap, and only the window after the copy is lost (counted)", async (t) => {
  await withSetup(async ({ nc, file, agent, stored }) => {
    const w = new Writer(file);
    const a = agent();
    await a.waitForOutput(/following /);
    const windows = new Set<string>();
    for (let burst = 0; burst < 150; burst++) {
      w.write(40);
      if (burst % 50 === 25) {
        // logrotate's copytruncate: copy, then truncate; lines the application writes in between are
        // in neither the copy nor the truncated file (unless the agent read them in that moment)
        copyFileSync(file, `${file}.1`);
        for (const line of w.write(5, "window").split("\n")) if (line) windows.add(line);
        truncateSync(file, 0);
      }
      await sleep(5);
    }
    w.close();
    await waitStored("the lines after the last truncation", stored, w.n - windows.size, a);
    await sleep(500); // and nothing more arrives
    const exit = await a.stop();
    assert.equal(exit.code, 0, exit.stderr);
    const got = await storedText(nc);
    const audit = auditLines(w.text, got);
    const missing = w.text.split("\n").filter((l) => l && !got.includes(l + "\n"));
    t.diagnostic(`copytruncate x3: ${JSON.stringify(audit)}; ${windows.size} lines were written between copy and truncation, ${missing.length} of them lost`);
    assert.equal(audit.duplicated, 0);
    assert.equal(audit.outOfOrder, 0);
    assert.ok(missing.every((l) => windows.has(l)), `only lines of the copy-to-truncate windows may be lost: ${missing.filter((l) => !windows.has(l)).slice(0, 3).join(" | ")}`);
    assert.equal(exit.stderr.match(/was truncated: read up to offset/g)?.length, 3, exit.stderr);
    assert.match(exit.stderr, /stopped: .* 3 truncations/);
  });
});

test("fault agent rotation - rotation while the agent is stopped (killed while shipping): the renamed file is finished, then the new one", async () => {
  await withSetup(async ({ nc, dir, file, agent, stored }) => {
    const w = new Writer(file);
    w.write(60_000);
    const first = agent("--max-in-flight", "500");
    // killed while shipping, once a position past 0 was saved
    const savedOffset = () => {
      try {
        return JSON.parse(readFileSync(join(dir, "state", "positions.json"), "utf8")).files[0]?.offset ?? 0;
      } catch {
        return 0;
      }
    };
    await waitUntil("a saved position", () => savedOffset() > 0 || !first.running, 20_000);
    await first.kill();
    assert.ok((await stored()) < 60_000, "killed while shipping");
    // while it is down: more lines, logrotate renames, the application finishes the old file, then a new one
    w.write(500);
    renameSync(file, `${file}.1`);
    w.write(300);
    w.reopen();
    w.write(700);
    w.close();
    const second = agent();
    await waitStored("every line stored", stored, w.n, second);
    const exit = await second.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /was rotated while the agent was stopped: finishing file \d+:\d+, now .*app\.log\.1.* from offset [1-9]\d*/);
    assert.deepEqual(auditLines(w.text, await storedText(nc)), exact(w.n));
  });
});

test("fault agent rotation - a deleted file recreated on a reused inode with the same first line, while running and while stopped", async (t) => {
  await withSetup(async ({ nc, file, agent, stored }) => {
    const header = "# same first line in every file\n";
    let all = "";
    let reused = 0;
    let w = new Writer(file);
    let ino = statSync(file).ino;
    const writeHeader = () => {
      const fd = openSync(file, "a");
      writeSync(fd, header);
      closeSync(fd);
    };
    const fresh = () => {
      writeHeader();
      if (statSync(file).ino === ino) reused++;
      ino = statSync(file).ino;
      w = new Writer(file);
    };
    w.close();
    writeHeader();
    w = new Writer(file);
    w.write(1000);
    const a = agent();
    await waitUntil("the first file", async () => (await stored()) === 1001 || !a.running, 20_000);
    all += w.text;
    w.close();
    unlinkSync(file);
    await a.waitForOutput(/was deleted: finished file/, 10_000);
    fresh();
    w.write(1000);
    all += w.text;
    await waitUntil("the second file", async () => (await stored()) === 2002 || !a.running, 20_000);
    assert.equal((await a.stop()).code, 0);
    w.close();
    unlinkSync(file);
    fresh();
    w.write(800);
    all += w.text;
    w.close();
    const b = agent();
    await waitUntil("the third file", async () => (await stored()) === 2803 || !b.running, 20_000);
    await sleep(300);
    const exit = await b.stop();
    assert.equal(exit.code, 0, exit.stderr);
    t.diagnostic(`files recreated on the deleted file's inode: ${reused} of 2`);
    const got = await storedText(nc);
    assert.equal(got.split(header).length - 1, 3, "each file's first line once");
    assert.deepEqual(auditLines(all, got.replaceAll(header, "")), exact(count(all)));
  });
});
