import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { BatchWriter } from "../src/collector/batch-writer.js";
import { newCounters } from "../src/collector/counters.js";
import type { LineSink } from "../src/collector/line-sink.js";
import type { MessageBatch, ReadMessage } from "../src/collector/partition-reader.js";
import { Quarantine } from "../src/collector/quarantine.js";
import { SubjectParser } from "../src/protocol/subjects.js";
import { FileSink } from "../src/collector/file-sink.js";
import { diskFullOnce } from "../src/testkit/disk-full-once.js";
import { parseOutputPattern } from "../src/config/output-pattern.js";

const log = pino({ level: "silent" });

/** A sink that records writes and fails the first `failures` calls of write (like a full disk). */
class FlakySink implements LineSink {
  readonly written: string[] = [];
  calls = 0;
  constructor(private failures: number) {}
  async write(host: string, lines: readonly Uint8Array[]): Promise<number> {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error("ENOSPC: no space left on device");
    }
    for (const l of lines) this.written.push(`${host}: ${Buffer.from(l).toString()}`);
    return lines.length;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function batch(messages: ReadMessage[], fresh = false): MessageBatch & { workingCalls: number } {
  const b = { messages, fresh, workingCalls: 0, ack: async () => undefined, working: () => void b.workingCalls++ };
  return b;
}

const msg = (host: string, text: string, sequence: number, deliveries = 1): ReadMessage => ({
  subject: `logs.p0.${host}`,
  data: Buffer.from(text),
  stream: "LOGS_0",
  sequence,
  deliveries,
});

/** A batch writer without state on `sink`, quarantining into `dir`, retrying quickly. */
function writerOf(sink: LineSink, dir: string) {
  const counters = newCounters();
  const writer = new BatchWriter({
    sink,
    quarantine: new Quarantine({ directory: dir, log, fsync: false }),
    parser: new SubjectParser("logs"),
    counters,
    log,
    source: "test",
    retry: { firstMs: 5, maxMs: 20 },
  });
  return { counters, writer };
}

function setUp(failures: number) {
  const dir = mkdtempSync(join(tmpdir(), "shipper-writer-"));
  const sink = new FlakySink(failures);
  const { counters, writer } = writerOf(sink, dir);
  return { dir, sink, counters, writer };
}

test("collector batch writer - a failing write is retried in place, in order, reporting progress, and counted", async () => {
  const { dir, sink, counters, writer } = setUp(3);
  try {
    const b = batch([msg("a", "1", 1), msg("b", "x", 2), msg("a", "2", 3)]);
    assert.equal(await writer.write(b, new AbortController().signal), true);
    // Hosts are written side by side: the order holds within each host's file.
    assert.deepEqual(sink.written.filter((l) => l.startsWith("a:")), ["a: 1", "a: 2"]);
    assert.deepEqual(sink.written.filter((l) => l.startsWith("b:")), ["b: x"]);
    assert.equal(sink.written.length, 3);
    assert.equal(counters.writeErrors, 3);
    assert.equal(counters.linesWritten, 3);
    assert.equal(b.workingCalls, 3, "the server hears the batch is in progress on every retry");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - a write made at once that fails is retried like any other, once in the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shipper-writer-"));
  try {
    const disk = diskFullOnce(2); // part of a line, then the disk is full
    const out = join(dir, "out");
    const sink = new FileSink({ directory: out, output: parseOutputPattern("SHIPPER_OUTPUT", "out"), log, fs: disk.fs, fsync: false });
    const { counters, writer } = writerOf(sink, dir);
    const signal = new AbortController().signal;
    assert.equal(await writer.write(batch([msg("a", "a1", 1), msg("b", "b1", 2)]), signal), true); // opens both files
    const before = disk.appendsNow;
    disk.failNext = true;
    const second = batch([msg("a", "a2", 3), msg("b", "b2", 4), msg("a", "a3", 5)]);
    assert.equal(await writer.write(second, signal), true);
    assert.ok(disk.appendsNow - before >= 2, "both hosts' files were open: their writes were made at once");
    assert.equal(counters.writeErrors, 1, "the failed attempt is counted");
    assert.equal(second.workingCalls, 1, "and the server hears the batch is in progress");
    await sink.close();
    const read = (host: string) => readFileSync(join(out, host, readdirSync(join(out, host))[0]!), "utf8");
    assert.equal(read("a"), "a1\na2\na3\n");
    assert.equal(read("b"), "b1\nb2\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - stopping during a retry leaves the batch unwritten and unacknowledged", async () => {
  const { dir, sink, writer } = setUp(1_000_000);
  try {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    assert.equal(await writer.write(batch([msg("a", "1", 1)]), stop.signal), false);
    assert.deepEqual(sink.written, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - a line at or below the written mark is skipped (redelivered, or sent again after a server crash) unless the source started again", async () => {
  const { dir, sink, counters, writer } = setUp(0);
  try {
    const signal = new AbortController().signal;
    await writer.write(batch([msg("a", "1", 1), msg("a", "2", 2), msg("a", "3", 3)]), signal);
    await writer.write(batch([msg("a", "2", 2, 1), msg("a", "3", 3, 1), msg("a", "4", 4)]), signal); // state rolled back
    await writer.write(batch([msg("a", "new 1", 1), msg("a", "new 2", 2)], true), signal); // stream recreated
    assert.deepEqual(sink.written, ["a: 1", "a: 2", "a: 3", "a: 4", "a: new 1", "a: new 2"]);
    assert.equal(counters.duplicatesSkipped, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - a redelivery in the same batch as later lines (its ack wait ran out while they came) is skipped too", async () => {
  const { dir, sink, counters, writer } = setUp(0);
  try {
    const signal = new AbortController().signal;
    await writer.write(batch([msg("a", "1", 1), msg("a", "2", 2)]), signal);
    // 3 and 4 were delivered, lost to a gap and read from the stream ahead of 5 and 6; their
    // redeliveries come after 5 and 6, in the same batch.
    await writer.write(batch([msg("a", "3", 3), msg("a", "4", 4), msg("a", "5", 5), msg("a", "6", 6), msg("a", "3", 3, 2), msg("a", "4", 4, 2)]), signal);
    await writer.write(batch([msg("a", "7", 7)]), signal);
    assert.deepEqual(sink.written, ["a: 1", "a: 2", "a: 3", "a: 4", "a: 5", "a: 6", "a: 7"]);
    assert.equal(counters.duplicatesSkipped, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - a redelivered line already written is skipped; unsafe hosts and bad subjects go to quarantine", async () => {
  const { dir, sink, counters, writer } = setUp(0);
  try {
    const signal = new AbortController().signal;
    await writer.write(batch([msg("a", "1", 1), msg("a", "2", 2)]), signal);
    await writer.write(batch([msg("a", "2", 2, 2), msg("a", "3", 3), msg("/etc", "evil", 4), { ...msg("a", "junk", 5), subject: "other.a" }]), signal);
    assert.deepEqual(sink.written, ["a: 1", "a: 2", "a: 3"]);
    assert.equal(counters.duplicatesSkipped, 1);
    assert.equal(counters.quarantined, 1);
    assert.equal(counters.unparsable, 1);
    const [file] = readdirSync(join(dir, ".quarantine"));
    const records = readFileSync(join(dir, ".quarantine", file!), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(records.map((r) => [r.host, r.line, r.sequence]), [["/etc", "evil", 4], [null, "junk", 5]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("collector batch writer - the parts of a split line kept for a later batch survive the reader reusing a written batch's bytes", async () => {
  const { dir, sink, writer } = setUp(0);
  try {
    // A reader that reuses memory (arrived-lines.ts): once a batch is written, its bytes are overwritten.
    const reusing = (messages: ReadMessage[]): MessageBatch => {
      const b = batch(messages);
      return { ...b, written: () => messages.forEach((m) => (m.data as Buffer).fill("#")) };
    };
    const part = (text: string, sequence: number, k: number): ReadMessage => ({ ...msg("a", text, sequence), msgId: `a:1:2:0000abcd:0:20:p${k}`, part: `${k}/3` });
    const signal = new AbortController().signal;
    assert.equal(await writer.write(reusing([msg("a", "before", 1), part("AAAA", 2, 1)]), signal), true);
    assert.equal(await writer.write(reusing([part("BBBB", 3, 2)]), signal), true);
    assert.equal(await writer.write(reusing([part("CC", 4, 3), msg("a", "after", 5)]), signal), true);
    assert.deepEqual(sink.written, ["a: before", "a: AAAABBBBCC", "a: after"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
