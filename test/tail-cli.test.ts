import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { runShipper, ShipperProcess } from "../src/testkit/shipper-process.js";
import { partitionOf } from "../src/protocol/partition.js";
import type { TailLine } from "../src/streams/tail.js";

// web1 and str1 are in different partitions (5 and 4 of 10); db1 shares none with them.
const HOSTS = ["web1.example.net", "str1.example.net", "db1.example.net"];

async function publish(nc: NatsConnection, from: number, to: number, partitions = 10): Promise<void> {
  const js = jetstream(nc);
  for (let i = from; i < to; i++) {
    for (const host of HOSTS) await js.publish(`logs.p${partitionOf(host, partitions)}.${host}`, `${host} line ${i}`);
  }
}

async function withDeployment(args: string[], body: (env: NodeJS.ProcessEnv, nc: NatsConnection) => Promise<void>): Promise<void> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const env = { NATS_URL: server.url };
    if (args.length > 0) {
      const setup = await runShipper(["setup", ...args], env);
      assert.equal(setup.code, 0, setup.stderr);
    }
    await body(env, nc);
  } finally {
    await nc.close();
    await server.dispose();
  }
}

function lines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l !== "");
}

test("tail - --host X --all --count N prints the lines of host X only, in order, with stream, sequence, time and subject", async () => {
  await withDeployment(["--partitions", "10"], async (env, nc) => {
    await publish(nc, 0, 20);
    const out = await runShipper(["tail", "--host", "web1.example.net", "--all", "--count", "20"], env, { timeoutMs: 20_000 });
    assert.equal(out.code, 0, out.stderr);
    const got = lines(out.stdout);
    assert.equal(got.length, 20);
    got.forEach((l, i) => {
      assert.match(l, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z LOGS_5#\\d+ web1\\.example\\.net logs\\.p5\\.web1\\.example\\.net \\| web1\\.example\\.net line ${i}$`));
    });
    assert.match(out.stderr, /logs\.p5\.web1\.example\.net in stream LOGS_5 \(partition 5, count from the layout record\)/);
  });
});

test("tail - --last N starts with the last N lines of the host; --json gives one object per line", async () => {
  await withDeployment(["--partitions", "10", "--layout", "single"], async (env, nc) => {
    await publish(nc, 0, 30);
    const out = await runShipper(["tail", "--host", "str1.example.net", "--last", "3", "--count", "3", "--json"], env, { timeoutMs: 20_000 });
    assert.equal(out.code, 0, out.stderr);
    const got = lines(out.stdout).map((l) => JSON.parse(l) as TailLine);
    assert.deepEqual(got.map((l) => l.line), ["str1.example.net line 27", "str1.example.net line 28", "str1.example.net line 29"]);
    assert.ok(got.every((l) => l.stream === "LOGS" && l.host === "str1.example.net" && l.partition === 4 && l.subject === "logs.p4.str1.example.net"));
    assert.ok(got[0]!.seq < got[1]!.seq);
  });
});

test("tail - by default shows only new lines, of the whole partition; SIGINT ends it cleanly", async () => {
  await withDeployment(["--partitions", "10"], async (env, nc) => {
    await publish(nc, 0, 5);
    const tail = new ShipperProcess(["tail", "--partition", "5"], env);
    try {
      await tail.waitForOutput(/Ctrl-C to stop/);
      await publish(nc, 5, 8);
      const deadline = Date.now() + 10_000;
      while (lines(tail.stdout).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      tail.signal("SIGINT");
      const exit = await tail.exited;
      assert.equal(exit.code, 0, exit.stderr);
      assert.deepEqual(
        lines(exit.stdout).map((l) => l.split(" | ")[1]),
        ["web1.example.net line 5", "web1.example.net line 6", "web1.example.net line 7"],
      );
    } finally {
      await tail.kill();
    }
  });
});

test("tail - on a deployment made by hand, the partition count comes from its streams; bad requests fail with one line", async () => {
  await withDeployment([], async (env, nc) => {
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 10; i++) await jsm.streams.add({ name: `LOGS_${i}`, subjects: [`logs.p${i}.>`] });
    await publish(nc, 0, 4);
    const out = await runShipper(["tail", "--host", "db1.example.net", "--since", "1h", "--count", "4"], env, { timeoutMs: 20_000 });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(lines(out.stdout).map((l) => l.split(" | ")[1]), [0, 1, 2, 3].map((i) => `db1.example.net line ${i}`));

    const both = await runShipper(["tail", "--host", "a", "--partition", "1"], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --host <name> or --partition <id>/);
    const missing = await runShipper(["tail", "--partition", "12"], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--partition 12 does not exist: the deployment has 10 partitions/);
    const nostream = await runShipper(["tail", "--host", "x", "--prefix", "other", "--partitions", "3"], env);
    assert.equal(nostream.code, 2);
    assert.match(nostream.stderr, /no stream captures other\.p\d\.x; run `shipper setup --prefix other`/);
  });
});
