import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { pino } from "pino";
import { FileFollower, type LineBatch } from "../src/agent/file-follower.js";
import { linesOf } from "../src/agent/line-splitter.js";
import { identityOf } from "../src/agent/file-identity.js";

const log = pino({ level: "silent" });

const withDir = (body: (dir: string) => Promise<void>) => inTempDir("shipper-follower-", body);

function text(batch: LineBatch | undefined): string[] {
  return batch ? linesOf(batch).map((l) => l.toString()) : [];
}

test("file follower - reads one chunk per request, so an unread file is the buffer", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.log");
    writeFileSync(file, Array.from({ length: 1000 }, (_, i) => `line ${i}`.padEnd(99, ".")).join("\n") + "\n");
    const follower = new FileFollower({ path: file, log, chunkBytes: 4096, pollIntervalMs: 20 });
    try {
      const first = await follower.next();
      assert.equal(first!.ends.length, 40); // 4096 bytes hold 40 whole lines of 100 bytes
      assert.equal(follower.readPosition.offset, 4000);
      let total = first!.ends.length;
      while (total < 1000) total += (await follower.next())!.ends.length;
      assert.equal(total, 1000);
      assert.equal(follower.readPosition.offset, statSync(file).size);
    } finally {
      await follower.close();
    }
  });
});

test("file follower - resumes at a start offset of the same file and content, else reads from 0", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.log");
    writeFileSync(file, "first\nsecond\nthird\n");
    const probe = new FileFollower({ path: file, log });
    const batch = await probe.next();
    await probe.close();
    const { identity, fingerprint } = batch!;
    const start = { offset: 6, identity, fingerprint, generation: 0 };

    const resumed = new FileFollower({ path: file, log, start });
    assert.deepEqual(text(await resumed.next()), ["second", "third"]);
    await resumed.close();

    const otherContent = new FileFollower({ path: file, log, start: { ...start, fingerprint: "deadbeef" } });
    assert.deepEqual(text(await otherContent.next()), ["first", "second", "third"]);
    await otherContent.close();

    const otherFile = new FileFollower({ path: file, log, start: { ...start, identity: { dev: "1", ino: "2" } } });
    assert.deepEqual(text(await otherFile.next()), ["first", "second", "third"]);
    await otherFile.close();

    const tooShort = new FileFollower({ path: file, log, start: { offset: 500, identity } });
    assert.deepEqual(text(await tooShort.next()), ["first", "second", "third"]);
    await tooShort.close();
  });
});

test("file follower - each batch names its file, fingerprint and generation", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.log");
    writeFileSync(file, "one\n");
    const follower = new FileFollower({ path: file, log, pollIntervalMs: 20 });
    try {
      const a = (await follower.next())!;
      assert.deepEqual(a.identity, identityOf(statSync(file, { bigint: true })));
      assert.match(a.fingerprint, /^[0-9a-f]{8}$/);
      assert.equal(a.generation, 0);
      writeFileSync(file, "x\n"); // truncated (shorter) and rewritten in place
      const b = (await follower.next())!;
      assert.deepEqual(text(b), ["x"]);
      assert.deepEqual(b.identity, a.identity);
      assert.equal(b.generation, 1);
      assert.notEqual(b.fingerprint, a.fingerprint);
    } finally {
      await follower.close();
    }
  });
});

test("file follower - stop() ends a wait for data, and a partial line stays held", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.log");
    writeFileSync(file, "done\npart");
    const follower = new FileFollower({ path: file, log, pollIntervalMs: 5000 });
    assert.deepEqual(text(await follower.next()), ["done"]);
    const waiting = follower.next();
    setTimeout(() => follower.stop(), 50);
    assert.equal(await waiting, undefined);
    assert.equal(follower.readPosition.offset, 5);
    await follower.close();
  });
});

test("file follower - fs.watch wakes a long poll as soon as the file grows", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "a.log");
    writeFileSync(file, "a\n");
    const follower = new FileFollower({ path: file, log, pollIntervalMs: 10_000 });
    try {
      await follower.next();
      const next = follower.next();
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      appendFileSync(file, "b\n");
      assert.deepEqual(text(await next), ["b"]);
      assert.ok(Date.now() - t0 < 5000, "woken by the watch, not the 10 s poll");
    } finally {
      await follower.close();
    }
  });
});
