// The batch's joined bytes (join-arena.ts): each host's lines with "\n", in one buffer reused
// batch after batch; a batch too large for it gets buffers of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JoinArena } from "../src/collector/join-arena.js";
import { joinLines } from "../src/collector/line-sink.js";

const enc = (s: string) => Buffer.from(s, "utf8");

test("collector join arena - each host's lines joined as joinLines does, in one reused buffer", () => {
  const arena = new JoinArena();
  const first = arena.join([
    ["h1", [enc("one"), enc(""), enc("three\r")]],
    ["h2", [enc("ünï")]],
  ]);
  assert.deepEqual(first.map(([h]) => h), ["h1", "h2"]);
  assert.equal(first[0]![1].toString(), "one\n\nthree\r\n");
  assert.deepEqual(first[1]![1], joinLines([enc("ünï")]));
  assert.equal(first[0]![1].buffer, first[1]![1].buffer, "one buffer for the batch");
  const second = arena.join([["h3", [enc("x".repeat(1000))]]]);
  assert.equal(second[0]![1].buffer, first[0]![1].buffer, "the next batch reuses it");
  assert.equal(second[0]![1].length, 1001);
  const grown = arena.join([["h4", [enc("y".repeat(100_000))]]]);
  assert.equal(grown[0]![1].toString(), "y".repeat(100_000) + "\n");
});

test("collector join arena - a batch over the reused size gets buffers of its own", () => {
  const arena = new JoinArena();
  const small = arena.join([["h", [enc("a")]]]);
  const line = enc("z".repeat(1024 * 1024));
  const big = arena.join([
    ["h1", [line, line]],
    ["h2", [line]],
  ]);
  assert.notEqual(big[0]![1].buffer, small[0]![1].buffer);
  assert.notEqual(big[0]![1].buffer, big[1]![1].buffer);
  assert.equal(big[0]![1].length, 2 * (line.length + 1));
  assert.equal(big[1]![1].at(-1), 0x0a);
});
