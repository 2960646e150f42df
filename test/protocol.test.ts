import { test } from "node:test";
import assert from "node:assert/strict";
import { fnv1a32, partitionOf } from "../src/protocol/partition.js";
import { SubjectParser, lineSubject, validateHostForSubject, validatePrefix } from "../src/protocol/subjects.js";

test("partition - FNV-1a test vectors of SPEC.md", () => {
  assert.equal(fnv1a32("web1.example.net"), 2117403425);
  assert.equal(fnv1a32(""), 2166136261);
  const vectors: Record<string, number> = {
    "web1.example.net": 5,
    "web2.example.net": 0,
    "web3.example.net": 7,
    "web4.example.net": 2,
    "db1.example.net": 9,
    "str1.example.net": 4,
  };
  for (const [host, partition] of Object.entries(vectors)) {
    assert.equal(partitionOf(host, 10), partition, host);
  }
});

test("partition - a count of 0 means partition 0; a bad count throws", () => {
  assert.equal(partitionOf("web1.example.net", 0), 0);
  assert.equal(partitionOf("web1.example.net", 1), 0);
  assert.throws(() => partitionOf("h", -1), /whole number/);
  assert.throws(() => partitionOf("h", 1.5), /whole number/);
});

test("partition - hashes UTF-8 bytes, not UTF-16 code units", () => {
  assert.equal(fnv1a32("hôte"), fnv1a32(new TextEncoder().encode("hôte")));
  assert.notEqual(fnv1a32("hôte"), fnv1a32("hote"));
});

test("subjects - build and parse back, hosts with many dots", () => {
  const parser = new SubjectParser("logs");
  for (const host of ["web1", "str1.example.net", "a.b.c.d.e.f.g.example.co.uk"]) {
    const subject = lineSubject("logs", partitionOf(host, 10), host);
    assert.deepEqual(parser.parse(subject), { partition: partitionOf(host, 10), host });
  }
  assert.equal(lineSubject("logs", 4, "str1.example.net"), "logs.p4.str1.example.net");
});

test("subjects - the parser is anchored and escapes the prefix", () => {
  const parser = new SubjectParser("my.logs");
  assert.deepEqual(parser.parse("my.logs.p12.h.example"), { partition: 12, host: "h.example" });
  assert.equal(parser.parse("xmy.logs.p1.h"), undefined, "prefix must be anchored");
  assert.equal(parser.parse("myXlogs.p1.h"), undefined, "a dot in the prefix is not a wildcard");
  assert.equal(parser.parse("my.logs.p1"), undefined, "no host");
  assert.equal(parser.parse("my.logs.px.h"), undefined, "partition must be a number");
  assert.equal(parser.parse("my.logs.p01.h"), undefined, "no leading zeros");
  assert.equal(parser.parse("other.p1.h"), undefined);
});

test("subjects - hostile hosts parse as they are, so the collector can refuse them as paths", () => {
  const parser = new SubjectParser("logs");
  assert.deepEqual(parser.parse("logs.p0./etc"), { partition: 0, host: "/etc" });
  assert.deepEqual(parser.parse("logs.p0.a/b"), { partition: 0, host: "a/b" });
});

test("subjects - prefix and host validation name the problem", () => {
  assert.equal(validatePrefix("logs"), undefined);
  assert.match(validatePrefix("logs.")!, /empty token/);
  assert.match(validatePrefix("lo gs")!, /white space/);
  assert.match(validatePrefix("logs.>")!, /wildcard/);
  assert.equal(validateHostForSubject("web1.example.net"), undefined);
  assert.match(validateHostForSubject("")!, /empty/);
  assert.match(validateHostForSubject("web*")!, /wildcard/);
});
