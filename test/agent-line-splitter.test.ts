import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, type SplitLines } from "../src/agent/line-splitter.js";

function split(chunks: (string | Buffer)[], start = 0): { lines: string[]; ends: number[]; splitter: LineSplitter } {
  const splitter = new LineSplitter(start);
  const out: SplitLines = { lines: [], ends: [] };
  for (const c of chunks) splitter.push(typeof c === "string" ? Buffer.from(c, "utf8") : c, out);
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
  const out: SplitLines = { lines: [], ends: [] };
  splitter.push(Buffer.from("one\ntw"), out);
  assert.deepEqual(out.lines.map(String), ["one"]);
  assert.equal(splitter.pendingBytes, 2);
  assert.equal(splitter.completeOffset, 4);
  splitter.push(Buffer.from("o"), out);
  assert.deepEqual(out.lines.map(String), ["one"]);
  splitter.push(Buffer.from("\nthree\n"), out);
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
  splitter.push(Buffer.from("partial"), { lines: [], ends: [] });
  splitter.reset(0);
  const out: SplitLines = { lines: [], ends: [] };
  splitter.push(Buffer.from("new\n"), out);
  assert.deepEqual(out.lines.map(String), ["new"]);
  assert.deepEqual(out.ends, [4]);
});

test("line splitter - a held line can be taken when its file is finished", () => {
  const splitter = new LineSplitter();
  const out: SplitLines = { lines: [], ends: [] };
  splitter.push(Buffer.from("a\nunterminated"), out);
  const held = splitter.takeHeld();
  assert.equal(held?.line.toString(), "unterminated");
  assert.equal(held?.end, 14);
  assert.equal(splitter.takeHeld(), undefined);
});

test("line splitter - lines are views into the chunk, and a held tail does not pin it", () => {
  const chunk = Buffer.from("abc\ndef");
  const splitter = new LineSplitter();
  const out: SplitLines = { lines: [], ends: [] };
  splitter.push(chunk, out);
  assert.equal(out.lines[0]!.buffer, chunk.buffer);
  chunk.fill(0x21); // the caller may reuse the chunk once the held tail was copied
  splitter.push(Buffer.from("\n"), out);
  assert.equal(out.lines[1]!.toString(), "def");
});

test("line splitter - a large input splits quickly", () => {
  const line = "x".repeat(119) + "\n";
  const chunk = Buffer.from(line.repeat(2000));
  const splitter = new LineSplitter();
  const started = process.hrtime.bigint();
  let count = 0;
  for (let i = 0; i < 100; i++) {
    const out: SplitLines = { lines: [], ends: [] };
    splitter.push(chunk, out);
    count += out.lines.length;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(count, 200_000);
  assert.ok(ms < 2000, `200k lines took ${ms} ms`);
});
