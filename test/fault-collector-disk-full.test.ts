// Fault 6: the collector's disk fills up while lines arrive, then space is freed. Writes (and
// state saves) fail with ENOSPC and are retried in place, nothing is acknowledged unwritten, the
// collector keeps running, and once there is room every line is in its host's file once, in
// order. A 1 MiB tmpfs (remounted larger to free space) when mount works (root); otherwise an
// injected file system that refuses writes past a quota, with the collector run in-process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { Collector } from "../src/collector/collector.js";
import { FileSink } from "../src/collector/file-sink.js";
import { Quarantine } from "../src/collector/quarantine.js";
import { PullReader } from "../src/collector/pull-reader.js";
import { PartitionStateFile } from "../src/collector/partition-state.js";
import { nodeSinkFileSystem, type SinkFileSystem } from "../src/collector/sink-fs.js";
import { SubjectParser } from "../src/protocol/subjects.js";
import { parseOutputPattern } from "../src/config/output-pattern.js";
import { createLogger } from "../src/shared/log.js";

const HOSTS = ["web1.example.net", "db1.example.net"];
const LINES = 8000; // per host, ~100 bytes each: ~1.6 MB in all, more than the 1 MiB disk
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function output(out: string, host: string): string {
  const dir = join(out, host);
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
}

async function setUp(nc: NatsConnection): Promise<Map<string, string>> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"] });
  await jsm.consumers.add("LOGS_0", { durable_name: "COLLECTOR", ack_policy: AckPolicy.All, ack_wait: 5_000_000_000 });
  await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 1, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
  const sent = new Map(HOSTS.map((h) => [h, ""]));
  for (let i = 0; i < LINES; i++) {
    for (const host of HOSTS) {
      const line = `${host} line ${String(i).padStart(6, "0")} <14>Nov 27 07:25:19 app[42]: request served ok`;
      nc.publish(`logs.p0.${host}`, line);
      sent.set(host, sent.get(host)! + line + "\n");
    }
    if (i % 1000 === 0) await nc.flush();
  }
  await nc.flush();
  return sent;
}

function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

test("fault collector - disk full (1 MiB tmpfs, or an injected file system), then space freed: nothing lost, order kept", async (t) => {
  const server = await NatsServer.start();
  const work = mkdtempSync(join(tmpdir(), "shipper-fault-disk-"));
  const out = join(work, "out");
  mkdirSync(out);
  const nc = await connect({ servers: server.url });
  const mounted = process.env.SHIPPER_TEST_NO_MOUNT === undefined && mountTmpfs(out, "1m"); // the variable forces the fallback
  let collector: ShipperProcess | undefined;
  try {
    const sent = await setUp(nc);
    const jsm = await jetstreamManager(nc);
    const pending = async () => (await jsm.consumers.info("LOGS_0", "COLLECTOR")).num_pending;
    let stderr = "";
    if (mounted) {
      t.diagnostic("a 1 MiB tmpfs, remounted at 8 MiB to free space");
      collector = new ShipperProcess(["collector"], { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" });
      await collector.waitForOutput(/No space left on device|ENOSPC/, 20_000);
      await sleep(1500); // a few retries while full
      assert.ok(collector.running, "the collector keeps running while the disk is full");
      execFileSync("mount", ["-o", "remount,size=8m", out]);
      await waitUntil("every line written", () => HOSTS.every((h) => output(out, h).length >= sent.get(h)!.length), 40_000);
      await waitUntil("all acknowledged", async () => (await pending()) === 0, 10_000);
      const exit = await collector.stop();
      assert.equal(exit.code, 0, exit.stderr);
      stderr = exit.stderr;
    } else {
      t.diagnostic("mount refused: an injected file system with a 1 MB quota, raised to free space");
      let quota = 1_000_000;
      let used = 0;
      const full = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      const fs: SinkFileSystem = {
        ...nodeSinkFileSystem,
        async openAppend(path, mode) {
          const file = await nodeSinkFileSystem.openAppend(path, mode);
          return {
            sizeAtOpen: file.sizeAtOpen,
            append: async (data) => {
              if (used + data.length > quota) throw full();
              await file.append(data);
              used += data.length;
            },
            sync: () => file.sync(),
            truncate: (n) => file.truncate(n),
            close: () => file.close(),
          };
        },
      };
      const log = createLogger("test", { SHIPPER_LOG_LEVEL: "silent" });
      const stop = new AbortController();
      const run = new Collector({
        readers: [new PullReader({ nc, jsm, stream: "LOGS_0", consumer: "COLLECTOR", partition: 0, log, filter: "" })],
        sink: new FileSink({ directory: out, output: parseOutputPattern("SHIPPER_OUTPUT", "logfile"), log, fs }),
        quarantine: new Quarantine({ directory: out, log }),
        parser: new SubjectParser("logs"),
        log,
        retry: { firstMs: 50, maxMs: 400 },
        states: new Map([[0, { file: new PartitionStateFile(out, 0) }]]),
      });
      const running = run.run(stop.signal);
      await waitUntil("the disk full", () => run.counters.writeErrors > 3, 20_000);
      quota = Infinity;
      await waitUntil("every line written", () => HOSTS.every((h) => output(out, h).length >= sent.get(h)!.length), 40_000);
      await waitUntil("all acknowledged", async () => (await pending()) === 0, 10_000);
      stop.abort();
      await running;
    }
    for (const host of HOSTS) {
      const audit = auditLines(sent.get(host)!, output(out, host));
      t.diagnostic(`${host}: ${JSON.stringify(audit)}`);
      assert.deepEqual(audit, { expected: LINES, received: LINES, missing: 0, duplicated: 0, outOfOrder: 0 }, stderr.slice(-2000));
    }
  } finally {
    await collector?.kill();
    await nc.close().catch(() => {});
    await server.dispose();
    if (mounted) execFileSync("umount", ["-l", out]);
    rmSync(work, { recursive: true, force: true });
  }
});
