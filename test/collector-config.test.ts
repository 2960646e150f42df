// Every configuration mistake of the collector: one line naming the setting, before anything starts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { collectorConfigFrom } from "../src/cli/commands/collector.js";
import { choosePartitions } from "../src/collector/partitions.js";
import { ConfigError } from "../src/config/errors.js";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper } from "../src/testkit/shipper-process.js";

const GOOD: NodeJS.ProcessEnv = {
  NATS_URL: "nats://127.0.0.1:4222",
  SHIPPER_SUBJECT: "logs",
  SHIPPER_DIRECTORY: "/tmp/shipper",
  SHIPPER_OUTPUT: "logfile",
};

function without(name: string): NodeJS.ProcessEnv {
  const env = { ...GOOD };
  delete env[name];
  return env;
}

function configError(env: NodeJS.ProcessEnv): string {
  try {
    collectorConfigFrom({}, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/, "one line");
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

test("collector config - each missing required variable is named in the original's style", () => {
  assert.equal(configError(without("SHIPPER_SUBJECT")), "Please set a subject prefix to consume using SHIPPER_SUBJECT");
  assert.equal(configError(without("SHIPPER_DIRECTORY")), "Please set a directory to write to using SHIPPER_DIRECTORY");
  assert.equal(configError(without("SHIPPER_OUTPUT")), "Please set an output file name pattern using SHIPPER_OUTPUT");
  assert.equal(configError(without("NATS_URL")), "Please set the NATS Server URL using NATS_URL (or --server)");
  assert.equal(configError({ ...GOOD, SHIPPER_DIRECTORY: "  " }), "Please set a directory to write to using SHIPPER_DIRECTORY");
});

test("collector config - an invalid strftime pattern is refused at start", () => {
  assert.match(configError({ ...GOOD, SHIPPER_OUTPUT: "log-%Q" }), /SHIPPER_OUTPUT "log-%Q" has the unknown conversion "%Q"/);
  assert.match(configError({ ...GOOD, SHIPPER_OUTPUT: "log-%Y%" }), /SHIPPER_OUTPUT "log-%Y%" ends with a lone "%"/);
  assert.match(configError({ ...GOOD, SHIPPER_OUTPUT: "a/%Y" }), /SHIPPER_OUTPUT is a file name inside each host's directory/);
  const config = collectorConfigFrom({}, { ...GOOD, SHIPPER_OUTPUT: "logfile" });
  assert.equal(config.output.fileNameFor(new Date(2020, 3, 2, 13, 10)), "logfile-202004020000");
});

test("collector config - SHIPPER_READ_PARTITIONS tolerates spaces, refuses what is not an id or beyond the deployment", () => {
  assert.match(configError({ ...GOOD, SHIPPER_READ_PARTITIONS: "0,x" }), /SHIPPER_READ_PARTITIONS \(--partitions\) has "x", which is not a partition id/);
  assert.match(configError({ ...GOOD, SHIPPER_READ_PARTITIONS: "0,,1" }), /has an empty entry/);
  assert.match(configError({ ...GOOD, SHIPPER_READ_PARTITIONS: "-1" }), /not a partition id/);
  const config = collectorConfigFrom({}, { ...GOOD, SHIPPER_READ_PARTITIONS: "0, 1,2,3,4,5,6,7,8,9" });
  assert.deepEqual(choosePartitions(config.readPartitions, { partitions: 10 }), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(choosePartitions(config.readPartitions, undefined), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.throws(
    () => choosePartitions({ setting: "SHIPPER_READ_PARTITIONS", raw: "0, 12" }, { partitions: 10 }),
    /SHIPPER_READ_PARTITIONS names partition 12, but the deployment has 10 partitions \(0-9\)/,
  );
  assert.throws(() => choosePartitions({ setting: "SHIPPER_READ_PARTITIONS", raw: "1" }, { partitions: 0 }), /names partition 1/);
  assert.deepEqual(choosePartitions(undefined, { partitions: 4 }), [0, 1, 2, 3], "all of the deployment by default");
  assert.deepEqual(choosePartitions(undefined, undefined), [0], "the original's default without a recorded layout");
});

test("collector config - other settings name themselves", () => {
  assert.match(configError({ ...GOOD, SHIPPER_SUBJECT: "logs.>" }), /^SHIPPER_SUBJECT \(--subject\): .*wildcard/);
  assert.match(configError({ ...GOOD, SHIPPER_STREAM_TARGET: "out..logs" }), /^SHIPPER_STREAM_TARGET \(--stream-target\): the delivery prefix/);
  assert.match(configError({ ...GOOD, SHIPPER_FSYNC: "maybe" }), /^SHIPPER_FSYNC \(--fsync\) must be on or off/);
  assert.match(configError({ ...GOOD, NATS_URL: "http://x/y" }), /^NATS_URL has "http:\/\/x\/y"/);
  assert.equal(collectorConfigFrom({}, { ...GOOD, SHIPPER_FSYNC: "off" }).fsync, false);
  assert.equal(collectorConfigFrom({}, GOOD).fsync, true);
  assert.match(configError({ ...GOOD, SHIPPER_JOURNAL: "maybe" }), /^SHIPPER_JOURNAL \(--journal\) must be on or off/);
  assert.equal(collectorConfigFrom({}, GOOD).journal, true);
  assert.equal(collectorConfigFrom({ journal: "off" }, GOOD).journal, false);
  assert.equal(collectorConfigFrom({}, { ...GOOD, SHIPPER_JOURNAL: "off" }).journal, false);
  assert.equal(collectorConfigFrom({}, GOOD).syncAppends, true);
  assert.equal(collectorConfigFrom({ syncAppends: "off" }, GOOD).syncAppends, false);
  assert.equal(collectorConfigFrom({}, { ...GOOD, SHIPPER_SYNC_APPENDS: "no" }).syncAppends, false);
  assert.match(configError({ ...GOOD, SHIPPER_SYNC_APPENDS: "later" }), /^SHIPPER_SYNC_APPENDS \(--sync-appends\) must be on or off/);
});

test("collector config - batch, linger and read-ahead: defaults, and out-of-range values named", () => {
  const defaults = collectorConfigFrom({}, GOOD);
  assert.deepEqual([defaults.maxBatch, defaults.lingerMs, defaults.readAhead, defaults.heapGrowthPercent], [10_000, 10, 40_000, 50]);
  assert.equal(collectorConfigFrom({ linger: "0" }, GOOD).lingerMs, 0);
  const refused = (flags: Record<string, string>): string => {
    try {
      collectorConfigFrom(flags, GOOD);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return "accepted";
  };
  assert.match(refused({ linger: "-1" }), /--linger/);
  assert.match(refused({ linger: "soon" }), /--linger/);
  assert.match(refused({ linger: "5000" }), /--linger/);
  assert.match(refused({ batch: "0" }), /--batch/);
});

test("collector config - the program prints one line and exits 2: missing variable, partition beyond the deployment, no consumers", async () => {
  const missing = await runShipper(["collector"], without("SHIPPER_DIRECTORY"), { inheritEnv: false });
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "Please set a directory to write to using SHIPPER_DIRECTORY\n");

  const badPattern = await runShipper(["consumer"], { ...GOOD, SHIPPER_OUTPUT: "%Q" }, { inheritEnv: false });
  assert.equal(badPattern.code, 2);
  assert.equal(badPattern.stderr.trim().split("\n").length, 1);

  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-config-"));
  try {
    const nc = await connect({ servers: server.url });
    await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 10, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
    await nc.close();
    const env = { ...GOOD, NATS_URL: server.url, SHIPPER_DIRECTORY: out };
    const beyond = await runShipper(["collector"], { ...env, SHIPPER_READ_PARTITIONS: "0, 12" }, { inheritEnv: false });
    assert.equal(beyond.code, 2, beyond.stderr);
    assert.match(beyond.stderr, /SHIPPER_READ_PARTITIONS \(--partitions\) names partition 12, but the deployment has 10 partitions \(0-9\)\n$/);

    const noConsumers = await runShipper(["collector"], { ...env, SHIPPER_READ_PARTITIONS: "3" }, { inheritEnv: false });
    assert.equal(noConsumers.code, 2, noConsumers.stderr);
    assert.match(noConsumers.stderr, /partition 3: .*consumer "COLLECTOR" on stream "LOGS_3", which cannot be read .*run `shipper setup` first/);
  } finally {
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});
