import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutputTree } from "../bench/progress.js";
import { linesUpTo, writeIndexedHostLog } from "../bench/workload.js";
import { readFileSync } from "node:fs";

test("bench - the output counter finds a host's second file (day roll) once the total stops growing, and skips dot directories", () => {
  const root = mkdtempSync(join(tmpdir(), "shipper-output-tree-"));
  try {
    mkdirSync(join(root, "web1"));
    mkdirSync(join(root, ".shipper"));
    writeFileSync(join(root, ".shipper", "state"), "x".repeat(100));
    writeFileSync(join(root, "web1", "logfile-day1"), "a\n");
    const tree = new OutputTree(root, 1);
    assert.equal(tree.bytes(), 2);
    appendFileSync(join(root, "web1", "logfile-day1"), "b\n");
    writeFileSync(join(root, "web1", "logfile-day2"), "c\n");
    assert.equal(tree.bytes(), 4, "growing: known files only");
    assert.equal(tree.bytes(), 6, "no growth: the host's directory is listed again");
    assert.equal(tree.hostCount, 1);
    assert.equal(tree.paths().length, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("bench - a message id's offset is turned into the lines it covers from the file's line ends", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shipper-indexed-log-"));
  try {
    const file = join(dir, "syslog");
    const { bytes, ends } = await writeIndexedHostLog(file, "web1.example.net", 50);
    const text = readFileSync(file);
    assert.equal(text.length, bytes);
    assert.equal(ends.length, 50);
    assert.equal(ends[49], bytes);
    for (let k = 0; k < 50; k++) assert.equal(text[ends[k]! - 1], 10, "each end is just past a newline");
    assert.equal(linesUpTo(ends, 0), 0);
    assert.equal(linesUpTo(ends, ends[0]!), 1);
    assert.equal(linesUpTo(ends, ends[0]! + 1), 1);
    assert.equal(linesUpTo(ends, ends[9]!), 10);
    assert.equal(linesUpTo(ends, bytes), 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
