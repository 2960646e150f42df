// The partition journal (partition-journal.ts) and its replay at start (journal-replay.ts): records
// round-trip; a record cut anywhere, damaged, out of turn or of an older checkpoint is never read as
// good; replay puts back bytes a power loss took from the host files, and leaves intact files as
// they were.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { decodeRecords, encodeRecord, PartitionJournal, type JournalEntry } from "../src/collector/partition-journal.js";
import { replayJournal } from "../src/collector/journal-replay.js";
import type { PartitionStateData } from "../src/collector/partition-state.js";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { plain } from "../src/testkit/plain.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";
import { BatchWriter } from "../src/collector/batch-writer.js";
import { newCounters } from "../src/collector/counters.js";
import { FileSink } from "../src/collector/file-sink.js";
import { PartitionStateFile } from "../src/collector/partition-state.js";
import type { MessageBatch } from "../src/collector/partition-reader.js";
import { Quarantine } from "../src/collector/quarantine.js";
import { parseOutputPattern } from "../src/config/output-pattern.js";
import { SubjectParser } from "../src/protocol/subjects.js";
import { nodeSinkFileSystem, type SinkFileSystem } from "../src/collector/sink-fs.js";

const enc = (s: string) => Buffer.from(s, "utf8");

function entry(sequence: number, hosts: [string, string, number, string][]): { entry: JournalEntry; data: Buffer[] } {
  return {
    entry: { stream: "LOGS_0", streamCreated: "2026-11-27T00:00:00Z", sequence, hosts: hosts.map(([host, path, size, text]) => ({ host, path, size, origins: { o1: size }, length: Buffer.byteLength(text) })) },
    data: hosts.map(([, , , text]) => enc(text)),
  };
}

const joined = (buffers: readonly Uint8Array[]) => Buffer.concat(buffers);

test("collector journal - records round-trip, and only records of the current base, in turn, are read", () => {
  const a = entry(10, [["h1", "/o/h1/f", 6, "a\nbb\n"], ["h2", "/o/h2/f", 2, "c\n"]]);
  const b = entry(12, [["h1", "/o/h1/f", 8, "d\n"], ["h3", "/o/h3/f", 0, ""]]);
  const bytes = joined([...encodeRecord(7, 0, a.entry, a.data), ...encodeRecord(7, 1, b.entry, b.data)]);
  const got = decodeRecords(bytes, 7);
  assert.equal(got.records.length, 2);
  assert.equal(got.tornBytes, 0);
  assert.deepEqual(got.records[0]!.hosts, a.entry.hosts);
  assert.deepEqual(got.records[0]!.data.map((d) => d.toString()), ["a\nbb\n", "c\n"]);
  assert.equal(got.records[1]!.sequence, 12);
  assert.deepEqual(got.records[1]!.data.map((d) => d.toString()), ["d\n", ""]);
  // Records of an older base were covered by a checkpoint; a newer base cannot be there.
  assert.deepEqual({ ...decodeRecords(bytes, 8), records: [] }, { records: [], stale: 2, tornBytes: 0 });
  assert.equal(decodeRecords(bytes, 6).records.length, 0);
  assert.equal(decodeRecords(bytes, 6).tornBytes, bytes.length);
  // Out of turn (a record left over from a failed append): reading stops there.
  const skipped = joined([...encodeRecord(7, 0, a.entry, a.data), ...encodeRecord(7, 2, b.entry, b.data)]);
  assert.equal(decodeRecords(skipped, 7).records.length, 1);
});

test("collector journal - a record cut at any byte, or with any byte changed, is not read", () => {
  const a = entry(1, [["h1", "/o/h1/f", 3, "ab\n"]]);
  const b = entry(2, [["h1", "/o/h1/f", 7, "cde\n"], ["h2", "/o/h2/f", 2, "x\n"]]);
  const first = joined(encodeRecord(0, 0, a.entry, a.data));
  const bytes = joined([first, ...encodeRecord(0, 1, b.entry, b.data)]);
  for (let cut = first.length; cut < bytes.length; cut++) {
    const got = decodeRecords(bytes.subarray(0, cut), 0);
    assert.equal(got.records.length, 1, `cut at ${cut}`);
    assert.equal(got.tornBytes, cut - first.length);
  }
  for (let at = first.length; at < bytes.length; at++) {
    const damaged = Buffer.from(bytes);
    damaged[at] = damaged[at]! ^ 0x20;
    assert.equal(decodeRecords(damaged, 0).records.length, 1, `byte ${at} changed`);
  }
});

test("collector journal - appends are read back; a checkpoint empties it and later records follow the new save", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const journal = new PartitionJournal(dir, 3);
    await journal.start(5);
    const a = entry(1, [["h1", join(dir, "h1"), 2, "a\n"]]);
    await journal.append(a.entry, a.data);
    await journal.append(entry(2, []).entry, []);
    assert.equal(journal.length, 2);
    const read = await journal.read(5);
    assert.equal(read.records.length, 2);
    assert.equal(read.bytes, journal.size);
    let saved = false;
    await journal.checkpoint(async () => {
      saved = true;
      return 6;
    });
    assert.ok(saved);
    assert.equal(statSync(journal.path).size, 0);
    const b = entry(3, [["h1", join(dir, "h1"), 4, "b\n"]]);
    await journal.append(b.entry, b.data);
    assert.equal((await journal.read(6)).records.length, 1);
    assert.equal((await journal.read(5)).records.length, 0);
    await journal.close();
  }));

/** Holds every fdatasync of a FileHandle until released (the file system's own, under it). */
async function heldDatasyncs(dir: string): Promise<{ calls: () => number; release: () => void; restore: () => void }> {
  const probe = await open(join(dir, "probe"), "w");
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const real = proto.datasync;
  let calls = 0;
  const newGate = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  let gate = newGate();
  proto.datasync = async function (this: unknown) {
    calls++;
    await gate.promise;
    return real.call(this);
  };
  return {
    calls: () => calls,
    release: () => {
      gate.resolve();
      gate = newGate();
    },
    restore: () => {
      proto.datasync = real;
      gate.resolve();
    },
  };
}

/** Resolves with "pending" when `p` has not settled within a few event-loop turns' time. */
const settledSoon = (p: Promise<unknown>) => Promise.race([p.then(() => "settled"), new Promise((r) => setTimeout(() => r("pending"), 100))]);

test("collector journal - an append is not held by an fdatasync under way; a checkpoint waits for it, and records after a checkpoint are fdatasynced again", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const journal = new PartitionJournal(dir, 0);
    await journal.start(1); // its own truncate and fdatasync, before the gate
    const held = await heldDatasyncs(dir);
    try {
      const a = entry(1, [["h1", join(dir, "h1"), 2, "a\n"]]);
      await journal.append(a.entry, a.data);
      const syncA = journal.sync();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(held.calls(), 1, "the sync is under way");
      const b = entry(2, [["h1", join(dir, "h1"), 4, "b\n"]]);
      assert.equal(await settledSoon(journal.append(b.entry, b.data)), "settled", "the next batch's record is appended while the one before is fdatasynced");
      const checkpoint = journal.checkpoint(async () => 2);
      const syncAfter = journal.sync(); // follows the checkpoint: waiting for it there would never end
      assert.equal(await settledSoon(checkpoint), "pending", "the checkpoint waits for the sync under way");
      held.release(); // syncA ends; the checkpoint empties the journal (its own fdatasync held next)
      await syncA;
      for (let i = 0; i < 20 && (await settledSoon(checkpoint)) === "pending"; i++) held.release();
      await checkpoint;
      held.release();
      await syncAfter;
      assert.equal(statSync(journal.path).size, 0);
      // A record the size of the ones before the checkpoint still needs its own fdatasync.
      const before = held.calls();
      const c = entry(3, [["h1", join(dir, "h1"), 6, "c\n"]]);
      await journal.append(c.entry, c.data);
      const syncC = journal.sync();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(held.calls(), before + 1, "fdatasynced again");
      held.release();
      await syncC;
      const read = await journal.read(2);
      assert.deepEqual(read.records.map((r) => r.sequence), [3]);
    } finally {
      held.restore();
      await journal.close();
    }
  }));

test("collector journal - replay puts back what a power loss took, leaves intact files alone, and builds the state", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const { log, text } = memoryLogger();
    const p1 = join(dir, "h1", "log");
    const p2 = join(dir, "h2", "log");
    mkdirSync(join(dir, "h1"));
    writeFileSync(p1, "old\n"); // synced at the last checkpoint: 4 bytes
    const state: PartitionStateData = { version: 2, stream: "LOGS_0", streamCreated: "c", sequence: 40, hosts: { h1: { path: p1, size: 4, origins: { o1: 4 } } } };
    const r1 = entry(41, [["h1", p1, 8, "one\n"], ["h2", p2, 4, "uno\n"]]);
    const r2 = entry(43, [["h1", p1, 12, "two\n"]]);
    const records = decodeRecords(joined([...encodeRecord(9, 0, r1.entry, r1.data), ...encodeRecord(9, 1, r2.entry, r2.data)]), 9).records;
    // The power loss: h1 lost its last write, h2's new file is gone with its directory.
    writeFileSync(p1, "old\none\n");
    const out = await replayJournal(state, records, log, "partition 0");
    assert.ok(out);
    assert.equal(readFileSync(p1, "utf8"), "old\none\ntwo\n");
    assert.equal(readFileSync(p2, "utf8"), "uno\n");
    assert.equal(out.data.sequence, 43);
    assert.deepEqual(plain(out.data.hosts.h1), { path: p1, size: 12, origins: { o1: 12 } });
    assert.deepEqual(plain(out.data.hosts.h2), { path: p2, size: 4, origins: { o1: 4 } });
    assert.equal(state.hosts.h1!.size, 4, "the state passed in is not changed");
    // Replaying again (a crash during the first replay) changes nothing.
    await replayJournal(state, records, log, "partition 0");
    assert.equal(readFileSync(p1, "utf8"), "old\none\ntwo\n");
    assert.doesNotMatch(text(), /"level":40/, "no warning");
  }));

test("collector journal - replay: a file cut by someone else gets its bytes after what is left; an old day's removed file is not made again", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const { log, text } = memoryLogger();
    const old = join(dir, "h1", "day1");
    const now = join(dir, "h1", "day2");
    const p2 = join(dir, "h2", "log");
    mkdirSync(join(dir, "h1"));
    mkdirSync(join(dir, "h2"));
    writeFileSync(p2, "0123456789\n"); // the journal builds on 11 bytes
    truncateSync(p2, 5); // someone cut it
    const p3 = join(dir, "h3", "log"); // removed by hand, with the 6 bytes before the journal's
    const r1 = entry(5, [["h1", old, 4, "abc\n"], ["h2", p2, 15, "xyz\n"], ["h3", p3, 10, "four\n"]]);
    const r2 = entry(6, [["h1", now, 4, "def\n"]]);
    const records = decodeRecords(joined([...encodeRecord(0, 0, r1.entry, r1.data), ...encodeRecord(0, 1, r2.entry, r2.data)]), 0).records;
    const out = await replayJournal(undefined, records, log, "partition 2");
    assert.ok(out);
    assert.equal(existsSync(old), false, "yesterday's removed file stays removed");
    assert.equal(readFileSync(now, "utf8"), "def\n");
    assert.equal(readFileSync(p2, "utf8"), "01234xyz\n");
    assert.equal(out.data.hosts.h2!.size, 9, "the mark follows the shift");
    assert.equal(readFileSync(p3, "utf8"), "four\n", "a gone file is made again without a hole");
    assert.equal(out.data.hosts.h3!.size, 5);
    assert.equal(out.data.stream, "LOGS_0");
    const warnings = text();
    assert.match(warnings, /day1\\" is gone/);
    assert.match(warnings, /shorter \(5 bytes\) but the journal builds on 11 bytes/);
    assert.match(warnings, /h3\/log\\" is gone but the journal builds on 5 bytes/);
  }));

test("collector journal - no records: nothing to replay", async () => {
  assert.equal(await replayJournal(undefined, [], memoryLogger().log, "partition 0"), undefined);
});

/** A batch writer with a real file sink, state file and journal, on partition 0 of `dir`. */
async function journaledWriter(dir: string, journal: PartitionJournal, opts: { fs?: SinkFileSystem; checkpointBytes?: number; checkpointMs?: number } = {}) {
  const { log } = memoryLogger();
  const file = new PartitionStateFile(dir, 0, log);
  await journal.start(file.saveCounter);
  const acked: number[] = [];
  const writer = new BatchWriter({
    ...(opts.checkpointBytes ? { checkpointBytes: opts.checkpointBytes } : {}),
    ...(opts.checkpointMs ? { checkpointMs: opts.checkpointMs } : {}),
    sink: new FileSink({ directory: dir, output: parseOutputPattern("SHIPPER_OUTPUT", "log"), log, syncOnEvict: false, ...(opts.fs ? { fs: opts.fs } : {}) }),
    quarantine: new Quarantine({ directory: dir, log, fsync: false }),
    parser: new SubjectParser("logs"),
    counters: newCounters(),
    log,
    source: "test",
    retry: { firstMs: 5, maxMs: 20 },
    state: { file, journal },
  });
  const batch = (first: number, texts: string[]): MessageBatch => ({
    messages: texts.map((text, i) => ({ subject: `logs.p0.${i % 2 ? "b" : "a"}`, data: enc(text), stream: "LOGS_0", sequence: first + i, deliveries: 1 })),
    ack: async () => void acked.push(first),
    working: () => undefined,
  });
  return { writer, file, batch, acked };
}

test("collector journal - with a journal, each batch's record is durable before its acknowledgement, and a clean stop checkpoints", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const journal = new PartitionJournal(dir, 0);
    const { writer, file, batch, acked } = await journaledWriter(dir, journal);
    const signal = new AbortController().signal;
    assert.equal(await writer.write(batch(1, ["a1", "b1", "a2"]), signal), true);
    assert.equal(await writer.write(batch(4, ["a3", "b2"]), signal), true);
    assert.deepEqual(acked, [1, 4]);
    const held = await journal.read(file.saveCounter);
    assert.equal(held.records.length >= 2, true, "the batches' records (and the new files') are in the journal");
    const last = held.records.at(-1)!;
    assert.equal(last.sequence, 5);
    assert.deepEqual(last.data.map((d) => d.toString()).sort(), ["a3\n", "b2\n"]);
    assert.equal(await writer.close(), true);
    assert.equal(statSync(journal.path).size, 0, "a clean stop leaves the journal empty");
    const saved = await new PartitionStateFile(dir, 0).load();
    assert.equal(saved?.sequence, 5);
    assert.equal(saved?.hosts.a?.size, "a1\na2\na3\n".length);
    await journal.close();
  }));

test("collector journal - a failed fdatasync of the journal stops the writer without acknowledging (never retried)", { timeout: 10_000 }, () =>
  inTempDir("shipper-journal-", async (dir) => {
    let syncs = 0;
    class FailingJournal extends PartitionJournal {
      override sync(): Promise<void> {
        syncs++;
        return Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
      }
    }
    const journal = new FailingJournal(dir, 0);
    const { writer, batch, acked } = await journaledWriter(dir, journal);
    await assert.rejects(writer.write(batch(1, ["a1"]), new AbortController().signal), /could not be made durable \(EIO: i\/o error, fdatasync\)/);
    assert.deepEqual(acked, []);
    assert.equal(syncs, 1);
    await journal.close();
  }));

test("collector journal - a checkpoint whose fsync fails stops the writer (never retried) and leaves the journal whole for the restart", { timeout: 10_000 }, () =>
  inTempDir("shipper-journal-", async (dir) => {
    let syncs = 0;
    const fs: SinkFileSystem = {
      ...nodeSinkFileSystem,
      async openAppend(path, mode, fresh) {
        const file = await nodeSinkFileSystem.openAppend(path, mode, fresh);
        return { sizeAtOpen: file.sizeAtOpen, append: (d) => file.append(d), truncate: (n) => file.truncate(n), close: () => file.close(), sync: async () => {
          syncs++;
          throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
        } };
      },
    };
    const journal = new PartitionJournal(dir, 0);
    const { writer, file, batch, acked } = await journaledWriter(dir, journal, { fs, checkpointBytes: 1 });
    await assert.rejects(writer.write(batch(1, ["a1", "b1"]), new AbortController().signal), /checkpointing .* failed \(fsync of the host files or the state save: EIO/);
    assert.deepEqual(acked, [1], "the batch's record was durable, so it was acknowledged before the checkpoint");
    assert.equal(syncs, 2, "one fsync attempt for each of the two files, not retried");
    assert.equal((await journal.read(file.saveCounter)).records.length >= 1, true, "the journal still holds the batch");
    await journal.close();
  }));

test("collector journal - a partition gone quiet is checkpointed after the checkpoint interval", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const journal = new PartitionJournal(dir, 0);
    const { writer, batch } = await journaledWriter(dir, journal, { checkpointMs: 100 });
    assert.equal(await writer.write(batch(1, ["a1", "b1"]), new AbortController().signal), true);
    assert.ok(statSync(journal.path).size > 0, "the batch's record waits in the journal");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(statSync(journal.path).size, 0, "checkpointed while idle");
    const saved = await new PartitionStateFile(dir, 0).load();
    assert.equal(saved?.sequence, 2);
    assert.equal(saved?.hosts.a?.size, 3);
    writer.dispose();
    await journal.close();
  }));

test("collector journal - hosts named like Object's own properties (__proto__, constructor) are hosts like any other", () =>
  inTempDir("shipper-journal-", async (dir) => {
    const hosts = ["__proto__", "constructor", "hasOwnProperty", "toString"];
    const batchOf = (first: number, round: number): MessageBatch => ({
      // Agents' ids: an origin token per host, and the offset where each line starts.
      messages: hosts.map((host, i) => ({ subject: `logs.p0.${host}`, data: enc(`${host} ${round}`), stream: "LOGS_0", sequence: first + i, deliveries: 1, msgId: `__proto__${String(i).padStart(3, "0")}:${(round * 100).toString(36)}` })),
      ack: async () => undefined,
      working: () => undefined,
    });
    for (const round of [1, 2]) {
      // Twice: the second run starts from the state the first saved.
      const journal = new PartitionJournal(dir, 0);
      const { writer } = await journaledWriter(dir, journal);
      const signal = new AbortController().signal;
      assert.equal(await writer.write(batchOf(round * 10, round), signal), true);
      assert.equal(await writer.close(), true);
      await journal.close();
    }
    assert.equal(({} as Record<string, unknown>).origins, undefined, "nothing leaked into Object.prototype");
    const saved = await new PartitionStateFile(dir, 0).load();
    assert.ok(saved);
    for (const host of hosts) {
      const text = `${host} 1\n${host} 2\n`;
      const [name] = readdirSync(join(dir, host));
      assert.equal(readFileSync(join(dir, host, name!), "utf8"), text);
      assert.ok(Object.hasOwn(saved.hosts, host), `${host} has its own mark`);
      assert.equal(saved.hosts[host]!.size, text.length, host);
    }
  }));
