import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageQueue } from "../src/collector/message-queue.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("collector message queue - batches take what arrived, at most the bound; end() ends them after the last", async () => {
  const q = new MessageQueue<number>();
  for (let i = 0; i < 25; i++) q.push(i);
  const got: number[][] = [];
  const reading = (async () => {
    for await (const b of q.batches(10)) got.push([...b]);
  })();
  await sleep(5);
  q.push(25);
  q.end();
  await reading;
  assert.deepEqual(got.map((b) => b.length), [10, 10, 5, 1]);
  assert.deepEqual(got.flat(), Array.from({ length: 26 }, (_, i) => i));
});

test("collector message queue - with a linger, a small batch soon after the last waits for more; an idle queue hands out its first line at once", async () => {
  const q = new MessageQueue<number>();
  const taken: { at: number; size: number }[] = [];
  const t0 = Date.now();
  const reading = (async () => {
    for await (const b of q.batches(1_000, { ms: 40, lines: 100 })) taken.push({ at: Date.now() - t0, size: b.length });
  })();
  q.push(0); // idle: taken at once
  await sleep(10);
  q.push(1); // soon after: lingers up to 40 ms while a few more come
  q.push(2);
  await sleep(15);
  q.push(3);
  await sleep(60);
  for (let i = 4; i < 104; i++) q.push(i); // 100 at once: enough, no lingering
  await sleep(10);
  q.end();
  await reading;
  assert.equal(taken[0]!.size, 1);
  assert.ok(taken[0]!.at < 10, `the first line waited ${taken[0]!.at} ms`);
  assert.equal(taken[1]!.size, 3, "lines 1-3 in one batch");
  assert.ok(taken[1]!.at >= 45, `the small batch lingered (${taken[1]!.at} ms)`);
  assert.deepEqual(taken.slice(2).map((t) => t.size), [100]);
  assert.ok(taken[2]!.at - 85 < 30, "a full batch is taken without lingering");
});

test("collector message queue - end() while lingering ends the wait at once; nothing is lost", async () => {
  const q = new MessageQueue<number>();
  const got: number[] = [];
  const reading = (async () => {
    for await (const b of q.batches(1_000, { ms: 10_000, lines: 100 })) got.push(...b);
  })();
  q.push(0);
  await sleep(5);
  q.push(1);
  await sleep(5);
  const t = Date.now();
  q.end();
  await reading;
  assert.ok(Date.now() - t < 1_000, "not held for the whole linger");
  assert.deepEqual(got, [0, 1]);
});
