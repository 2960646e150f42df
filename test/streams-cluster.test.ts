import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsCluster } from "../src/testkit/cluster.js";
import { runShipper } from "../src/testkit/shipper-process.js";
import { LAYOUT_BUCKET, readLayoutRecord } from "../src/streams/layout-record.js";

test("streams cluster - setup --replicas 3 on a 3-node cluster makes R3 streams and an R3 layout record; a rerun changes nothing", async () => {
  const cluster = await NatsCluster.start(3);
  const nc = await connect({ servers: cluster.urls.split(",") });
  try {
    const env = { NATS_URL: cluster.urls };
    // A first deployment with one copy: the layout record's bucket starts as R1.
    const apps = await runShipper(["setup", "--prefix", "apps", "--stream", "APPS", "--partitions", "2"], env);
    assert.equal(apps.code, 0, apps.stdout + apps.stderr);
    const out = await runShipper(["setup", "--partitions", "3", "--replicas", "3"], env);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /created: stream LOGS_2 \(logs\.p2\.>, file storage, limits retention, max-age 1d, replicas 3\)/);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 3; i++) {
      const si = await jsm.streams.info(`LOGS_${i}`);
      assert.equal(si.config.num_replicas, 3);
      assert.equal(si.cluster?.replicas?.length, 2, "a leader and two followers");
    }
    assert.match(out.stdout, /changed: layout record bucket shipper_layouts: num_replicas 1 -> 3/);
    assert.equal((await jsm.streams.info(`KV_${LAYOUT_BUCKET}`)).config.num_replicas, 3);
    const scaled = await runShipper(["setup", "--prefix", "apps", "--replicas", "3"], env);
    assert.equal(scaled.code, 0, scaled.stdout + scaled.stderr);
    assert.match(scaled.stdout, /changed: stream APPS_1: num_replicas 1 -> 3/);
    assert.equal((await jsm.streams.info("APPS_1")).config.num_replicas, 3);
    assert.equal((await readLayoutRecord(nc, "logs"))!.partitions, 3);

    const again = await runShipper(["setup", "--replicas", "3"], env);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /Nothing to change/);

    const more = await runShipper(["setup", "--replicas", "5"], env);
    assert.equal(more.code, 1);
    assert.match(more.stderr, /failed to change: stream LOGS_0: num_replicas 3 -> 5: .*fewer servers .* than --replicas/);
  } finally {
    await nc.close();
    await cluster.dispose();
  }
});
