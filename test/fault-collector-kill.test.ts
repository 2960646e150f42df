// Fault 2: SIGKILL the real collector at random points, several times, while lines arrive; restart
// it each time. Each host's file must hold every line exactly once, in order: a batch written but
// not yet saved is cut back at start and comes again; a redelivery at or below the saved sequence
// is skipped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { writeLayoutRecord } from "../src/streams/layout-record.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { PartitionStateFile } from "../src/collector/partition-state.js";

const HOSTS = ["web1.example.net", "db1.example.net"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function output(out: string, host: string): string {
  const dir = join(out, host);
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("") : "";
}

test("fault collector - SIGKILL at random points, five times, while lines arrive: every line once, in order", (t) => killAndCount(t, []));

// The memory settings change how lines are batched (a shared read-ahead budget, small batches)
// and when the heap is collected: the guarantee must not depend on them.
test("fault collector - the same with a small shared read-ahead and heap growth (--read-ahead 300 --heap-growth 50 --batch 500)", (t) =>
  killAndCount(t, ["--read-ahead", "300", "--heap-growth", "50", "--batch", "500"]));

// A power loss takes what was never fsynced. With the journal (the default), host files are fsynced
// only at checkpoints: after each SIGKILL every host file is cut back to the size the last saved
// state records, and a file it does not know is removed, the worst a power loss could do. The
// journal's records must put every acknowledged line back.
test("fault collector - SIGKILL and a simulated power loss (host files cut back to the last checkpoint): every line once, in order", (t) =>
  killAndCount(t, [], { powerLoss: true }));

// Without the journal every host file is fsynced before each acknowledgement: the guarantee holds too.
test("fault collector - SIGKILL at random points with --journal off", (t) => killAndCount(t, ["--journal", "off"]));

// A journal left by a killed run is replayed by the next even when that one keeps none, and the
// other way round: switching the setting between restarts loses and duplicates nothing.
test("fault collector - SIGKILL with --journal switched on and off between restarts", (t) =>
  killAndCount(t, [], { flagsFor: (run) => (run % 2 === 1 ? ["--journal", "off"] : []) }));

/** What a power loss could take: every byte of the host files past the sizes the saved state records. */
async function losePower(out: string): Promise<{ cut: number; removed: number }> {
  const state = await new PartitionStateFile(out, 0).load();
  let cut = 0;
  let removed = 0;
  for (const host of HOSTS) {
    const dir = join(out, host);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const mark = state?.hosts[host];
      if (!mark) {
        rmSync(path); // made after the last checkpoint: its name may be lost too
        removed++;
      } else if (mark.path === path && statSync(path).size > mark.size) {
        // (A file the host moved on from, at a new minute here, was fsynced when it was closed.)
        cut += statSync(path).size - mark.size;
        truncateSync(path, mark.size);
      }
    }
  }
  return { cut, removed };
}

async function killAndCount(
  t: { diagnostic(message: string): void },
  flags: string[],
  opts: { powerLoss?: boolean; flagsFor?: (run: number) => string[] } = {},
): Promise<void> {
  const flagsOf = (run: number) => [...flags, ...(opts.flagsFor?.(run) ?? [])];
  const server = await NatsServer.start();
  const out = mkdtempSync(join(tmpdir(), "shipper-fault-ckill-"));
  const nc = await connect({ servers: server.url });
  let collector: ShipperProcess | undefined;
  let publishing = true;
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "LOGS_0", subjects: ["logs.p0.>"], duplicate_window: 1_000_000_000 });
    await jsm.consumers.add("LOGS_0", { durable_name: "COLLECTOR", ack_policy: AckPolicy.All, ack_wait: 2_000_000_000 });
    await writeLayoutRecord(nc, { version: 1, prefix: "logs", partitions: 1, kind: "per-partition", stream: "LOGS", consumer: "COLLECTOR" });
    const sent = new Map(HOSTS.map((h) => [h, ""]));
    const offsets = new Map(HOSTS.map((h) => [h, 0]));
    let n = 0;
    const publisher = (async () => {
      while (publishing) {
        for (const host of HOSTS) {
          for (let i = 0; i < 100; i++) {
            const line = `${host} line ${String(n++).padStart(7, "0")} request served`;
            const offset = offsets.get(host)! + line.length + 1;
            offsets.set(host, offset);
            const h = headers();
            h.set("Nats-Msg-Id", `${host}:1:2:0000abcd:0:${offset}`);
            nc.publish(`logs.p0.${host}`, line, { headers: h });
            sent.set(host, sent.get(host)! + line + "\n");
          }
        }
        await nc.flush();
        await sleep(15);
      }
    })();
    const env = { NATS_URL: server.url, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" };
    let kills = 0;
    let history = ""; // what each killed run complained about, for a failure message
    let cutBacks = 0; // restarts that found a batch written but not saved
    let replays = 0; // restarts that replayed journal records
    let replaysWithoutJournal = 0; // ... while keeping no journal themselves
    let lostBytes = 0; // taken by the simulated power losses
    let lostFiles = 0;
    for (let k = 0; k < 5; k++) {
      collector = new ShipperProcess(["collector", ...flagsOf(k)], env);
      await collector.waitForOutput(/collector: reading/, 30_000);
      await sleep(300 + Math.random() * 1500);
      const killed = await collector.kill();
      kills++;
      if (/cut back/.test(killed.stderr)) cutBacks++;
      if (/replayed [1-9]/.test(killed.stderr)) {
        replays++;
        if (flagsOf(k).includes("off")) replaysWithoutJournal++;
      }
      if (opts.powerLoss) {
        const lost = await losePower(out);
        lostBytes += lost.cut;
        lostFiles += lost.removed;
      }
      history += `--- run ${k + 1}, killed:\n${killed.stderr.split("\n").filter((l) => /WARN|ERROR|written through|replayed/.test(l)).join("\n")}\n`;
    }
    publishing = false;
    await publisher;
    collector = new ShipperProcess(["collector", ...flagsOf(5)], env);
    const want = (h: string) => sent.get(h)!.length;
    await waitUntil("every line written", () => HOSTS.every((h) => output(out, h).length >= want(h)) || !collector!.running, 40_000);
    await sleep(500);
    const exit = await collector.stop();
    assert.equal(exit.code, 0, exit.stderr);
    assert.match(exit.stderr, /written through sequence [1-9]/, "a restart resumed from the saved state");
    if (/replayed [1-9]/.test(exit.stderr)) replays++;
    if (opts.flagsFor) {
      t.diagnostic(`${replaysWithoutJournal} restarts with --journal off replayed the journal a killed run left`);
      assert.ok(replaysWithoutJournal > 0, "a run without a journal replayed one");
    }
    if (opts.powerLoss) {
      t.diagnostic(`simulated power losses took ${lostBytes} bytes and ${lostFiles} files; ${replays} restarts replayed the journal`);
      assert.ok(lostBytes + lostFiles > 0, "the simulated power losses took something");
      assert.ok(replays > 0, "a restart replayed the journal");
    }
    for (const host of HOSTS) {
      const audit = auditLines(sent.get(host)!, output(out, host));
      t.diagnostic(`${host}: ${kills} kills (${cutBacks + (/cut back/.test(exit.stderr) ? 1 : 0)} restarts cut a file back), ${JSON.stringify(audit)}`);
      assert.deepEqual(audit, { expected: audit.expected, received: audit.expected, missing: 0, duplicated: 0, outOfOrder: 0 }, `${history}\n${exit.stderr.slice(-3000)}`);
    }
  } finally {
    publishing = false;
    await collector?.kill();
    await nc.close().catch(() => {});
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
}
