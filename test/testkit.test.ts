import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../src/testkit/nats-server.js";
import { NatsCluster } from "../src/testkit/cluster.js";

test("testkit - a server starts on a free port with JetStream, survives kill and restart on its store", async () => {
  const server = await NatsServer.start();
  try {
    let nc = await connect({ servers: server.url });
    let jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KIT", subjects: ["kit.>"] });
    await nc.close();
    await server.kill();
    assert.equal(server.running, false);
    await server.start();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("KIT");
    assert.equal(info.config.name, "KIT");
    await nc.close();
  } finally {
    await server.dispose();
  }
});

test("testkit - a paused server answers nothing until resumed", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    server.pause();
    await assert.rejects(nc.request("nobody", "x", { timeout: 300 }));
    server.resume();
    await nc.flush();
  } finally {
    await nc.close();
    await server.dispose();
  }
});

test("testkit - a 3-node cluster elects a meta leader and takes an R3 stream", async () => {
  const cluster = await NatsCluster.start(3);
  try {
    const nc = await connect({ servers: cluster.urls.split(",") });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
    assert.equal(info.config.num_replicas, 3);
    await nc.close();
  } finally {
    await cluster.dispose();
  }
});
