import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { FLOOR_BYTES, growthPercentFor, steerHeapGrowth } from "../src/collector/heap-growth.js";

const MB = 1024 * 1024;

test("collector heap growth - a small live heap may grow to the floor; a large one by the percent", () => {
  assert.equal(FLOOR_BYTES, 32 * MB);
  assert.equal(growthPercentFor(16 * MB, 50), 100, "16 MB alive may grow to 32 MB");
  assert.equal(growthPercentFor(20 * MB, 50), 60);
  assert.equal(growthPercentFor(30 * MB, 50), 50, "past two thirds of the floor, the cap binds");
  assert.equal(growthPercentFor(200 * MB, 50), 50);
  assert.equal(growthPercentFor(2 * MB, 50), 300, "never more than V8's own factor allows");
  assert.equal(growthPercentFor(0, 50), 300);
  assert.equal(growthPercentFor(16 * MB, 150), 150, "a larger percent asked for stands");
});

test("collector heap growth - the percent is set again after each full collection, from the heap in use", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void; // a full collection
  // A floor far above this heap: after a full collection the percent is the most V8 allows.
  const steering = steerHeapGrowth(50, 1024 * MB);
  try {
    assert.equal(steering.current, 50, "before any full collection: the cap");
    gc();
    await waitFor(() => steering.current !== 50);
    assert.equal(steering.current, 300);
  } finally {
    steering.stop();
  }
  // With no floor left (one byte), the cap holds after a full collection.
  const capped = steerHeapGrowth(50, 1);
  try {
    gc();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(capped.current, 50);
  } finally {
    capped.stop();
    setFlagsFromString("--heap-growing-percent=0");
  }
});

test("collector heap growth - 0 leaves V8's own growth alone", () => {
  const steering = steerHeapGrowth(0);
  assert.equal(steering.current, 0);
  steering.stop();
});

async function waitFor(ok: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
