import { test } from "node:test";
import assert from "node:assert/strict";
import { ByteStrings } from "../src/collector/byte-strings.js";

test("collector byte strings - one number and one text per distinct byte string, wherever the bytes are", () => {
  const table = new ByteStrings();
  const names = Array.from({ length: 5_000 }, (_, i) => `logs.p${i % 10}.h\u00f6st-${i}.example.net`);
  const numbers = names.map((name) => {
    const framed = Buffer.from(`xx${name}yyy`);
    return table.number(framed, 2, framed.length - 3);
  });
  assert.deepEqual(numbers, names.map((_, i) => i), "new strings get the next number");
  assert.equal(table.size, names.length);
  // The same bytes again, at other places of other buffers, give the same numbers.
  for (let i = names.length - 1; i >= 0; i -= 7) {
    const framed = Buffer.from(`....${names[i]}`);
    assert.equal(table.number(framed, 4, framed.length), i);
    assert.equal(table.texts[i], names[i], "the text is the UTF-8 string");
  }
  // Prefixes, the empty string and strings differing in one byte are all different.
  const a = Buffer.from("logs.p1.a");
  const extra = [table.number(a, 0, 8), table.number(a, 0, 0), table.number(Buffer.from("logs.p1.b"), 0, 9), table.number(a, 0, 9)];
  assert.equal(new Set(extra).size, 4);
  assert.equal(table.number(a, 0, 0), extra[1]);
  assert.equal(table.texts[extra[1]!], "");
});

test("collector byte strings - the bytes a number was made from may change afterwards (they are copied)", () => {
  const table = new ByteStrings();
  const buf = Buffer.from("logs.p0.web1");
  const n = table.number(buf, 0, buf.length);
  buf.write("XXXX", 0);
  assert.equal(table.texts[n], "logs.p0.web1");
  assert.equal(table.number(Buffer.from("logs.p0.web1"), 0, 12), n);
  assert.notEqual(table.number(buf, 0, buf.length), n);
});
