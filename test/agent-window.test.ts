import { test } from "node:test";
import assert from "node:assert/strict";
import { InFlightWindow } from "../src/agent/inflight-window.js";
import { ReadTurns } from "../src/agent/read-turns.js";
import type { LineOrigin } from "../src/agent/publisher.js";

const A: LineOrigin = { key: "1:2:0badf00d:0", path: "/a.log" };
const B: LineOrigin = { key: "1:3:0badf00d:0", path: "/b.log" };
const DATA = Buffer.from("0123456789");

test("agent window - settles in any order, reports in send order once per run of one origin", () => {
  const w = new InFlightWindow();
  const seqs = [A, A, B, A].map((o, i) => w.add("s", DATA, i, i + 1, o, 10 * (i + 1), 5, 1, 0));
  const reports: string[] = [];
  const report = (o: LineOrigin, offset: number) => reports.push(`${o.path}:${offset}`);
  w.settle(seqs[1]!);
  w.advance(report);
  assert.deepEqual(reports, [], "the oldest is not settled");
  assert.equal(w.oldest(), seqs[0]);
  w.settle(seqs[0]!);
  w.settle(seqs[2]!);
  w.advance(report);
  assert.deepEqual(reports, ["/a.log:20", "/b.log:30"]);
  assert.equal(w.count, 1);
  assert.equal(w.bytes, 5);
  assert.deepEqual([...w.unsettled()], [seqs[3]]);
  assert.equal(w.payload(seqs[3]!).toString(), "3");
  assert.equal(w.isUnsettled(seqs[0]!), false, "a late PubAck for a released message is ignored");
  w.settle(seqs[0]!); // and settling it again changes nothing
  assert.equal(w.count, 1);
});

test("agent window - grows past its first capacity and wraps its sequence numbers at 2^31", () => {
  const w = new InFlightWindow();
  w.startAt(2 ** 31 - 100);
  const seqs: number[] = [];
  for (let i = 0; i < 5000; i++) seqs.push(w.add("s", DATA, 0, 1, A, i + 1, 1, 1, 0));
  assert.ok(seqs.includes(0) && seqs.at(-1)! < 5000, "numbering went on from 0");
  assert.equal(new Set(seqs).size, seqs.length);
  assert.ok(seqs.every((s) => w.isUnsettled(s)));
  assert.equal(w.isUnsettled(4999), false, "not sent yet");
  for (const s of [...seqs].reverse()) w.settle(s);
  let last = 0;
  w.advance((_o, offset) => (last = offset));
  assert.equal(last, 5000);
  assert.equal(w.count, 0);
  assert.equal(w.oldest(), -1);
});

test("agent window - lines of a batch count together, extras live only while unsettled", () => {
  const w = new InFlightWindow();
  const seq = w.add("s", DATA, 0, 10, A, 10, 50, 7, 0);
  assert.equal(w.lines, 7);
  w.extraFor(seq).error = "busy";
  assert.equal(w.extra(seq)?.error, "busy");
  w.settle(seq);
  assert.equal(w.lines, 0);
  assert.equal(w.extra(seq), undefined);
});

test("agent read turns - a few followers read at once, the others wait their turn", async () => {
  const turns = new ReadTurns(2);
  const [a, b, c] = [turns.turn(), turns.turn(), turns.turn()];
  assert.equal(a.take(), undefined);
  assert.equal(a.take(), undefined, "taking a held turn again is free");
  assert.equal(b.take(), undefined);
  let cGot = false;
  const waiting = c.take()!.then(() => (cGot = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(cGot, false);
  a.give();
  a.give(); // giving twice gives once
  await waiting;
  assert.equal(cGot, true);
  // a turn given up while waiting for it passes on when it arrives
  const d = turns.turn();
  const dWait = d.take()!;
  d.give();
  b.give();
  await dWait;
  assert.equal(turns.turn().take(), undefined, "b's turn went through d and is free again");
});
