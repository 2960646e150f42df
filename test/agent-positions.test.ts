import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { pino } from "pino";
import { ConfigError } from "../src/config/errors.js";
import { PositionBook } from "../src/agent/positions/position-book.js";
import { POSITIONS_FILE } from "../src/agent/positions/positions-file.js";
import { LOCK_FILE, StateLock } from "../src/agent/positions/state-lock.js";
import { defaultStateDir } from "../src/agent/positions/state-dir.js";

const log = pino({ level: "silent" });
const HOST = "web1.example.net";

const withDir = (body: (dir: string) => Promise<void>) => inTempDir("shipper-positions-", body);

test("agent positions - saved atomically in a versioned format and loaded back", async () => {
  await withDir(async (dir) => {
    const state = join(dir, "state");
    const logPath = join(dir, "app.log");
    const book = await PositionBook.open({ dir: state, host: HOST, log });
    const v = book.version(logPath, { dev: "2049", ino: "18446744073709551615" }, "9f3a1c2e", 1);
    book.settle(v, 1000);
    book.settle(v, 2500);
    await book.close();
    assert.deepEqual(readdirSync(state).sort(), [POSITIONS_FILE], "no temporary file and no lock left");
    const saved = JSON.parse(readFileSync(join(state, POSITIONS_FILE), "utf8"));
    assert.equal(saved.format, "shipper-agent-positions");
    assert.equal(saved.version, 1);
    assert.equal(saved.host, HOST);
    assert.equal(saved.files.length, 1);
    assert.deepEqual({ ...saved.files[0], updatedAt: 0 }, {
      path: logPath,
      dev: "2049",
      ino: "18446744073709551615",
      fingerprint: "9f3a1c2e",
      generation: 1,
      offset: 2500,
      complete: false,
      updatedAt: 0,
    });

    const again = await PositionBook.open({ dir: state, host: HOST, log });
    const found = again.find({ dev: "2049", ino: "18446744073709551615" }, "9f3a1c2e", dir);
    assert.equal(found?.offset, 2500);
    assert.equal(found?.generation, 1);
    assert.equal(again.find({ dev: "2049", ino: "18446744073709551615" }, "9f3a1c2e", "/elsewhere"), undefined, "the same inode in another directory is another file");
    again.left(found!, 3000);
    assert.equal(found!.complete, false, "complete only once everything read is acknowledged");
    again.settle(found!, 3000);
    assert.equal(found!.complete, true);
    await again.close();
  });
});

test("agent positions - versions whose directory is gone are forgotten at load", async () => {
  await withDir(async (dir) => {
    const state = join(dir, "state");
    const book = await PositionBook.open({ dir: state, host: HOST, log });
    book.settle(book.version(join(dir, "gone", "a.log"), { dev: "1", ino: "2" }, "00000001", 0), 10);
    book.settle(book.version(join(dir, "b.log"), { dev: "1", ino: "3" }, "00000002", 0), 20);
    await book.close();
    const again = await PositionBook.open({ dir: state, host: HOST, log });
    assert.deepEqual(again.all().map((v) => v.offset), [20]);
    await again.close();
  });
});

test("agent positions - a broken or newer positions file stops the agent with a ConfigError that says what to do", async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, POSITIONS_FILE), "{ half a file");
    await assert.rejects(PositionBook.open({ dir, host: HOST, log }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /are not valid JSON .*move the file away/);
      return true;
    });
    assert.equal(existsSync(join(dir, LOCK_FILE)), false, "the lock is released again");
    writeFileSync(join(dir, POSITIONS_FILE), JSON.stringify({ format: "shipper-agent-positions", version: 2, files: [] }));
    await assert.rejects(PositionBook.open({ dir, host: HOST, log }), /have format version 2, this agent reads version 1/);
    writeFileSync(join(dir, POSITIONS_FILE), JSON.stringify({ format: "shipper-agent-positions", version: 1, host: HOST, savedAt: "x", files: [{ path: "/a" }] }));
    await assert.rejects(PositionBook.open({ dir, host: HOST, log }), /are not valid: files\.0\.dev/);
  });
});

test("agent positions - one agent per state directory: a live owner is named, a dead one's lock is taken over", async () => {
  await withDir(async (dir) => {
    // A live process that is not us owns the lock (our parent stands in for another agent).
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid }));
    assert.throws(() => StateLock.acquire(dir, log), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        `the state directory "${dir}" is in use by another agent (pid ${process.ppid}); stop that agent, or give this one its own SHIPPER_STATE_DIR (--state-dir)`,
      );
      return true;
    });
    // A process that has exited: its lock is stale.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout) }));
    const lock = StateLock.acquire(dir, log);
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
    // The same pid with another start time is a reused pid: stale too.
    lock.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, started: "1" }));
    StateLock.acquire(dir, log).release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });
});

test("agent positions - the default state directory is per host name, under /var/lib/shipper for root, else XDG_STATE_HOME", () => {
  const dir = defaultStateDir("web1.example.net", { XDG_STATE_HOME: "/home/u/.state" });
  if (process.getuid?.() === 0) assert.equal(dir, "/var/lib/shipper/agent/web1.example.net");
  else assert.equal(dir, "/home/u/.state/shipper/agent/web1.example.net");
  assert.ok(defaultStateDir("a/b", {}).endsWith("/agent/a%2Fb"), "a host name is one path segment");
});
