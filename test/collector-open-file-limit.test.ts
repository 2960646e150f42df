import { test } from "node:test";
import assert from "node:assert/strict";
import { FALLBACK_MAX_OPEN_FILES, MOST_OPEN_FILES, defaultMaxOpenFiles, maxOpenFilesFor } from "../src/collector/open-file-limit.js";

const limits = (soft: string, hard = soft) =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \nMax processes             94000                94000                processes \n`;

test("collector open-file limit - the default bound is half the process's soft limit, within 16 and 16,384; 1,000 when unknown", () => {
  assert.equal(maxOpenFilesFor(limits("20000")), 10_000);
  assert.equal(maxOpenFilesFor(limits("1024", "524288")), 512, "a low soft limit: well clear of EMFILE");
  assert.equal(maxOpenFilesFor(limits("1048576")), MOST_OPEN_FILES);
  assert.equal(maxOpenFilesFor(limits("unlimited")), MOST_OPEN_FILES);
  assert.equal(maxOpenFilesFor(limits("10")), 16);
  assert.equal(maxOpenFilesFor(limits("many")), FALLBACK_MAX_OPEN_FILES);
  assert.equal(maxOpenFilesFor(""), FALLBACK_MAX_OPEN_FILES);
  assert.equal(maxOpenFilesFor(undefined), FALLBACK_MAX_OPEN_FILES);
  const here = defaultMaxOpenFiles();
  assert.ok(here >= 16 && here <= MOST_OPEN_FILES, `this process: ${here}`);
});
