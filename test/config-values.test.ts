import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBytes, parseDurationMs, parsePartitionCount, parsePartitionList } from "../src/config/values.js";
import { parseOutputPattern } from "../src/config/output-pattern.js";
import { connectionSettings } from "../src/config/connection.js";
import { ConfigError } from "../src/config/errors.js";

test("config - partition count: empty means unset, negative and non-numeric are refused", () => {
  assert.equal(parsePartitionCount("SHIPPER_PARTITIONS", undefined), undefined);
  assert.equal(parsePartitionCount("SHIPPER_PARTITIONS", ""), undefined);
  assert.equal(parsePartitionCount("SHIPPER_PARTITIONS", "10"), 10);
  assert.throws(() => parsePartitionCount("SHIPPER_PARTITIONS", "-1"), (e: Error) => e instanceof ConfigError && /SHIPPER_PARTITIONS.*whole number/.test(e.message));
  assert.throws(() => parsePartitionCount("SHIPPER_PARTITIONS", "ten"), /SHIPPER_PARTITIONS/);
  assert.throws(() => parsePartitionCount("SHIPPER_PARTITIONS", "2.5"), /SHIPPER_PARTITIONS/);
});

test("config - partition lists tolerate spaces, take ranges, and check ids", () => {
  assert.deepEqual(parsePartitionList("SHIPPER_READ_PARTITIONS", "0, 1"), [0, 1]);
  assert.deepEqual(parsePartitionList("SHIPPER_READ_PARTITIONS", " 3 ,0-2 ", 10), [0, 1, 2, 3]);
  assert.throws(() => parsePartitionList("SHIPPER_READ_PARTITIONS", "0,x"), /"x", which is not a partition id/);
  assert.throws(() => parsePartitionList("SHIPPER_READ_PARTITIONS", "0,,1"), /empty entry/);
  assert.throws(() => parsePartitionList("SHIPPER_READ_PARTITIONS", "12", 10), /partition 12.*10 partitions/);
});

test("config - durations and sizes", () => {
  assert.equal(parseDurationMs("--max-age", "1d"), 86_400_000);
  assert.equal(parseDurationMs("--max-age", "1h30m"), 5_400_000);
  assert.equal(parseDurationMs("--ack-wait", "30"), 30_000);
  assert.throws(() => parseDurationMs("--max-age", "1 fortnight"), /--max-age must be a duration/);
  assert.equal(parseBytes("--max-bytes", "-1"), -1);
  assert.equal(parseBytes("--max-bytes", "1GiB"), 1024 ** 3);
  assert.throws(() => parseBytes("--max-bytes", "lots"), /--max-bytes must be a size/);
});

test("config - output pattern: the original's suffix, day names, and errors at start", () => {
  const plain = parseOutputPattern("SHIPPER_OUTPUT", "logfile");
  assert.equal(plain.pattern, "logfile-%Y%m%d%H%M");
  assert.equal(plain.fileNameFor(new Date(2020, 3, 2, 13, 45)), "logfile-202004020000");
  assert.ok(plain.matches("logfile-202003260000"));
  assert.ok(!plain.matches("other-202003260000"));
  assert.equal(parseOutputPattern("SHIPPER_OUTPUT", "%Y-%m-%d.log").fileNameFor(new Date(2021, 0, 5, 23)), "2021-01-05.log");
  assert.throws(() => parseOutputPattern("SHIPPER_OUTPUT", "log-%Q"), /unknown conversion "%Q"/);
  assert.throws(() => parseOutputPattern("SHIPPER_OUTPUT", "log-%"), /lone "%"/);
  assert.throws(() => parseOutputPattern("SHIPPER_OUTPUT", "a/%Y"), /must not hold "\/"/);
});

test("config - connection: NATS_URL list, TLS needs both halves, missing files are named", () => {
  const s = connectionSettings({ NATS_URL: "nats://a:4222, nats://b:4222" }, {}, { requireUrl: true, name: "t" });
  assert.deepEqual(s.servers, ["nats://a:4222", "nats://b:4222"]);
  assert.throws(() => connectionSettings({}, {}, { requireUrl: true, name: "t" }), /NATS_URL/);
  assert.throws(() => connectionSettings({ NATS_URL: "nats://a", NATS_CREDS: "/nope.creds" }, {}, { requireUrl: true, name: "t" }), /NATS_CREDS names "\/nope.creds", which does not exist/);
  assert.throws(() => connectionSettings({ NATS_URL: "nats://a", NATS_CERTIFICATE: "/etc/hostname" }, {}, { requireUrl: true, name: "t" }), /both NATS_CERTIFICATE and NATS_KEY/);
});
