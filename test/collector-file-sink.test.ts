import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { pino } from "pino";
import { parseOutputPattern } from "../src/config/output-pattern.js";
import { FileSink } from "../src/collector/file-sink.js";
import { hostDirectory, hostDirectoryProblem } from "../src/collector/host-directory.js";
import { nodeSinkFileSystem, nodeSinkFileSystemWith, type SinkFileSystem } from "../src/collector/sink-fs.js";
import { diskFullOnce } from "../src/testkit/disk-full-once.js";

function capture() {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s).msg as string) });
  return { log, lines };
}

const enc = (s: string) => Buffer.from(s);

/** A test body run in a fresh temporary directory. */
const withDir = (fn: (dir: string) => Promise<void>) => () => inTempDir("shipper-sink-", fn);

test("collector file sink - writes <dir>/<host>/<pattern at local midnight>, 0755/0644, logs the first open", withDir(async (dir) => {
  const { log, lines } = capture();
  const now = new Date(2020, 3, 2, 13, 10, 20);
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log, now: () => now });
  await sink.write("web1.example.net", [enc("one"), enc(""), enc("three\r")]);
  await sink.write("web1.example.net", [enc("four")]);
  await sink.flush();
  await sink.close();
  const path = join(dir, "web1.example.net", "logfile-202004020000");
  assert.equal(readFileSync(path, "utf8"), "one\n\nthree\r\nfour\n");
  assert.equal(statSync(join(dir, "web1.example.net")).mode & 0o777, 0o755 & ~process.umask());
  assert.equal(statSync(path).mode & 0o777, 0o644 & ~process.umask());
  assert.deepEqual(lines.filter((l) => l.startsWith("Creating")), [`Creating new log "${path}"`]);
}));

test("collector file sink - a restart appends to the day's file", withDir(async (dir) => {
  const output = parseOutputPattern("SHIPPER_OUTPUT", "%Y-%m-%d.log");
  const now = () => new Date(2021, 0, 5, 9);
  for (const batch of [["a", "b"], ["c"]]) {
    const sink = new FileSink({ directory: dir, output, log: capture().log, now });
    await sink.write("h1", batch.map(enc));
    await sink.close();
  }
  assert.equal(readFileSync(join(dir, "h1", "2021-01-05.log"), "utf8"), "a\nb\nc\n");
}));

test("collector file sink - rolls to a new file at local midnight", withDir(async (dir) => {
  const { log, lines } = capture();
  let now = new Date(2022, 5, 30, 23, 59, 59, 900);
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log, now: () => now });
  await sink.write("h1", [enc("before midnight")]);
  now = new Date(2022, 6, 1, 0, 0, 0, 5);
  await sink.write("h1", [enc("after midnight")]);
  await sink.close();
  assert.deepEqual(readdirSync(join(dir, "h1")).sort(), ["logfile-202206300000", "logfile-202207010000"]);
  assert.equal(readFileSync(join(dir, "h1", "logfile-202206300000"), "utf8"), "before midnight\n");
  assert.equal(readFileSync(join(dir, "h1", "logfile-202207010000"), "utf8"), "after midnight\n");
  assert.equal(lines.filter((l) => l.startsWith("Creating new log")).length, 2);
  assert.equal(sink.stats.closed, 2);
}));

test("collector file sink - opening a new file removes files of the pattern older than 7 days by mtime", withDir(async (dir) => {
  const { log, lines } = capture();
  const now = new Date(2023, 2, 20, 12);
  const hostDir = join(dir, "h1");
  mkdirSync(hostDir);
  const at = (days: number) => new Date(now.getTime() - days * 86_400_000);
  const files = {
    "logfile-202303100000": 10, // old: removed
    "logfile-202303120000": 7.5, // old: removed
    "logfile-202303140000": 6, // recent: kept
    "notes.txt": 30, // not of the pattern: kept
  };
  for (const [name, days] of Object.entries(files)) {
    writeFileSync(join(hostDir, name), "x\n");
    utimesSync(join(hostDir, name), at(days), at(days));
  }
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log, now: () => now });
  await sink.write("h1", [enc("today")]);
  await sink.close();
  assert.deepEqual(readdirSync(hostDir).sort(), ["logfile-202303140000", "logfile-202303200000", "notes.txt"]);
  assert.equal(sink.stats.removedOld, 2);
  assert.ok(lines.some((l) => l === `Removed old log "${join(hostDir, "logfile-202303100000")}"`));
}));

// Appends are synchronous writes by default, or go through the thread pool (--sync-appends off).
for (const [how, fs] of [["synchronous appends", nodeSinkFileSystem], ["appends through the thread pool", nodeSinkFileSystemWith(true)]] as const) {
  test(`collector file sink - open files stay under the bound, least recently used closed first, reopened for append (${how})`, withDir(async (dir) => {
    const { log, lines } = capture();
    const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log, maxOpenFiles: 3, fs });
    for (let round = 0; round < 3; round++) {
      for (let h = 0; h < 10; h++) {
        await sink.write(`host${h}`, [enc(`round ${round}`)]);
        assert.ok(sink.openFiles <= 3);
      }
    }
    await sink.close();
    assert.equal(sink.openFiles, 0);
    for (let h = 0; h < 10; h++) {
      const [name] = readdirSync(join(dir, `host${h}`));
      assert.equal(readFileSync(join(dir, `host${h}`, name!), "utf8"), "round 0\nround 1\nround 2\n");
    }
    assert.equal(lines.filter((l) => l.startsWith("Creating new log")).length, 10, "a reopen is not a new log");
    assert.ok(sink.stats.evicted >= 20);
  }));
}

test("collector file sink - a failed write leaves nothing behind, so the retry does not duplicate", withDir(async (dir) => {
  let failNext = false;
  const fs: SinkFileSystem = {
    ...nodeSinkFileSystem,
    async openAppend(path, mode) {
      const file = await nodeSinkFileSystem.openAppend(path, mode);
      return {
        sizeAtOpen: file.sizeAtOpen,
        async append(data) {
          if (failNext) {
            failNext = false;
            await file.append(data.subarray(0, 3)); // a short write, then the disk is full
            throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
          }
          await file.append(data);
        },
        sync: () => file.sync(),
        truncate: (n) => file.truncate(n),
        close: () => file.close(),
      };
    },
  };
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log: capture().log, fs });
  await sink.write("h", [enc("first")]);
  failNext = true;
  await assert.rejects(sink.write("h", [enc("second"), enc("third")]), /ENOSPC/);
  await sink.write("h", [enc("second"), enc("third")]);
  await sink.close();
  const [name] = readdirSync(join(dir, "h"));
  assert.equal(readFileSync(join(dir, "h", name!), "utf8"), "first\nsecond\nthird\n");
}));

test("collector file sink - appendNow writes at once only to an open file of the day, and a failed write is cut back", withDir(async (dir) => {
  const disk = diskFullOnce(3); // a short write, then the disk is full
  let now = new Date(2023, 1, 1, 23, 59, 59);
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log: capture().log, fs: disk.fs, now: () => now });
  assert.equal(sink.appendNow("h", enc("zero\n")), undefined, "no file open yet: append() opens it");
  assert.equal(sink.positionNow("h"), undefined);
  await sink.append("h", enc("one\n"));
  const path = join(dir, "h", "logfile-202302010000");
  assert.deepEqual(sink.positionNow("h"), { path, size: 4 });
  assert.equal(sink.appendNow("h", enc("two\n")), 4);
  assert.equal(disk.appendsNow, 1, "the file's appendNow() made the write");
  disk.failNext = true;
  const failed = sink.appendNow("h", enc("three\n"));
  assert.ok(failed instanceof Promise, "a failed write comes back as a rejected promise");
  await assert.rejects(failed, (err: Error) => err.name === "SinkWriteError" && /ENOSPC/.test(err.message));
  assert.equal(readFileSync(path, "utf8"), "one\ntwo\n", "the short write was cut back");
  assert.equal(sink.appendNow("h", enc("three\n")), undefined, "the failed file was closed: append() opens it again");
  await sink.append("h", enc("three\n"));
  now = new Date(2023, 1, 2, 0, 0, 1);
  assert.equal(sink.appendNow("h", enc("four\n")), undefined, "a new day: append() rolls to the new file");
  assert.equal(sink.positionNow("h"), undefined);
  await sink.append("h", enc("four\n"));
  await sink.close();
  assert.equal(sink.appendNow("h", enc("five\n")), undefined, "closed");
  assert.equal(readFileSync(path, "utf8"), "one\ntwo\nthree\n");
  assert.equal(readFileSync(join(dir, "h", "logfile-202302020000"), "utf8"), "four\n");
}));

test("collector file sink - with appends in the thread pool nothing is written at once", withDir(async (dir) => {
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log: capture().log, fs: nodeSinkFileSystemWith(true) });
  await sink.append("h", enc("one\n"));
  assert.equal(sink.appendNow("h", enc("two\n")), undefined);
  await sink.append("h", enc("two\n"));
  await sink.close();
  const [name] = readdirSync(join(dir, "h"));
  assert.equal(readFileSync(join(dir, "h", name!), "utf8"), "one\ntwo\n");
}));

test("collector file sink - host names that are not one safe directory name are refused", withDir(async (dir) => {
  for (const host of ["", ".", "..", ".hidden", "/etc", "a/b", "a\\b", "a\u0000b", "new\nline", "esc\u001b", "x".repeat(256), "bad\ufffdutf8", " web1"]) {
    assert.ok(hostDirectoryProblem(host), `${JSON.stringify(host)} must be refused`);
    assert.equal(hostDirectory(dir, host), undefined);
  }
  for (const host of ["web1.example.net", "a.b.c.d.example.co.uk", "x".repeat(255), "host-1_2", "é.example"]) {
    assert.equal(hostDirectoryProblem(host), undefined, host);
    assert.equal(hostDirectory(dir, host), join(dir, host));
  }
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log: capture().log });
  await assert.rejects(sink.write("../escape", [enc("x")]), /unsafe host name/);
  await sink.close();
  assert.equal(existsSync(join(dir, "..", "escape")), false);
}));

test("collector file sink - a host directory removed while running is made again on the next open", withDir(async (dir) => {
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log: capture().log, maxOpenFiles: 1 });
  await sink.write("a", [enc("1")]);
  await sink.write("b", [enc("1")]); // closes a's file (bound of 1)
  rmSync(join(dir, "a"), { recursive: true });
  await sink.write("a", [enc("2")]);
  await sink.close();
  const [name] = readdirSync(join(dir, "a"));
  assert.equal(readFileSync(join(dir, "a", name!), "utf8"), "2\n");
}));

/** A file system whose appends and fsyncs wait at gates the test opens, recording what happened in order. */
function gatedFs() {
  const events: string[] = [];
  const gates = { append: undefined as Promise<void> | undefined, sync: undefined as Promise<void> | undefined };
  let failSyncs = 0;
  const fs: SinkFileSystem = {
    ...nodeSinkFileSystem,
    async openAppend(path, mode) {
      const file = await nodeSinkFileSystem.openAppend(path, mode);
      const name = path.split("/").at(-2)!;
      return {
        sizeAtOpen: file.sizeAtOpen,
        async append(data) {
          events.push(`append ${name} start`);
          await gates.append;
          await file.append(data);
          events.push(`append ${name} end`);
        },
        async sync() {
          events.push(`sync ${name} start`);
          await gates.sync;
          if (failSyncs > 0) {
            failSyncs--;
            events.push(`sync ${name} failed`);
            throw new Error("EIO: i/o error, fsync");
          }
          await file.sync();
          events.push(`sync ${name} end`);
        },
        truncate: (length) => file.truncate(length),
        async close() {
          events.push(`close ${name}`);
          await file.close();
        },
      };
    },
  };
  return { fs, events, gates, failNextSyncs: (n: number) => (failSyncs = n) };
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

test("collector file sink - a flush waits for the writes queued before it, and its fsync does not hold later writes back", withDir(async (dir) => {
  const g = gatedFs();
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log: capture().log, fs: g.fs });
  const appendGate = gate();
  g.gates.append = appendGate.wait;
  const first = sink.write("h1", [enc("a")]);
  const flushed = sink.flush(["h1"]);
  await tick();
  assert.ok(!g.events.includes("sync h1 start"), "the fsync waits for the write queued before the flush");
  const syncGate = gate();
  g.gates.sync = syncGate.wait;
  appendGate.open();
  g.gates.append = undefined;
  await first;
  await tick();
  assert.ok(g.events.includes("sync h1 start"));
  // The fsync is held at its gate: a later write to the same file goes on meanwhile.
  await sink.write("h1", [enc("b")]);
  assert.ok(!g.events.includes("sync h1 end"));
  syncGate.open();
  await flushed;
  // "b" came after the flush started: still dirty, so the next flush syncs again.
  const syncs = () => g.events.filter((e) => e === "sync h1 start").length;
  await sink.flush(["h1"]);
  assert.equal(syncs(), 2);
  await sink.flush(["h1"]);
  assert.equal(syncs(), 2, "nothing new written: no fsync");
  await sink.close();
  const [name] = readdirSync(join(dir, "h1"));
  assert.equal(readFileSync(join(dir, "h1", name!), "utf8"), "a\nb\n");
}));

test("collector file sink - a failed fsync rejects the flush and leaves the file dirty for the retry", withDir(async (dir) => {
  const g = gatedFs();
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log: capture().log, fs: g.fs });
  await sink.write("h1", [enc("a")]);
  g.failNextSyncs(1);
  await assert.rejects(sink.flush(["h1"]), /EIO/);
  await sink.flush(["h1"]);
  assert.deepEqual(g.events.filter((e) => e.startsWith("sync")), ["sync h1 start", "sync h1 failed", "sync h1 start", "sync h1 end"]);
  await sink.close();
}));

test("collector file sink - a file closed while its fsync runs (least recently used, stop) is closed only after the fsync ends", withDir(async (dir) => {
  const g = gatedFs();
  const sink = new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log: capture().log, fs: g.fs, maxOpenFiles: 1 });
  await sink.write("h1", [enc("a")]);
  const syncGate = gate();
  g.gates.sync = syncGate.wait;
  const flushed = sink.flush(["h1"]);
  await tick();
  // h2 needs h1's place: h1 is closed, but only once its fsync is done.
  const second = sink.write("h2", [enc("b")]);
  await tick();
  assert.ok(!g.events.includes("close h1"), "the fd is not closed under a running fsync");
  syncGate.open();
  g.gates.sync = undefined;
  await flushed;
  await second;
  const at = (e: string) => g.events.indexOf(e);
  assert.ok(at("sync h1 end") >= 0 && at("sync h1 end") < at("close h1"), g.events.join(", "));
  assert.equal(g.events.filter((e) => e === "sync h1 start").length, 1, "synced once: the close finds it clean");
  // Stopping while a flush syncs: close waits for it too.
  const stopGate = gate();
  g.gates.sync = stopGate.wait;
  const flushing = sink.flush(["h2"]);
  await tick();
  const closing = sink.close();
  await tick();
  assert.ok(!g.events.includes("close h2"));
  stopGate.open();
  await Promise.all([flushing, closing]);
  assert.ok(at("sync h2 end") < at("close h2"), g.events.join(", "));
}));

test("collector file sink - a new host's directory is made and its file opened without a stat or a listing; an existing one is listed for old logs", withDir(async (dir) => {
  const calls: string[] = [];
  const fs: SinkFileSystem = {
    ...nodeSinkFileSystem,
    async openAppend(path, mode, fresh) {
      calls.push(`open ${fresh ? "fresh" : "existing"}`);
      return nodeSinkFileSystem.openAppend(path, mode, fresh);
    },
    async list(d) {
      calls.push("list");
      return nodeSinkFileSystem.list(d);
    },
  };
  const output = parseOutputPattern("SHIPPER_OUTPUT", "out");
  const name = output.fileNameFor(new Date());
  mkdirSync(join(dir, "old-host"));
  writeFileSync(join(dir, "old-host", name), "kept\n");
  const sink = new FileSink({ directory: dir, output, log: capture().log, fs });
  await sink.write("new-host", [enc("a")]);
  assert.deepEqual(calls, ["open fresh"]);
  calls.length = 0;
  assert.deepEqual(await sink.position("old-host"), { path: join(dir, "old-host", name), size: 5 });
  await sink.write("old-host", [enc("b")]);
  assert.deepEqual(calls, ["open existing", "list"]);
  await sink.close();
  assert.equal(readFileSync(join(dir, "new-host", name), "utf8"), "a\n");
  assert.equal(readFileSync(join(dir, "old-host", name), "utf8"), "kept\nb\n");
}));

test("collector file sink - a file thought new but there after all is opened the ordinary way, with its size", withDir(async (dir) => {
  const path = join(dir, "f");
  writeFileSync(path, "12345");
  const file = await nodeSinkFileSystem.openAppend(path, 0o644, true);
  assert.equal(file.sizeAtOpen, 5);
  await file.append(enc("6"));
  await file.close();
  assert.equal(readFileSync(path, "utf8"), "123456");
}));

test("collector file sink - with a journal (syncOnEvict false): evicted files are not fsynced at close, but by the next flush, a bounded number at once", withDir(async (dir) => {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const fs: SinkFileSystem = {
    ...nodeSinkFileSystem,
    async openAppend(path, mode, fresh) {
      const file = await nodeSinkFileSystem.openAppend(path, mode, fresh);
      return { ...file, sizeAtOpen: file.sizeAtOpen, append: (d) => file.append(d), truncate: (n) => file.truncate(n), close: () => file.close(), sync: async () => {
        events.push("fsync open");
        await file.sync();
      } };
    },
    async syncPath(path) {
      running++;
      most = Math.max(most, running);
      events.push("fsync closed");
      await new Promise((r) => setTimeout(r, 2));
      await nodeSinkFileSystem.syncPath(path);
      running--;
    },
  };
  const output = parseOutputPattern("SHIPPER_OUTPUT", "out");
  const sink = new FileSink({ directory: dir, output, log: capture().log, fs, maxOpenFiles: 2, syncOnEvict: false });
  const hosts = Array.from({ length: 60 }, (_, i) => `h${i}`);
  for (const host of hosts) await sink.write(host, [enc(host)]);
  assert.deepEqual(events, [], "no fsync when the bound closes a file");
  await sink.flush(hosts);
  assert.equal(events.filter((e) => e === "fsync closed").length, 58);
  assert.equal(events.filter((e) => e === "fsync open").length, 2);
  assert.ok(most <= 16 && most > 1, `at most 16 fsyncs at once (${most})`);
  events.length = 0;
  await sink.flush(hosts);
  assert.deepEqual(events, [], "clean files are not fsynced again");
  await sink.write("h0", [enc("again")]);
  await sink.close();
  assert.deepEqual(events, ["fsync open"], "close fsyncs what is dirty");
  assert.equal(readFileSync(join(dir, "h0", output.fileNameFor(new Date())), "utf8"), "h0\nagain\n");
}));
