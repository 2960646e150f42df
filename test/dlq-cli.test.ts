// Fault test 7 with the real programs: a poison line ends in the dead-letter stream with its
// headers, `shipper dlq list` and `show` show it, `shipper dlq retry` delivers it once and the
// collector writes it once; `purge` empties the store only when told --yes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { partitionOf } from "../src/protocol/partition.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper, ShipperProcess, waitUntil } from "../src/testkit/shipper-process.js";

const HOST = "web2.example.net";

function outputOf(dir: string, host: string): string {
  const hostDir = join(dir, host);
  if (!existsSync(hostDir)) return "";
  return readdirSync(hostDir).sort().map((f) => readFileSync(join(hostDir, f), "utf8")).join("");
}

/** Plays a collector that can never write the next line of `stream`: terminates it. */
async function terminateNext(nc: NatsConnection, stream: string): Promise<number> {
  const m = await (await jetstream(nc).consumers.get(stream, "COLLECTOR")).next({ expires: 5_000 });
  assert.ok(m, "a line was delivered");
  m.term(); // plain term(): 2.9 ignores a reason
  await nc.flush();
  return m.seq;
}

test("dlq cli - fault 7: a poison line ends in the dead-letter stream with its headers, list and show it, retry delivers it once and the collector writes it once", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const out = mkdtempSync(join(tmpdir(), "shipper-dlq-"));
  const children: ShipperProcess[] = [];
  try {
    const env = { NATS_URL: server.url };
    const setup = await runShipper(["setup", "--partitions", "2"], env);
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /created: stream SHIPPER_DLQ \(shipper\.dlq\.>, file storage, limits retention, max-age 30d, replicas 1\)/);
    assert.match(setup.stdout, /created: consumer SHIPPER_ADVISORIES > DEADLETTERS_LOGS/);
    assert.match(setup.stdout, /Dead letters: 3 created, 0 changed, 0 already up to date/);

    const p = partitionOf(HOST, 2);
    const stream = `LOGS_${p}`;
    const subject = `logs.p${p}.${HOST}`;
    const js = jetstream(nc);
    await js.publish(subject, "poison line");
    assert.equal(await terminateNext(nc, stream), 1);

    // The worker was not running when the line was terminated: the advisory waited for it.
    const worker = new ShipperProcess(["dlq", "worker"], env);
    children.push(worker);
    await worker.waitForOutput(/copied to SHIPPER_DLQ #1/);
    const stopped = await worker.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /dead-letter worker stopped: 1 dead letter stored/);

    const list = await runShipper(["dlq", "list"], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`│\\s+1 │ [0-9: -]+ │ terminated │ ${stream}#1\\s+│ ${subject.replace(/\./g, "\\.")} │\\s+1 │ 11 B │`));
    assert.match(list.stdout, /1 of 1 dead letter shown/);
    const json = await runShipper(["dlq", "list", "--json"], env);
    const [entry] = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.equal(entry!.seq, 1);
    assert.equal(entry!.reason, "terminated");
    assert.equal(entry!.stream, stream);
    assert.equal(entry!.streamSeq, 1);
    assert.equal(entry!.subject, subject);
    assert.equal(entry!.deliveries, 1);
    assert.equal(entry!.size, 11);

    const show = await runShipper(["dlq", "show", "1"], env);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`Shipper-DLQ-Stream: ${stream}\n`));
    assert.match(show.stdout, /Shipper-DLQ-Sequence: 1\n/);
    assert.match(show.stdout, /Shipper-Reason: terminated\n/);
    assert.match(show.stdout, /Line \(11 bytes\):\npoison line\n$/);
    const missing = await runShipper(["dlq", "show", "7"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /there is no dead letter #7 in SHIPPER_DLQ/);

    await js.publish(subject, "a later line");
    const retry = await runShipper(["dlq", "retry", "1"], env);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(retry.stdout, `retried #1: ${subject} -> stream ${stream} #3; removed from SHIPPER_DLQ\n`);
    const again = await runShipper(["dlq", "retry", "1"], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /dead letter #1 cannot be retried: there is no entry #1 in SHIPPER_DLQ \(already retried or purged\?\)\n$/);
    assert.equal((await (await jetstreamManager(nc)).streams.info(stream)).state.messages, 3);

    // The real collector writes the retried line, once, after the line that was stored before it.
    const collector = new ShipperProcess(["collector"], { ...env, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "%Y%m%d.log" });
    children.push(collector);
    await waitUntil("both lines written", () => outputOf(out, HOST).split("\n").length >= 3 || !collector.running, 20_000);
    const done = await collector.stop();
    assert.equal(done.code, 0, done.stderr);
    assert.equal(outputOf(out, HOST), "a later line\npoison line\n");
    assert.equal((await runShipper(["dlq", "list"], env)).stdout, "The dead-letter stream SHIPPER_DLQ is empty.\n");
  } finally {
    for (const c of children) await c.stop(2_000);
    await nc.close();
    await server.dispose();
    rmSync(out, { recursive: true, force: true });
  }
});

test("dlq cli - agents' dead letters are listed; retry --all keeps what cannot be sent; purge asks for --yes, then empties", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const env = { NATS_URL: server.url };
    assert.equal((await runShipper(["setup", "--partitions", "2"], env)).code, 0);
    const js = jetstream(nc);
    for (const [host, part] of [["web1.example.net", "1/2"], ["web1.example.net", "2/2"]] as const) {
      const h = headers();
      h.set("Shipper-Subject", `logs.p1.${host}`);
      h.set("Shipper-Reason", "oversize: 2000000 bytes, max 1048576");
      h.set("Shipper-Part", part);
      await js.publish(`shipper.dlq.agent.${host}`, `half ${part}`, { headers: h });
    }
    const list = await runShipper(["dlq", "list"], env);
    assert.match(list.stdout, /│\s+1 │ [0-9: -]+ │ oversize: 2000000 bytes, max 1048576 │ agent web1\.example\.net │ logs\.p1\.web1\.example\.net │\s+- │\s+8 B │/);

    const all = await runShipper(["dlq", "retry", "--all"], env);
    assert.equal(all.code, 1);
    assert.match(all.stderr, /dead letter #1 cannot be retried: it is part 1\/2 of a line split in parts; a part alone would not be joined; it stays in SHIPPER_DLQ/);
    assert.match(all.stdout, /Retried 0 of 2 dead letters; 2 could not be retried and stay in SHIPPER_DLQ\./);
    const neither = await runShipper(["dlq", "retry"], env);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /give either one dead letter number or --all/);

    const asked = await runShipper(["dlq", "purge"], env);
    assert.equal(asked.code, 2);
    assert.match(asked.stderr, /this removes all 2 dead letters from SHIPPER_DLQ for good; run it again with --yes/);
    assert.match((await runShipper(["dlq", "list"], env)).stdout, /2 of 2 dead letters shown/);
    const purged = await runShipper(["dlq", "purge", "--yes"], env);
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(purged.stdout, "Removed 2 dead letters from SHIPPER_DLQ.\n");
    assert.equal((await runShipper(["dlq", "list"], env)).stdout, "The dead-letter stream SHIPPER_DLQ is empty.\n");
  } finally {
    await nc.close();
    await server.dispose();
  }
});

test("dlq cli - without a dead-letter store every command says to run setup", async () => {
  const server = await NatsServer.start();
  try {
    const env = { NATS_URL: server.url };
    assert.equal((await runShipper(["setup", "--partitions", "2", "--no-dead-letters"], env)).code, 0);
    const list = await runShipper(["dlq", "list"], env);
    assert.equal(list.code, 2);
    assert.equal(list.stderr, "the dead-letter stream SHIPPER_DLQ does not exist; run `shipper setup` to create it\n");
  } finally {
    await server.dispose();
  }
});
