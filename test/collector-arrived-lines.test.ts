import { test } from "node:test";
import assert from "node:assert/strict";
import { ArrivedLines, type ArrivingLine, type LineChunk } from "../src/collector/arrived-lines.js";

/** A line as take() hands it out: read from its chunk while held. */
interface Line {
  chunk: LineChunk;
  index: number;
  generation: number;
}

const read = (l: Line) => {
  assert.equal(l.chunk.generation, l.generation, "the line's chunk was not reused while it was held");
  const c = l.chunk, i = l.index;
  return {
    subject: c.subject(i), reply: c.reply(i), data: c.data(i), msgId: c.msgId(i), part: c.part(i), batch: c.batch(i),
    sequence: c.sequence(i), deliveries: c.deliveries(i), deliverySequence: c.deliverySequence(i),
  };
};

function store(): ArrivedLines<Line> {
  return new ArrivedLines<Line>((chunk, index) => ({ chunk, index, generation: chunk.generation }));
}

/**
 * Line `i` as it arrives: a frame as the server writes it (reply, sizes, header block, payload),
 * header values at odd places of the block, the subject in a buffer of its own.
 */
function arriving(i: number, payload = `line ${i} <14>Nov 27 07:25:19 web${i % 7}.example.net app[42]: something happened`, subject = `logs.p0.web${i % 7}.example.net`): ArrivingLine {
  const id = `web${i % 7}:${i}`;
  const part = i % 5 === 0 ? `${(i % 3) + 1}/3` : "";
  const batch = i % 11 === 0 ? "4" : "";
  const reply = `$JS.ACK.LOGS_0.COLLECTOR.1.${i}.${i}.1732700000000000000.0`;
  const headers = `NATS/1.0\r\nX: ${batch}|${part}|${id}\r\n\r\n`;
  const before = `HMSG ${subject} 7 `;
  const frame = Buffer.from(`${before}${reply} ${headers.length} ${headers.length + Buffer.byteLength(payload)}\r\n${headers}${payload}\r\n`);
  const replyFrom = before.length;
  const headersFrom = frame.indexOf("NATS/1.0");
  const batchFrom = frame.indexOf("X: ", headersFrom) + 3;
  const partFrom = batchFrom + batch.length + 1;
  const idFrom = partFrom + part.length + 1;
  const dataFrom = headersFrom + headers.length;
  const subjectBytes = Buffer.from(`..${subject}..`);
  return {
    subject: subjectBytes, subjectFrom: 2, subjectTo: subjectBytes.length - 2,
    bytes: frame, replyFrom, replyTo: replyFrom + reply.length,
    idFrom, idTo: idFrom + id.length,
    partFrom, partTo: partFrom + part.length,
    batchFrom, batchTo: batchFrom + batch.length,
    dataFrom, dataTo: frame.length - 2,
    sequence: 2 ** 40 + i, // past 32 bits
    deliveries: 1 + (i % 3),
    deliverySequence: 2 ** 33 + i,
  };
}

function check(held: Line, i: number, payload?: string): void {
  const line = read(held);
  assert.equal(line.subject, `logs.p0.web${i % 7}.example.net`);
  assert.equal(line.reply, `$JS.ACK.LOGS_0.COLLECTOR.1.${i}.${i}.1732700000000000000.0`);
  assert.equal(Buffer.from(line.data).toString(), payload ?? `line ${i} <14>Nov 27 07:25:19 web${i % 7}.example.net app[42]: something happened`);
  assert.equal(line.msgId, `web${i % 7}:${i}`);
  assert.equal(line.part, i % 5 === 0 ? `${(i % 3) + 1}/3` : undefined);
  assert.equal(line.batch, i % 11 === 0 ? "4" : undefined);
  assert.equal(line.sequence, 2 ** 40 + i);
  assert.equal(line.deliveries, 1 + (i % 3));
  assert.equal(line.deliverySequence, 2 ** 33 + i);
}

test("collector arrived lines - every field comes back as it arrived, in order, across many chunks and for a line larger than a chunk", () => {
  const lines = store();
  const big = "x".repeat(600_000);
  for (let i = 0; i < 10_000; i++) lines.add(arriving(i, i === 5_000 ? big : undefined));
  assert.equal(lines.size, 10_000);
  let next = 0;
  while (lines.size > 0) {
    const batch = lines.take(777);
    assert.ok(batch.length <= 777);
    for (const line of batch) check(line, next, next === 5_000 ? big : undefined), next++;
  }
  assert.equal(next, 10_000);
  assert.deepEqual(lines.take(10), []);
});

test("collector arrived lines - a chunk is reused only once every line in it was released; lines still held are never overwritten", () => {
  const lines = store();
  for (let i = 0; i < 6_000; i++) lines.add(arriving(i));
  const first = lines.take(6_000);
  // Release all but the lines of the first chunk; keep checking those as new lines pour in.
  const held = first.filter((l) => l.chunk === first[0]!.chunk);
  const runs = new Map<LineChunk, number>();
  for (const l of first) if (l.chunk !== first[0]!.chunk) runs.set(l.chunk, (runs.get(l.chunk) ?? 0) + 1);
  for (const [chunk, n] of runs) chunk.release(n);
  const reusable = new Set(runs.keys());
  let reused = false;
  for (let round = 1; round <= 3; round++) {
    for (let i = 0; i < 6_000; i++) lines.add(arriving(round * 10_000 + i));
    const batch = lines.take(6_000);
    for (const [k, line] of batch.entries()) {
      check(line, round * 10_000 + k);
      if (reusable.has(line.chunk)) reused = true;
    }
    const byChunk = new Map<LineChunk, number>();
    for (const l of batch) byChunk.set(l.chunk, (byChunk.get(l.chunk) ?? 0) + 1);
    for (const [chunk, n] of byChunk) chunk.release(n);
    for (const [k, line] of held.entries()) check(line, k);
  }
  assert.ok(reused, "released chunks took new lines");
  assert.ok(!lines.take(1).length);
});

test("collector arrived lines - clear() drops what was not taken; lines taken before stay intact", () => {
  const lines = store();
  for (let i = 0; i < 3_000; i++) lines.add(arriving(i));
  const taken = lines.take(1_000);
  lines.clear();
  assert.equal(lines.size, 0);
  for (let i = 0; i < 9_000; i++) lines.add(arriving(100_000 + i));
  for (const [k, line] of taken.entries()) check(line, k);
  const again = lines.take(9_000);
  assert.equal(again.length, 9_000);
  check(again[0]!, 100_000);
});

test("collector arrived lines - subjects stay right when the table of shared subject strings starts over", () => {
  const lines = store();
  const subjectOf = (i: number) => `logs.p0.h${i}`;
  for (let i = 0; i < 130_000; i++) lines.add(arriving(i, "x", subjectOf(i)));
  let next = 0;
  while (lines.size > 0) for (const line of lines.take(10_000)) assert.equal(read(line).subject, subjectOf(next++));
  assert.equal(next, 130_000);
});
