import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchReplies, type ReplySource } from "../src/collector/batch-replies.js";

const source = (reply: string): ReplySource => {
  const bytes = Buffer.from(reply);
  return { replyLength: bytes.length, copyReply: (target, at) => bytes.copy(target, at) };
};

const replies = (from: number, n: number, pad = 0) =>
  Array.from({ length: n }, (_, k) => `$JS.ACK.LOGS_0.COLLECTOR.1.${from + k}.${from + k}.1732700000000000000.${"0".repeat(pad + (k % 40))}`);

test("collector batch replies - every reply comes back in order, across blocks, and the last one", () => {
  const want = replies(1, 5_000);
  const batch = new BatchReplies(want.map(source));
  const got: string[] = [];
  batch.each((r) => got.push(r));
  assert.deepEqual(got, want);
  assert.equal(batch.last(), want.at(-1));
  assert.equal(batch.count, 5_000);
  const empty = new BatchReplies([]);
  assert.equal(empty.last(), undefined);
  empty.each(() => assert.fail("no replies"));
});

test("collector batch replies - blocks released by one batch are reused without touching batches still held", () => {
  const heldWant = replies(100_000, 3_000);
  const held = new BatchReplies(heldWant.map(source));
  for (let round = 0; round < 5; round++) {
    const want = replies(round * 10_000, 2_000 + round * 500, round);
    const batch = new BatchReplies(want.map(source));
    const got: string[] = [];
    batch.each((r) => got.push(r));
    assert.deepEqual(got, want);
    batch.release();
    assert.equal(batch.last(), undefined, "nothing is read after release");
  }
  const got: string[] = [];
  held.each((r) => got.push(r));
  assert.deepEqual(got, heldWant);
  assert.equal(held.last(), heldWant.at(-1));
});

test("collector batch replies - a reply larger than a block gets a block of its own", () => {
  const want = ["$JS.ACK.small.1", `$JS.ACK.${"x".repeat(40_000)}`, "$JS.ACK.small.2"];
  const batch = new BatchReplies(want.map(source));
  const got: string[] = [];
  batch.each((r) => got.push(r));
  assert.deepEqual(got, want);
  assert.equal(batch.last(), want[2]);
});
