import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { pino } from "pino";
import { BatchWriter } from "../src/collector/batch-writer.js";
import { newCounters } from "../src/collector/counters.js";
import { FileSink } from "../src/collector/file-sink.js";
import type { LineSink } from "../src/collector/line-sink.js";
import type { MessageBatch, ReadMessage } from "../src/collector/partition-reader.js";
import { cutBackUnsavedWrites, PartitionStateFile } from "../src/collector/partition-state.js";
import { Quarantine } from "../src/collector/quarantine.js";
import { parseOutputPattern } from "../src/config/output-pattern.js";
import { parseMsgId } from "../src/protocol/msg-id.js";
import { SubjectParser } from "../src/protocol/subjects.js";
import type { StreamSource } from "../src/collector/stream-gap.js";
import { plain } from "../src/testkit/plain.js";

const log = pino({ level: "silent" });

/** Wraps the real file sink; every flush waits for the test to let it go (or fail it). */
class GatedSink implements LineSink {
  readonly gates: { open: () => void; fail: (err: Error) => void }[] = [];
  private waiters: (() => void)[] = [];
  private failing?: Error;
  constructor(readonly inner: FileSink) {}
  write(host: string, lines: readonly Uint8Array[]): Promise<number> {
    return this.inner.write(host, lines);
  }
  position(host: string): Promise<{ path: string; size: number }> {
    return this.inner.position(host);
  }
  flush(hosts?: Iterable<string>): Promise<void> {
    if (this.failing) return Promise.reject(this.failing);
    return new Promise<void>((resolve, reject) => {
      this.gates.push({ open: () => void this.inner.flush(hosts).then(resolve, reject), fail: reject });
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Fails every flush from now on, and the ones waiting (a disk that stays full). */
  failAll(err: Error): void {
    this.failing = err;
    for (const gate of this.gates) gate.fail(err);
  }
  /** The n-th flush (1-based), once asked for. */
  async gate(n: number) {
    while (this.gates.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.gates[n - 1]!;
  }
}

const acks: number[] = [];
function batch(id: number, messages: ReadMessage[]): MessageBatch {
  return { messages, ack: async () => void acks.push(id), working: () => undefined };
}

const msg = (text: string, sequence: number): ReadMessage => ({
  subject: "logs.p0.web1",
  data: Buffer.from(text),
  stream: "LOGS_0",
  sequence,
  deliveries: 1,
  msgId: `web1:1:2:0000abcd:0:${sequence * 100}`,
});

function setUp(dir: string, maxWaitingLines: number, streamSource?: StreamSource) {
  acks.length = 0; // each writer starts a fresh record of acknowledgements
  const out = join(dir, "out");
  const sink = new GatedSink(new FileSink({ directory: out, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log }));
  const counters = newCounters();
  const file = new PartitionStateFile(out, 0);
  const writer = new BatchWriter({
    sink,
    quarantine: new Quarantine({ directory: out, log, fsync: false }),
    parser: new SubjectParser("logs"),
    counters,
    log,
    source: "test",
    retry: { firstMs: 5, maxMs: 20 },
    state: { file },
    maxWaitingLines,
    streamSource,
  });
  return { out, sink, counters, writer, logfile: () => hostFile(out) };
}

/** The one file of host web1 (SHIPPER_OUTPUT "logfile" gets the date appended), or "" before it exists. */
function hostFile(out: string): string {
  const dir = join(out, "web1");
  const names = existsSync(dir) ? readdirSync(dir) : [];
  return names.length === 1 ? join(dir, names[0]!) : "";
}

const text = (path: string) => (path ? readFileSync(path, "utf8") : "");

const until = async (what: string, cond: () => boolean) => {
  const by = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

test("collector pipeline - batch N+1 is written while N is made durable; N's saved state describes N's end; acks in order", () =>
  inTempDir("shipper-pipeline-", async (dir) => {
    const { out, sink, writer, logfile } = setUp(dir, 1); // one batch made durable while the next is written
    const signal = new AbortController().signal;
    assert.equal(await writer.pipeline(batch(1, [msg("one", 1), msg("two", 2)]), signal), true);
    const first = await sink.gate(1); // batch 1 is being made durable...
    const second = writer.pipeline(batch(2, [msg("three", 3)]), signal);
    await until("batch 2 in the file", () => text(logfile()) === "one\ntwo\nthree\n"); // ...while batch 2 is written
    assert.deepEqual(acks, []);
    first.open();
    await second; // batch 2 waits for batch 1 before its own durability starts
    assert.deepEqual(acks, [1]);
    const saved = await new PartitionStateFile(out, 0).load();
    assert.equal(saved?.sequence, 2, "batch 1's sequence, not batch 2's");
    assert.equal(saved?.hosts.web1?.size, "one\ntwo\n".length, "sizes after batch 1's writes, though batch 2's bytes are in the file");
    assert.deepEqual(plain(saved?.hosts.web1?.origins), { [parseMsgId(msg("", 2).msgId!)!.originKey]: 200 }, "origins through batch 1");
    assert.equal(statSync(logfile()).size, "one\ntwo\nthree\n".length);
    // A crash now: the start-up cut-back removes batch 2, which was never acknowledged.
    (await sink.gate(2)).open();
    assert.equal(await writer.drain(), true);
    assert.deepEqual(acks, [1, 2]);
    const last = await new PartitionStateFile(out, 0).load();
    assert.equal(last?.sequence, 3);
    assert.equal(last?.hosts.web1?.size, "one\ntwo\nthree\n".length);
    await sink.close();
    assert.equal(await cutBackUnsavedWrites(saved!, log), "three\n".length);
    assert.equal(readFileSync(logfile(), "utf8"), "one\ntwo\n");
  }));

test("collector pipeline - a failing flush of N is retried; N+1 is never acknowledged before N, nor at all when stopped", () =>
  inTempDir("shipper-pipeline-", async (dir) => {
    const { sink, counters, writer } = setUp(dir, 1);
    const signal = new AbortController().signal;
    await writer.pipeline(batch(1, [msg("one", 1)]), signal);
    (await sink.gate(1)).fail(new Error("EIO: i/o error"));
    const second = writer.pipeline(batch(2, [msg("two", 2)]), signal);
    (await sink.gate(2)).fail(new Error("EIO: i/o error")); // batch 1's retry fails too
    assert.deepEqual(acks, []);
    (await sink.gate(3)).open(); // batch 1's second retry works
    await second;
    (await sink.gate(4)).open();
    assert.equal(await writer.drain(), true);
    assert.deepEqual(acks, [1, 2]);
    assert.equal(counters.writeErrors, 2);
    assert.equal(counters.batches, 2);
    await sink.close();

    // Stopped while batch 3's flush fails: neither it nor batch 4, written meanwhile, is acknowledged.
    const again = setUp(join(dir, "again"), 10_000);
    const stop = new AbortController();
    await again.writer.pipeline(batch(3, [msg("three", 3)]), stop.signal);
    again.sink.failAll(new Error("ENOSPC: no space left on device"));
    await again.sink.gate(1);
    const fourth = again.writer.pipeline(batch(4, [msg("four", 4)]), stop.signal);
    await until("batch 4 written", () => text(again.logfile()) === "three\nfour\n");
    assert.equal(await fourth, true, "written, and waiting behind batch 3");
    stop.abort();
    assert.equal(await again.writer.drain(), false);
    assert.equal(await again.writer.pipeline(batch(5, [msg("five", 5)]), stop.signal), false, "nothing more once a batch could not be made durable");
    assert.deepEqual(acks, []);
    await again.sink.close();
  }));

test("collector pipeline - batches written while one is made durable wait up to the line limit, then are made durable together, acknowledged in order", () =>
  inTempDir("shipper-pipeline-", async (dir) => {
    const { out, sink, writer } = setUp(dir, 3);
    const signal = new AbortController().signal;
    await writer.pipeline(batch(1, [msg("one", 1)]), signal);
    const gate = await sink.gate(1);
    await writer.pipeline(batch(2, [msg("two", 2)]), signal); // 1 line waiting: go on
    let third = false;
    const writing3 = writer.pipeline(batch(3, [msg("three", 3), msg("four", 4)]), signal).then((ok) => (third = ok));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(third, false, "3 lines waiting: the writer is held back");
    gate.open();
    await writing3;
    (await sink.gate(2)).open(); // one flush for batches 2 and 3
    assert.equal(await writer.drain(), true);
    assert.deepEqual(acks, [1, 2, 3]);
    assert.equal(sink.gates.length, 2);
    assert.equal((await new PartitionStateFile(out, 0).load())?.sequence, 4);
    await sink.close();
  }));

test("collector pipeline - when asking the server about the stream fails once (a reconnect), the retry sets the state up and writes the batch", { timeout: 15_000 }, () =>
  inTempDir("shipper-pipeline-", async (dir) => {
    let asked = 0;
    const streamSource: StreamSource = {
      created: async () => {
        if (++asked === 1) throw new Error("TIMEOUT");
        return "2026-11-27T00:00:00Z";
      },
      missing: async () => ({ messages: [], lost: [] }),
    };
    const { sink, counters, writer, logfile } = setUp(dir, 1, streamSource);
    const signal = new AbortController().signal;
    const first = writer.pipeline(batch(1, [msg("one", 1), msg("two", 2)]), signal);
    (await sink.gate(1)).open();
    assert.equal(await first, true);
    assert.equal(await writer.drain(), true);
    assert.equal(text(logfile()), "one\ntwo\n");
    assert.deepEqual(acks, [1]);
    assert.equal(asked, 2);
    assert.equal(counters.writeErrors, 1, "the failed look was counted and retried");
  }));
