import { test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { connect } from "@nats-io/transport-node";
import { planSubject } from "../src/agent/agent.js";
import { resolvePartitionCount } from "../src/agent/partition-count.js";
import { agentConfigFrom } from "../src/cli/commands/agent.js";
import { ConfigError } from "../src/config/errors.js";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper, ShipperProcess } from "../src/testkit/shipper-process.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";

const ENV = { SHIPPER_FILE: "/var/log/syslog", SHIPPER_SUBJECT: "logs", NATS_URL: "nats://127.0.0.1:4222", HOSTNAME: "web1.example.net" };

function configError(env: NodeJS.ProcessEnv, flags = {}): string {
  try {
    agentConfigFrom(flags, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

test("agent config - the original's variables give the configuration", () => {
  const config = agentConfigFrom({}, { ...ENV, SHIPPER_PARTITIONS: "10" });
  assert.deepEqual(config.files, ["/var/log/syslog"]);
  assert.equal(config.prefix, "logs");
  assert.equal(config.partitions, 10);
  assert.equal(config.host, "web1.example.net");
  assert.deepEqual(config.connection.servers, ["nats://127.0.0.1:4222"]);
  assert.equal(config.maxInFlight, 5_000);
  assert.equal(config.maxInFlightBytes, 8 * 1024 * 1024);
  assert.equal(config.ackTimeoutMs, 5000);
  assert.equal(config.pollIntervalMs, 250);
  assert.equal(config.batchLines, 1, "one message per line unless batching is asked for");
  assert.equal(config.batchBytes, 64 * 1024);
});

test("agent config - batching: --batch-lines or SHIPPER_BATCH_LINES, --batch-bytes", () => {
  assert.equal(agentConfigFrom({}, { ...ENV, SHIPPER_BATCH_LINES: "500" }).batchLines, 500);
  assert.equal(agentConfigFrom({ batchLines: "20" }, { ...ENV, SHIPPER_BATCH_LINES: "500" }).batchLines, 20);
  assert.equal(agentConfigFrom({ batchBytes: "256KiB" }, ENV).batchBytes, 256 * 1024);
  assert.match(configError(ENV, { batchLines: "0" }), /^SHIPPER_BATCH_LINES \(--batch-lines\) must be a whole number from 1/);
  assert.match(configError({ ...ENV, SHIPPER_BATCH_LINES: "many" }), /^SHIPPER_BATCH_LINES/);
  assert.match(configError(ENV, { batchBytes: "0" }), /^--batch-bytes/);
});

test("agent config - flags win over variables, and the OS host name is the default", () => {
  const { HOSTNAME: _, ...env } = ENV;
  const config = agentConfigFrom(
    { file: "/tmp/a.log", subject: "applogs", partitions: "4", maxInFlight: "500", ackTimeout: "2s", maxInFlightBytes: "1MiB" },
    env,
  );
  assert.deepEqual(config.files, ["/tmp/a.log"]);
  assert.equal(config.prefix, "applogs");
  assert.equal(config.partitions, 4);
  assert.equal(config.host, hostname());
  assert.equal(config.maxInFlight, 500);
  assert.equal(config.ackTimeoutMs, 2000);
  assert.equal(config.maxInFlightBytes, 1024 * 1024);
  assert.equal(agentConfigFrom({ host: "db1.example.net" }, ENV).host, "db1.example.net");
});

test("agent config - unset or empty partitions mean the deployment's count (resolved later)", () => {
  assert.equal(agentConfigFrom({}, ENV).partitions, undefined);
  assert.equal(agentConfigFrom({}, { ...ENV, SHIPPER_PARTITIONS: "" }).partitions, undefined);
  assert.equal(agentConfigFrom({}, { ...ENV, SHIPPER_PARTITIONS: "0" }).partitions, 0);
});

test("agent config - a missing SHIPPER_FILE or SHIPPER_SUBJECT gets the original's message", () => {
  const { SHIPPER_FILE: _f, ...noFile } = ENV;
  assert.equal(configError(noFile), "Please set a file to publish using SHIPPER_FILE");
  assert.equal(configError({ ...ENV, SHIPPER_FILE: "  " }), "Please set a file to publish using SHIPPER_FILE");
  const { SHIPPER_SUBJECT: _s, ...noSubject } = ENV;
  assert.equal(configError(noSubject), "Please set a subject prefix using SHIPPER_SUBJECT");
});

test("agent config - negative and non-numeric SHIPPER_PARTITIONS are refused, naming it", () => {
  for (const bad of ["-1", "abc", "1.5", "10 partitions"]) {
    assert.match(configError({ ...ENV, SHIPPER_PARTITIONS: bad }), /^SHIPPER_PARTITIONS .*whole number.*got "/, bad);
  }
});

test("agent config - NATS_URL is required, and the prefix, host and tuning flags are checked", () => {
  const { NATS_URL: _, ...noUrl } = ENV;
  assert.match(configError(noUrl), /NATS_URL/);
  assert.match(configError({ ...ENV, SHIPPER_SUBJECT: "logs.>" }), /^SHIPPER_SUBJECT .*wildcard/);
  assert.match(configError({ ...ENV, SHIPPER_SUBJECT: "logs..x" }), /^SHIPPER_SUBJECT .*empty token/);
  assert.match(configError({ ...ENV, HOSTNAME: "bad host" }), /^HOSTNAME .*white space/);
  assert.match(configError({ ...ENV, HOSTNAME: ".hidden" }), /^HOSTNAME .*empty subject token/);
  assert.match(configError(ENV, { maxInFlight: "0" }), /^--max-in-flight/);
  assert.match(configError(ENV, { ackTimeout: "soon" }), /^--ack-timeout/);
  assert.match(configError(ENV, { maxInFlightBytes: "0" }), /^--max-in-flight-bytes/);
});

test("agent config - an explicit partition count must agree with the deployment's record", () => {
  const recorded = { prefix: "logs", partitions: 10 };
  assert.equal(resolvePartitionCount(undefined, undefined), 0);
  assert.equal(resolvePartitionCount(4, undefined), 4);
  assert.equal(resolvePartitionCount(undefined, recorded), 10);
  assert.equal(resolvePartitionCount(10, recorded), 10);
  assert.throws(() => resolvePartitionCount(4, recorded), (err: Error) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^SHIPPER_PARTITIONS \(--partitions\) is 4, but the deployment for prefix "logs" was set up with 10 partitions/);
    return true;
  });
  assert.throws(() => resolvePartitionCount(0, recorded), ConfigError);
});

test("agent config - the partition count comes from the recorded layout, and a disagreeing one stops the program", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    assert.deepEqual(await planSubject(nc, { prefix: "logs", host: "web1.example.net" }), {
      partitions: 0,
      partition: 0,
      subject: "logs.p0.web1.example.net",
    });
    await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 10, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
    assert.deepEqual(await planSubject(nc, { prefix: "logs", host: "web1.example.net" }), {
      partitions: 10,
      partition: 5,
      subject: "logs.p5.web1.example.net",
    });
    await assert.rejects(planSubject(nc, { prefix: "logs", partitions: 4, host: "web1.example.net" }), ConfigError);

    const exit = await runShipper(["agent"], { ...ENV, NATS_URL: server.url, SHIPPER_PARTITIONS: "4" }, { timeoutMs: 20_000 });
    assert.equal(exit.code, 2);
    assert.equal(exit.stderr.trim().split("\n").length, 1, exit.stderr);
    assert.match(exit.stderr, /^SHIPPER_PARTITIONS \(--partitions\) is 4, but the deployment for prefix "logs" was set up with 10 partitions/);
  } finally {
    await nc.close();
    await server.dispose();
  }
});

test("agent config - the program prints the original's one line and exits 2", async () => {
  const exit = await runShipper(["producer"], { SHIPPER_SUBJECT: "logs", NATS_URL: "nats://127.0.0.1:4222" }, { inheritEnv: false });
  assert.equal(exit.code, 2);
  assert.equal(exit.stderr, "Please set a file to publish using SHIPPER_FILE\n");
  const bad = await runShipper(["agent"], { ...ENV, SHIPPER_PARTITIONS: "-3" }, { inheritEnv: false });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^SHIPPER_PARTITIONS \(--partitions\) must be a whole number of partitions \(0 or more\), got "-3"\n$/);
});

test("agent config - files: --file repeats and takes comma lists (not inside braces), SHIPPER_FILE too; flags win", () => {
  assert.deepEqual(agentConfigFrom({ file: ["/a.log", "/b.log,/c/*.log"] }, ENV).files, ["/a.log", "/b.log", "/c/*.log"]);
  assert.deepEqual(agentConfigFrom({}, { ...ENV, SHIPPER_FILE: "/x/{a,b}.log, /y.log" }).files, ["/x/{a,b}.log", "/y.log"]);
  assert.deepEqual(agentConfigFrom({}, { ...ENV, SHIPPER_FILE: "/odd\\,name.log" }).files, ["/odd,name.log"]);
  assert.deepEqual(agentConfigFrom({ file: "/only.log" }, ENV).files, ["/only.log"]);
  assert.equal(configError({ ...ENV, SHIPPER_FILE: " , " }), "Please set a file to publish using SHIPPER_FILE");
});

test("agent config - state directory, save and scan intervals, oversize mode", () => {
  const config = agentConfigFrom({}, { ...ENV, SHIPPER_STATE_DIR: "/srv/shipper-state" });
  assert.equal(config.stateDir, "/srv/shipper-state");
  assert.equal(config.saveIntervalMs, 200);
  assert.equal(config.scanIntervalMs, 1000);
  assert.equal(config.oversize, "split");
  assert.match(agentConfigFrom({}, ENV).stateDir, /\/agent\/web1\.example\.net$/);
  assert.equal(agentConfigFrom({ stateDir: "/flag", oversize: "dead-letter", saveInterval: "1s" }, { ...ENV, SHIPPER_STATE_DIR: "/env" }).stateDir, "/flag");
  assert.equal(agentConfigFrom({}, { ...ENV, SHIPPER_OVERSIZE: "dead-letter" }).oversize, "dead-letter");
  assert.match(configError({ ...ENV, SHIPPER_OVERSIZE: "drop" }), /^SHIPPER_OVERSIZE \(--oversize\) must be one of split, dead-letter, got "drop"/);
  assert.match(configError(ENV, { saveInterval: "0s" }), /^--save-interval/);
});

test("agent config - a second agent on the same state directory exits 2 naming the first one's pid", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const dir = mkdtempSync(join(tmpdir(), "shipper-agent-lock-"));
  const env = { ...ENV, NATS_URL: server.url, SHIPPER_FILE: join(dir, "app.log"), SHIPPER_STATE_DIR: join(dir, "state") };
  const first = new ShipperProcess(["agent"], env);
  try {
    await (await jetstreamManager(nc)).streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
    await first.waitForOutput(/waiting for .* to appear/);
    const second = await runShipper(["agent"], env, { timeoutMs: 20_000 });
    assert.equal(second.code, 2, second.stderr);
    assert.equal(
      second.stderr.trim().split("\n").at(-1),
      `the state directory "${join(dir, "state")}" is in use by another agent (pid ${first.pid}); stop that agent, or give this one its own SHIPPER_STATE_DIR (--state-dir)`,
    );
    assert.equal((await first.stop()).code, 0);
  } finally {
    await first.kill();
    await nc.close();
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("agent config - --help documents files, globs, the state directory and the oversize mode", async () => {
  const help = (await runShipper(["agent", "--help"])).stdout;
  for (const want of [/glob pattern/, /comma-separated/, /SHIPPER_STATE_DIR/, /\/var\/lib\/shipper\/agent\/<host>/, /~\/\.local\/state\/shipper\/agent\/<host>/, /--oversize <mode>/, /split/, /dead-letter/]) {
    assert.match(help, want);
  }
});
