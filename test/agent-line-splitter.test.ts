import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, lineEnd, lineStart, linesOf, type Lines } from "../src/agent/line-splitter.js";

/** Every line and end offset `push` found, across calls. */
class Collected {
  lines: Buffer[] = [];
  ends: number[] = [];
  add(found: Lines | undefined): void {
    if (!found) return;
    this.lines.push(...linesOf(found));
    this.ends.push(...found.ends);
  }
}

function split(chunks: (string | Buffer)[], start = 0): { lines: string[]; ends: number[]; splitter: LineSplitter } {
  const splitter = new LineSplitter(start);
  const out = new Collected();
  for (const c of chunks) out.add(splitter.push(typeof c === "string" ? Buffer.from(c, "utf8") : c));
  return { lines: out.lines.map((l) => l.toString("utf8")), ends: out.ends, splitter };
}

test("line splitter - lines lose their newline, keep a carriage return, and record the offset past it", () => {
  const { lines, ends } = split(["a\r\nbb\n\nccc\n"]);
  assert.deepEqual(lines, ["a\r", "bb", "", "ccc"]);
  assert.deepEqual(ends, [3, 6, 7, 11]);
});

test("line splitter - an empty line is an empty payload", () => {
  const { lines, ends } = split(["\n\n\n"]);
  assert.deepEqual(lines, ["", "", ""]);
  assert.deepEqual(ends, [1, 2, 3]);
});

test("line splitter - a last line without newline is held until its newline arrives", () => {
  const splitter = new LineSplitter();
  const out = new Collected();
  out.add(splitter.push(Buffer.from("one\ntw")));
  assert.deepEqual(out.lines.map(String), ["one"]);
  assert.equal(splitter.pendingBytes, 2);
  assert.equal(splitter.completeOffset, 4);
  assert.equal(splitter.push(Buffer.from("o")), undefined);
  out.add(splitter.push(Buffer.from("\nthree\n")));
  assert.deepEqual(out.lines.map(String), ["one", "two", "three"]);
  assert.deepEqual(out.ends, [4, 8, 14]);
  assert.equal(splitter.pendingBytes, 0);
  assert.equal(splitter.completeOffset, 14);
});

test("line splitter - every chunk boundary gives the same lines and offsets", () => {
  const text = "alpha\r\n\nbeta gamma\nδέλτα ünïcödé\n\r\nlast\n";
  const whole = split([text]);
  const bytes = Buffer.from(text, "utf8");
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b++) {
      const parts = [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
      const got = split(parts);
      assert.deepEqual(got.lines, whole.lines, `cut at ${a},${b}`);
      assert.deepEqual(got.ends, whole.ends, `cut at ${a},${b}`);
    }
  }
  // and one byte at a time
  const bytewise = split([...bytes].map((x) => Buffer.from([x])));
  assert.deepEqual(bytewise.lines, whole.lines);
  assert.deepEqual(bytewise.ends, whole.ends);
});

test("line splitter - offsets continue from a start offset and after reset", () => {
  const { ends, splitter } = split(["x\ny\n"], 1000);
  assert.deepEqual(ends, [1002, 1004]);
  splitter.push(Buffer.from("partial"));
  splitter.reset(0);
  const out = new Collected();
  out.add(splitter.push(Buffer.from("new\n")));
  assert.deepEqual(out.lines.map(String), ["new"]);
  assert.deepEqual(out.ends, [4]);
});

test("line splitter - a held line can be taken when its file is finished", () => {
  const splitter = new LineSplitter();
  splitter.push(Buffer.from("a\nunterminated"));
  const held = splitter.takeHeld();
  assert.deepEqual(linesOf(held!).map(String), ["unterminated"]);
  assert.deepEqual(held!.ends, [14]);
  assert.equal(held!.dataOffset, 2);
  assert.equal(splitter.takeHeld(), undefined);
});

test("line splitter - lines are consecutive bytes of the read buffer, the held start of a line first", () => {
  const splitter = new LineSplitter(100);
  assert.equal(splitter.push(Buffer.from("ab")), undefined);
  const { buf, at } = splitter.readBuffer(16);
  assert.equal(at, 2);
  assert.equal(buf.subarray(0, 2).toString(), "ab");
  const n = buf.write("c\n\nd\r\ne", at, "latin1");
  const found = splitter.split(buf, at, n)!;
  assert.equal(found.data.buffer, buf.buffer, "no copy");
  assert.equal(found.data.toString(), "abc\n\nd\r\n");
  assert.equal(found.dataOffset, 100);
  assert.deepEqual(found.ends, [104, 105, 108]);
  assert.deepEqual([0, 1, 2].map((i) => [lineStart(found, i), lineEnd(found, i)]), [[0, 3], [4, 4], [5, 7]]);
  buf.fill(0x21); // the held tail was copied out: the caller may reuse the buffer
  const last = splitter.push(Buffer.from("\n"))!;
  assert.deepEqual(linesOf(last).map(String), ["e"]);
  assert.deepEqual(last.ends, [110]);
});

test("line splitter - a spare buffer is used when it is large enough", () => {
  const splitter = new LineSplitter();
  const spare = Buffer.alloc(64);
  assert.equal(splitter.readBuffer(64, spare).buf, spare);
  assert.notEqual(splitter.readBuffer(65, spare).buf, spare);
});

test("line splitter - a line longer than many reads is put together whole, its room doubling", () => {
  const splitter = new LineSplitter();
  const long = "y".repeat(100_000);
  const input = Buffer.from(`${long}\nnext\n`);
  const out = new Collected();
  let pos = 0;
  let reads = 0;
  while (pos < input.length) {
    const { buf, at } = splitter.readBuffer(1000);
    // Read as much as the buffer holds after the held bytes (as the follower does for long lines).
    const want = Math.max(1000, Math.min(at, buf.length - at));
    const n = input.copy(buf, at, pos, Math.min(input.length, pos + want));
    pos += n;
    reads++;
    out.add(splitter.split(buf, at, n));
  }
  assert.deepEqual(out.lines.map(String), [long, "next"]);
  assert.deepEqual(out.ends, [100_001, 100_006]);
  assert.ok(reads < 20, `${reads} reads`);
});

test("line splitter - a large input splits quickly", () => {
  const line = "x".repeat(119) + "\n";
  const chunk = Buffer.from(line.repeat(2000));
  const splitter = new LineSplitter();
  const started = process.hrtime.bigint();
  let count = 0;
  for (let i = 0; i < 100; i++) count += splitter.push(chunk)?.ends.length ?? 0;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(count, 200_000);
  assert.ok(ms < 2000, `200k lines took ${ms} ms`);
});
