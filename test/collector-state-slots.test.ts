import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inTempDir } from "../src/testkit/temp-dir.js";
import { memoryLogger } from "../src/testkit/memory-logger.js";
import { PartitionStateFile, stateFilePath, stateSlotPath, type PartitionStateData } from "../src/collector/partition-state.js";
import { decodeSlot, encodeSlot } from "../src/collector/state-slot.js";
import { plain } from "../src/testkit/plain.js";

const state = (sequence: number, size = sequence * 10): PartitionStateData => ({
  version: 2,
  stream: "LOGS_0",
  streamCreated: "2026-11-27T10:00:00Z",
  sequence,
  hosts: { web1: { path: "/out/web1/logfile", size, origins: { "web1:1:2:abcd:0": sequence * 100 } } },
});

/** A test body run in a fresh temporary directory. */
const withDir = (fn: (dir: string) => Promise<void>) => () => inTempDir("shipper-state-", fn);

const counterOf = (path: string) => {
  const d = decodeSlot(readFileSync(path));
  assert.ok(d.ok);
  return d.counter;
};

test("collector state - saves alternate between two slots; the newest wins on load", withDir(async (dir) => {
  const file = new PartitionStateFile(dir, 3);
  for (const seq of [1, 2, 3]) await file.save(state(seq));
  assert.equal(counterOf(stateSlotPath(dir, 3, 0)), 3);
  assert.equal(counterOf(stateSlotPath(dir, 3, 1)), 2);
  assert.deepEqual(plain(await new PartitionStateFile(dir, 3).load()), state(3));
  // A later collector goes on from the newest slot (overwriting the older one), and so on.
  const again = new PartitionStateFile(dir, 3);
  await again.load();
  await again.save(state(4));
  assert.equal(counterOf(stateSlotPath(dir, 3, 1)), 4);
  assert.equal((await new PartitionStateFile(dir, 3).load())?.sequence, 4);
  // A shorter save in place leaves old bytes after it: they are not part of the state.
  await again.save({ ...state(5), hosts: {} });
  assert.deepEqual(plain((await new PartitionStateFile(dir, 3).load())?.hosts), {});
}));

test("collector state - a torn newest slot falls back to the slot before it, and says so", withDir(async (dir) => {
  const file = new PartitionStateFile(dir, 0);
  await file.save(state(1));
  await file.save(state(2));
  await file.save(state(3)); // slot 0, counter 3
  const newest = stateSlotPath(dir, 0, 0);
  // A crash half way through writing save 4 in place: its first bytes over save 3's.
  const next = encodeSlot(4, JSON.stringify(state(4)));
  const old = readFileSync(newest);
  const torn = Buffer.from(old);
  next.copy(torn, 0, 0, Math.floor(next.length / 2));
  writeFileSync(newest, torn);
  const { log, text } = memoryLogger();
  assert.deepEqual(plain(await new PartitionStateFile(dir, 0, log).load()), state(2));
  assert.match(text(), /a state save was interrupted .*using the save before it \(number 2\)/);
  // The next save goes into the torn slot, never over the good one.
  const going = new PartitionStateFile(dir, 0);
  await going.load();
  await going.save(state(4));
  assert.equal(counterOf(newest), 3); // the number after the good save's
  assert.equal(counterOf(stateSlotPath(dir, 0, 1)), 2);
  assert.deepEqual(plain(await new PartitionStateFile(dir, 0).load()), state(4));
}));

test("collector state - unreadable slots with no good one are an error, never a guess", withDir(async (dir) => {
  const file = new PartitionStateFile(dir, 0);
  await file.save(state(1));
  // One slot, and it is damaged: there is nothing consistent to fall back to.
  writeFileSync(stateSlotPath(dir, 0, 0), "shipper-partition-state 2 1 2 00000000\n{}");
  await assert.rejects(new PartitionStateFile(dir, 0).load(), /the partition state is damaged \(.*checksum.*\); move .* away/);
  // Two slots, both damaged.
  writeFileSync(stateSlotPath(dir, 0, 1), "garbage");
  await assert.rejects(new PartitionStateFile(dir, 0).load(), /the partition state is damaged/);
  // A slot whose checksum holds but whose body is no state is refused too.
  rmSync(stateSlotPath(dir, 0, 1));
  writeFileSync(stateSlotPath(dir, 0, 0), encodeSlot(7, JSON.stringify({ version: 2, hosts: [] })));
  await assert.rejects(new PartitionStateFile(dir, 0).load(), /is not a version 2 partition state/);
  // Saving without loading first still learns the slots, and refuses to overwrite damage blindly.
  writeFileSync(stateSlotPath(dir, 0, 1), "garbage");
  writeFileSync(stateSlotPath(dir, 0, 0), "garbage");
  await assert.rejects(new PartitionStateFile(dir, 0).save(state(9)), /damaged/);
}));

test("collector state - a version 1 file of an earlier collector is read, and the first save replaces it", withDir(async (dir) => {
  mkdirSync(join(dir, ".shipper"));
  const v1 = { ...state(41), version: 1 as const };
  writeFileSync(stateFilePath(dir, 2), JSON.stringify(v1));
  const file = new PartitionStateFile(dir, 2);
  assert.deepEqual(plain(await file.load()), v1);
  await file.save({ ...v1, sequence: 42 });
  assert.equal(existsSync(stateFilePath(dir, 2)), false);
  assert.deepEqual(plain(await new PartitionStateFile(dir, 2).load()), { ...state(41), sequence: 42 });
  // A damaged version 1 file stays an error.
  const other = join(dir, "other");
  mkdirSync(join(other, ".shipper"), { recursive: true });
  writeFileSync(stateFilePath(other, 0), '{"version":1,"seq');
  await assert.rejects(new PartitionStateFile(other, 0).load(), /is not a version 1 partition state/);
}));

test("collector state - a slot left by a newer save wins over a version 1 file still present", withDir(async (dir) => {
  const file = new PartitionStateFile(dir, 0);
  await file.save(state(5));
  writeFileSync(stateFilePath(dir, 0), JSON.stringify({ ...state(1), version: 1 }));
  assert.equal((await new PartitionStateFile(dir, 0).load())?.sequence, 5);
}));
