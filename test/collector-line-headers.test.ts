import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Msg } from "@nats-io/transport-node";
import { lineHeaderReads, lineHeaderSpans } from "../src/collector/line-headers.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";

/** Header blocks as publishers may send them, raw (nats.js's own headers() would refuse some). */
const BLOCKS: string[] = [
  "NATS/1.0\r\nNats-Msg-Id: Ab_-0123456789:1z\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id:  spaced \t\r\nShipper-Part: 2/3\r\n\r\n",
  "NATS/1.0\r\nShipper-Batch: 1000\r\nNats-Msg-Id: id:b1000\r\n\r\n",
  "NATS/1.0\r\nnats-msg-id: lower-case is another header\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id: first\r\nNats-Msg-Id: second\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id:\r\nShipper-Part: \r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id-Extra: not it\r\nX: Nats-Msg-Id: no\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id: caf\u00e9\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id: a\u00a0\r\n\r\n",
  "NATS/1.0\r\nNats-Msg-Id\r\nShipper-Batch: 3\r\n\r\n",
  "NATS/1.0\r\n\r\n",
  "NATS/1.0 503\r\n\r\n",
  "NATS/1.0\r\nShipper-Part: 1/2\r\nNats-Msg-Id: no line end",
];

/** What nats.js itself says (the collector's rule: an empty value counts as absent). */
function byNats(msg: Msg): unknown {
  try {
    const h = msg.headers;
    return { msgId: h?.get("Nats-Msg-Id") || undefined, part: h?.get("Shipper-Part") || undefined, batch: h?.get("Shipper-Batch") || undefined };
  } catch (err) {
    return `throws ${(err as Error).message}`;
  }
}

function byScan(msg: Msg): unknown {
  try {
    const h = lineHeaderSpans(msg);
    const value = (from: number, to: number) => (to > from ? h.bytes.toString("utf8", from, to) : undefined);
    return { msgId: value(h.idFrom, h.idTo), part: value(h.partFrom, h.partTo), batch: value(h.batchFrom, h.batchTo) };
  } catch (err) {
    return `throws ${(err as Error).message}`;
  }
}

test("collector line headers - read from the header bytes, they say what nats.js says for every header block, large messages and plain ones", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const got: Msg[] = [];
  nc.subscribe("h.>", { callback: (_err, msg) => void got.push(msg) });
  await nc.flush();
  const raw = await server.rawClient();
  try {
    const frames: Buffer[] = [];
    const payloads = ["a line", "x".repeat(300_000)]; // the large one spans several reads
    for (const [i, block] of BLOCKS.entries()) {
      for (const payload of payloads) {
        const hdr = Buffer.from(block, "utf8");
        const body = Buffer.from(payload);
        frames.push(Buffer.from(`HPUB h.${i} ${hdr.length} ${hdr.length + body.length}\r\n`), hdr, body, Buffer.from("\r\n"));
      }
    }
    frames.push(Buffer.from("PUB h.plain 7\r\nno head\r\n"));
    raw.write(Buffer.concat(frames));
    const expected = BLOCKS.length * payloads.length + 1;
    await waitUntil("every message", () => got.length >= expected, 10_000);

    const before = { ...lineHeaderReads };
    for (const msg of got) {
      assert.deepEqual(byScan(msg), byNats(msg), `${msg.subject}, ${msg.data.length} bytes: ${JSON.stringify(msg.headers?.toString?.() ?? "")}`);
    }
    const fast = lineHeaderReads.fast - before.fast;
    assert.ok(fast >= 8, `the header bytes were read directly for the plain ASCII blocks (${fast} of ${got.length})`);
    assert.ok(lineHeaderReads.nats - before.nats >= 4, "non-ASCII values and large messages are left to nats.js");
    assert.deepEqual(byScan(got.find((m) => m.subject === "h.0")!), { msgId: "Ab_-0123456789:1z", part: undefined, batch: undefined });
  } finally {
    raw.destroy();
    await nc.close();
    await server.dispose();
  }
});
