import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Agent, type AgentCounters } from "../src/agent/agent.js";
import { PositionBook } from "../src/agent/positions/position-book.js";
import { POSITIONS_FILE } from "../src/agent/positions/positions-file.js";
import { ResumePlanner } from "../src/agent/resume-planner.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";
import { storedText } from "../src/testkit/stream-text.js";

const HOST = "str1.example.net";
const SUBJECT = `logs.p0.${HOST}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let counter = 0;
/** Distinct numbered lines with a timestamp-like head, so each file's first line differs. */
function lines(count: number, tag: string): string {
  let t = "";
  for (let i = 0; i < count; i++) t += `${tag} ${String(counter++).padStart(8, "0")} <14>Nov 27 07:25:19 ${HOST} app[42]: something happened\n`;
  return t;
}

interface Env {
  nc: NatsConnection;
  dir: string;
  state: string;
  /** Runs an agent session until `until` holds, then stops it cleanly and saves. */
  session(files: string[], until: (c: AgentCounters) => boolean, during?: (agent: Agent) => Promise<void>): Promise<{ counters: AgentCounters; text: string }>;
}

async function withEnv(body: (env: Env) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const dir = mkdtempSync(join(tmpdir(), "shipper-resume-"));
  const nc = await connect({ servers: server.url });
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    const state = join(dir, "state");
    const session: Env["session"] = async (files, until, during) => {
      const { log, text } = memoryLogger();
      const book = await PositionBook.open({ dir: state, host: HOST, log });
      const agent = new Agent(nc, { files, subject: SUBJECT, host: HOST, log, positions: book, pollIntervalMs: 50, scanIntervalMs: 100 });
      const stop = new AbortController();
      const running = agent.run(stop.signal);
      try {
        if (during) await during(agent);
        await waitUntil("the session's lines", () => until(agent.counters), 20_000);
      } finally {
        stop.abort();
        await running;
        await book.close();
      }
      return { counters: agent.counters, text: text() };
    };
    await body({ nc, dir, state, session });
  } finally {
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const exact = (n: number) => ({ expected: n, received: n, missing: 0, duplicated: 0, outOfOrder: 0 });

test("agent resume - a restart resumes at the saved position: nothing is sent twice, a partial last line is sent once, whole", async () => {
  await withEnv(async ({ nc, dir, state, session }) => {
    const file = join(dir, "app.log");
    let expected = lines(3000, "a");
    writeFileSync(file, expected + "a partial la");
    const first = await session([file], (c) => c.acknowledged === 3000);
    assert.equal(first.counters.duplicates, 0);
    const saved = JSON.parse(readFileSync(join(state, POSITIONS_FILE), "utf8"));
    assert.equal(saved.files[0].offset, statSync(file).size - "a partial la".length, "saved up to the last complete line");

    appendFileSync(file, "st line\n");
    const more = lines(1000, "b");
    appendFileSync(file, more);
    expected += "a partial last line\n" + more;
    const second = await session([file], (c) => c.acknowledged === 1001);
    assert.equal(second.counters.duplicates, 0, "nothing was sent again");
    assert.equal(second.counters.linesRead, 1001);
    assert.match(second.text, /from offset \d+/);
    assert.deepEqual(auditLines(expected, await storedText(nc)), exact(4001));
  });
});

test("agent resume - rotation while the agent is stopped: the renamed file is finished from its position, then the new one from 0", async () => {
  await withEnv(async ({ nc, dir, session }) => {
    const file = join(dir, "app.log");
    let expected = lines(2000, "a");
    writeFileSync(file, expected);
    await session([file], (c) => c.acknowledged === 2000);
    // while stopped: the writer adds lines, logrotate renames twice-removed names, a new file starts
    const late = lines(500, "b");
    appendFileSync(file, late);
    renameSync(file, `${file}.1`);
    const fresh = lines(700, "c");
    writeFileSync(file, fresh);
    expected += late + fresh;
    const second = await session([file], (c) => c.acknowledged === 1200);
    assert.equal(second.counters.duplicates, 0);
    assert.match(second.text, /was rotated while the agent was stopped: finishing file \d+:\d+, now .*app\.log\.1.* from offset \d+/);
    assert.deepEqual(auditLines(expected, await storedText(nc)), exact(3200));
  });
});

test("agent resume - a deleted file is finished and closed; recreated on the same inode it is read from 0, while running and while stopped", async (t) => {
  await withEnv(async ({ nc, dir, session }) => {
    const file = join(dir, "app.log");
    const header = "same first line in every file\n"; // the fingerprint alone cannot tell them apart
    let expected = header + lines(1000, "a");
    writeFileSync(file, expected);
    const { ino } = statSync(file);
    let reused = 0;
    const first = await session(
      [file],
      (c) => c.acknowledged === 1001 + 1001,
      async (agent) => {
        await waitUntil("the first file", () => agent.counters.acknowledged === 1001, 20_000);
        unlinkSync(file);
        await waitUntil("the deletion", () => agent.counters.deletions === 1, 10_000);
        const next = header + lines(1000, "b");
        writeFileSync(file, next);
        if (statSync(file).ino === ino) reused++;
        expected += next;
      },
    );
    assert.equal(first.counters.duplicates, 0, "no id of the new file repeats one of the old");
    assert.match(first.text, /was deleted: finished file/);
    // while stopped: deleted and recreated again
    unlinkSync(file);
    const third = header + lines(800, "c");
    writeFileSync(file, third);
    if (statSync(file).ino === ino) reused++;
    expected += third;
    const second = await session([file], (c) => c.acknowledged === 801);
    assert.equal(second.counters.duplicates, 0, second.text);
    assert.deepEqual(auditLines(expected.replaceAll(header, ""), (await storedText(nc)).replaceAll(header, "")), exact(2800));
    assert.equal((await storedText(nc)).split(header).length - 1, 3, "the same first line of each of the three files, once each");
    // ext4 hands a freed inode to the next new file, unless another process took it first.
    t.diagnostic(`recreated files on the deleted file's inode: ${reused} of 2`);
  });
});

test("agent resume - several files and a glob: each has its own position, and new matches are picked up while running", async () => {
  await withEnv(async ({ nc, dir, session }) => {
    const logs = join(dir, "logs");
    mkdirSync(logs);
    const plain = join(dir, "plain.log");
    writeFileSync(plain, lines(300, "p"));
    writeFileSync(join(logs, "a.log"), lines(300, "a"));
    writeFileSync(join(logs, "ignored.txt"), lines(5, "x"));
    const first = await session(
      [plain, join(logs, "*.log")],
      (c) => c.acknowledged === 900,
      async (agent) => {
        await waitUntil("the first two files", () => agent.counters.acknowledged === 600, 20_000);
        writeFileSync(join(logs, "b.log"), lines(300, "b"));
        await waitUntil("the new match", () => agent.paths.length === 3, 10_000);
      },
    );
    assert.equal(first.counters.files, 3);
    appendFileSync(plain, lines(10, "p2"));
    appendFileSync(join(logs, "b.log"), lines(10, "b2"));
    const second = await session([plain, join(logs, "*.log")], (c) => c.acknowledged === 20);
    assert.equal(second.counters.duplicates, 0);
    const text = await storedText(nc);
    for (const name of [plain, join(logs, "a.log"), join(logs, "b.log")]) {
      const source = readFileSync(name, "utf8");
      const mine = new Set(source.split("\n"));
      const got = text.split("\n").filter((l) => l !== "" && mine.has(l));
      assert.deepEqual(auditLines(source, got.join("\n") + "\n"), exact(source.split("\n").length - 1), name);
    }
    assert.equal(text.split("\n").length - 1, 920);
    assert.ok(!text.includes(" x "), "ignored.txt does not match");
  });
});

test("agent resume - copytruncate: the lines written after the last read are read from the copy, then the file again from 0", async () => {
  await withEnv(async ({ nc, dir, session }) => {
    const file = join(dir, "app.log");
    let expected = "";
    const fd = openSync(file, "a");
    const write = (t: string) => {
      writeSync(fd, t);
      expected += t;
    };
    write(lines(1000, "a"));
    const run = await session(
      [file],
      (c) => c.acknowledged === 1000 + 400 + 600,
      async (agent) => {
        await waitUntil("the first lines", () => agent.counters.acknowledged === 1000, 20_000);
        // the writer goes on; logrotate copies and truncates before the agent reads the rest
        write(lines(400, "b"));
        copyFileSync(file, `${file}.1`);
        truncateSync(file, 0);
        await waitUntil("the truncation", () => agent.counters.truncations === 1, 10_000);
        write(lines(600, "c"));
      },
    );
    closeSync(fd);
    assert.equal(run.counters.duplicates, 0);
    assert.ok(run.counters.truncationRecoveredBytes > 0, "read from the copy");
    assert.equal(run.counters.truncationLostBytes, 0);
    assert.match(run.text, /reading the rest of the old content from its copy/);
    assert.deepEqual(auditLines(expected, await storedText(nc)), exact(2000));
  });
});

test("agent resume - the planner gives a new file on a reused inode (deleted before, or born later) the next generation, from 0", () => {
  const { log } = memoryLogger();
  const book = PositionBook.inMemory(HOST, log);
  const planner = new ResumePlanner(book, log);
  const dir = "/var/log";
  const path = `${dir}/app.log`;
  const old = book.version(path, { dev: "1", ino: "7", born: "100" }, "0badf00d", 0);
  book.settle(old, 5000);
  const resume = planner.forPath(path);
  // the same file (same birth time): resumed
  assert.deepEqual(resume.startOf({ path, identity: { dev: "1", ino: "7", born: "100" }, size: 6000, fingerprint: "0badf00d", renamedAway: false }), { offset: 5000, generation: 0 });
  resume.left!({ path, identity: { dev: "1", ino: "7", born: "100" }, fingerprint: "0badf00d", generation: 0, readOffset: 5000, reason: "closed" });
  // a file born later on the same inode with the same first line: another file
  assert.deepEqual(resume.startOf({ path, identity: { dev: "1", ino: "7", born: "200" }, size: 6000, fingerprint: "0badf00d", renamedAway: false }), { offset: 0, generation: 1 });
  resume.left!({ path, identity: { dev: "1", ino: "7", born: "200" }, fingerprint: "0badf00d", generation: 1, readOffset: 0, reason: "closed" });
  // deleted (no birth times known): the next file on that inode starts at 0 with the next generation
  book.left(old, 5000, true);
  assert.deepEqual(resume.startOf({ path, identity: { dev: "1", ino: "7" }, size: 6000, fingerprint: "0badf00d", renamedAway: false }), { offset: 0, generation: 1 });
  // a file read from 0 whose first line completes later takes a generation above every known one
  assert.equal(resume.generationFor!({ dev: "1", ino: "7" }, "0badf00d", 0), 1);
  assert.equal(resume.generationFor!({ dev: "1", ino: "8" }, "0badf00d", 0), 0);
  // the same file is read through one path at a time
  assert.deepEqual(planner.forPath(`${dir}/app.log.1`).startOf({ path: `${dir}/app.log.1`, identity: { dev: "1", ino: "7" }, size: 1, fingerprint: "0badf00d", renamedAway: false }), {
    wait: `the same file (1:7) is being read through "${path}"`,
  });
});

test("agent resume - a glob that also matches rotated names reads each file once, across a rotation and a restart", async () => {
  await withEnv(async ({ nc, dir, session }) => {
    const file = join(dir, "app.log");
    const pattern = join(dir, "app.log*");
    let expected = lines(1000, "a");
    writeFileSync(file, expected);
    const first = await session(
      [pattern],
      (c) => c.acknowledged === 1000 + 200 + 300,
      async (agent) => {
        await waitUntil("the first lines", () => agent.counters.acknowledged === 1000, 20_000);
        renameSync(file, `${file}.1`);
        const late = lines(200, "b");
        appendFileSync(`${file}.1`, late);
        const fresh = lines(300, "c");
        writeFileSync(file, fresh);
        expected += late + fresh;
        await waitUntil("both names followed", () => agent.paths.length === 2, 10_000);
      },
    );
    assert.equal(first.counters.duplicates, 0);
    // while stopped: one more rotation; the glob now matches app.log, app.log.1 and app.log.2
    renameSync(`${file}.1`, `${file}.2`);
    renameSync(file, `${file}.1`);
    const fresh = lines(400, "d");
    writeFileSync(file, fresh);
    expected += fresh;
    const second = await session([pattern], (c) => c.acknowledged === 400);
    assert.equal(second.counters.duplicates, 0, second.text);
    await sleep(300);
    const text = await storedText(nc);
    const ordered = ["a", "b", "c", "d"].map((tag) => text.split("\n").filter((l) => l.startsWith(`${tag} `)).join("\n") + "\n").join("");
    assert.deepEqual(auditLines(expected, ordered), exact(1900));
    assert.equal(text.split("\n").length - 1, 1900);
  });
});
