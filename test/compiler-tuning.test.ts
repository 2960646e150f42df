// The programs' V8 compiler tuning (src/shared/compiler-tuning.ts): set unless node was started
// with the flag, in either spelling.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tuneCompiler } from "../src/shared/compiler-tuning.js";

test("compiler tuning - sets the inlining budget, unless node was given its own", () => {
  assert.equal(tuneCompiler([]), true);
  assert.equal(tuneCompiler(["--enable-source-maps"]), true);
  assert.equal(tuneCompiler(["--max-inlined-bytecode-size-cumulative=920"]), false, "an operator's --flag=value wins");
  assert.equal(tuneCompiler(["--max-inlined-bytecode-size-cumulative", "920"]), false, "and --flag value");
  assert.equal(tuneCompiler(["--max-inlined-bytecode-size=460"]), true, "a different flag is not this one");
});
