import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, headers } from "@nats-io/transport-node";
import { Parser } from "@nats-io/nats-core/internal";
import { jetstreamManager } from "@nats-io/jetstream";
import { frameReads, installFastMsgFrames, readFramesOf, wrap, type ParserInternals } from "../src/shared/fast-msg-frames.js";
import { NatsServer } from "../src/testkit/nats-server.js";
import { waitUntil } from "../src/testkit/shipper-process.js";

const latin1 = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString("latin1") : "-");

/** What a parser hands its dispatcher, as text (views copied at once), and how it ended. */
function events(parse: (p: ParserInternals) => void, wrapped: boolean): string[] {
  const out: string[] = [];
  const parser = new Parser({
    push(e: { kind: number; msg?: { subject: Uint8Array; sid: number; reply?: Uint8Array; hdr: number; size: number }; data?: Uint8Array }) {
      const m = e.msg;
      out.push(m ? `MSG ${latin1(m.subject)} ${m.sid} ${latin1(m.reply)} ${m.hdr} ${m.size} ${latin1(e.data)}` : `${e.kind} ${latin1(e.data)}`);
    },
  } as never) as unknown as ParserInternals;
  if (wrapped) wrap(parser);
  try {
    parse(parser);
  } catch (err) {
    out.push(`throws ${(err as Error).message.split(":")[0]}`);
  }
  return out;
}

function inPieces(stream: Buffer, cuts: number[]): (p: ParserInternals) => void {
  return (p) => {
    let from = 0;
    for (const cut of [...cuts.sort((a, b) => a - b), stream.length]) {
      p.parse(stream.subarray(from, cut));
      from = cut;
    }
  };
}

/** Everything a subscriber with headers on received from a real server, as raw bytes. */
async function serverTraffic(big: boolean): Promise<Buffer> {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  const raw = await server.rawClient();
  const got: Buffer[] = [];
  const pongs = (): number => Buffer.concat(got).toString("latin1").split("PONG\r\n").length - 1;
  try {
    raw.on("data", (b: Buffer) => got.push(b));
    raw.write("SUB h.> 1\r\nSUB r.> 22\r\nPING\r\n");
    await waitUntil("subscribed", () => pongs() >= 1, 5_000);
    const h = headers();
    h.set("Nats-Msg-Id", "Ab_-0123456789:1z");
    h.append("Shipper-Part", "1/2");
    nc.publish("h.plain", "a line");
    nc.publish("h.empty", "");
    nc.publish("h.crlf", "two\r\nlines\r\n");
    nc.publish("h.hdr", "with headers", { headers: h });
    nc.publish("h.hdr-empty", "", { headers: h });
    nc.publish("r.reply", "asks", { reply: "_INBOX.abc.1" });
    nc.publish("r.both", "asks with headers", { reply: "_INBOX.abc.2", headers: h });
    nc.publish("h.caf\u00e9", "utf-8 subject \u00e9");
    for (let i = 0; i < 120; i++) nc.publish(`h.host${i % 7}`, `line ${i} ${"x".repeat(i % 50)}`, i % 3 ? { headers: h } : {});
    if (big) nc.publish("h.big", "y".repeat(300_000), { headers: h });
    // PubAcks, as the agent receives them (the server writes them with two spaces).
    await jetstreamManager(nc).then((jsm) => jsm.streams.add({ name: "J", subjects: ["j.>"] }));
    raw.write(Array.from({ length: 20 }, (_, i) => `PUB j.${i} r.ack.${i} 4\r\nline\r\n`).join(""));
    await nc.flush();
    raw.write("PING\r\n");
    await waitUntil("every message", () => pongs() >= 2, 10_000);
    return Buffer.concat(got);
  } finally {
    raw.destroy();
    await nc.close();
    await server.dispose();
  }
}

test("fast msg frames - real server traffic cut at every byte gives nats.js's own messages, in order", async () => {
  const stream = await serverTraffic(false);
  const expected = events(inPieces(stream, []), false);
  assert.ok(expected.filter((e) => e.startsWith("MSG ")).length >= 148, `messages in the capture: ${expected.length}`);
  const before = { ...frameReads };
  assert.deepEqual(events(inPieces(stream, []), true), expected);
  assert.ok(frameReads.fast - before.fast >= 148, "whole frames took the fast way");
  const natsCalls = frameReads.nats - before.nats; // the INFO and PONG lines
  assert.ok(natsCalls <= 3, `only INFO and PONG went to nats.js (${natsCalls})`);
  assert.equal(expected.filter((e) => /^MSG r\.ack\.\d+ 22 - -1 \d+ \{"stream":"J", ?"seq":\d+\}$/.test(e)).length, 20, "the PubAcks are there");
  for (let cut = 1; cut < stream.length; cut++) {
    const natsBefore = frameReads.nats;
    const got = events(inPieces(stream, [cut]), true);
    if (got.length !== expected.length || got.some((e, i) => e !== expected[i])) {
      assert.deepEqual(got, expected, `cut at byte ${cut}`);
    }
    // A message cut in two is held until its end comes, not handed to nats.js's slower path.
    if (frameReads.nats - natsBefore > natsCalls + 1) assert.fail(`cut at byte ${cut}: ${frameReads.nats - natsBefore} calls to nats.js`);
  }
});

test("fast msg frames - a 300 KB message and random cuts into many reads", async () => {
  const stream = await serverTraffic(true);
  const expected = events(inPieces(stream, []), false);
  assert.ok(expected.some((e) => e.startsWith("MSG h.big ")), "the big message is there");
  for (let round = 0; round < 200; round++) {
    const cuts = Array.from({ length: 1 + (round % 40) }, () => 1 + Math.floor(Math.random() * (stream.length - 1)));
    const got = events(inPieces(stream, cuts), true);
    if (got.length !== expected.length || got.some((e, i) => e !== expected[i])) {
      assert.deepEqual(got, expected, `cuts ${cuts.join(",")}`);
    }
  }
});

test("fast msg frames - unusual and malformed frames are left to nats.js, which says the same", () => {
  const frames = [
    "MSG a 1 3\r\nabc\r\n",
    "MSG a\t1 3\r\nabc\r\n",
    "MSG  a 1 3\r\nabc\r\n",
    "MSG a 1  3\r\nabc\r\n",
    "MSG a 1 3 \r\nabc\r\n",
    "msg a 1 3\r\nabc\r\n",
    "HMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    "HMSG a 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    "MSG a 1 0\r\n\r\n",
    "MSG a 1 3\r\nabcXY\r\n",
    "MSG a 1 3\nabc\r\n",
    "+OK\r\n",
    "PING\r\n",
    "PONG\r\n",
    "-ERR 'Unknown Protocol Operation'\r\n",
    'INFO {"server_id":"x"}\r\n',
  ];
  const bad = [
    "MSG a 1234567890123456 3\r\nabc\r\n",
    "MSG a 1 x\r\nabc\r\n",
    "HMSG a 1 20 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    "MSG a 1 2 3 4\r\nabc\r\n",
    "HMSG a 1 r s 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    "MSG a\r\n",
    "MSG a 1 3\rXabc\r\n",
    "XYZ\r\n",
  ];
  const good = Buffer.from(frames.join(""), "latin1");
  const expected = events(inPieces(good, []), false);
  assert.equal(expected.length, frames.length, expected.join("\n"));
  for (let cut = 0; cut <= good.length; cut++) {
    assert.deepEqual(events(inPieces(good, cut ? [cut] : []), true), expected, `cut at ${cut}`);
  }
  for (const frame of bad) {
    const stream = Buffer.from(`MSG ok 1 2\r\nok\r\n${frame}MSG after 1 2\r\nno\r\n`, "latin1");
    const want = events(inPieces(stream, []), false);
    assert.match(want.at(-1)!, /^throws/, `nats.js refuses ${JSON.stringify(frame)}`);
    assert.deepEqual(events(inPieces(stream, []), true), want, JSON.stringify(frame));
  }
});

test("fast msg frames - on a real connection, also after the server restarts", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  try {
    assert.ok(installFastMsgFrames(nc), "nats.js internals are as expected");
    const got: string[] = [];
    nc.subscribe("t.>", { callback: (_e, m) => void got.push(`${m.subject} ${m.string()} ${m.headers?.get("K") ?? ""}`) });
    nc.subscribe("svc", { callback: (_e, m) => void m.respond(`re: ${m.string()}`) });
    const round = async (tag: string): Promise<void> => {
      const before = frameReads.fast;
      const h = headers();
      h.set("K", tag);
      for (let i = 0; i < 100; i++) nc.publish(`t.${tag}`, `${i}`, i % 2 ? { headers: h } : {});
      assert.equal((await nc.request("svc", tag, { timeout: 5_000 })).string(), `re: ${tag}`);
      await waitUntil(`${tag} delivered`, () => got.filter((g) => g.startsWith(`t.${tag} `)).length === 100, 5_000);
      assert.ok(frameReads.fast - before >= 100, `${tag}: the fast reader took the messages`);
    };
    await round("first");
    await server.restart();
    await waitUntil("reconnected", async () => (await nc.request("svc", "up", { timeout: 500 }).then(() => true, () => false)), 15_000);
    await round("again");
    const again = got.filter((g) => g.startsWith("t.again "));
    assert.deepEqual(again.map((g) => g.split(" ")[1]), Array.from({ length: 100 }, (_, i) => `${i}`), "in order");
    assert.deepEqual(again.map((g) => g.split(" ")[2]), Array.from({ length: 100 }, (_, i) => (i % 2 ? "again" : "")));
  } finally {
    await nc.close();
    await server.dispose();
  }
});

test("fast msg frames - a subscription's own reader takes the frames it wants, in order with the rest, and nats.js still counts them", async () => {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  try {
    assert.ok(installFastMsgFrames(nc), "nats.js internals are as expected");
    // One stream of events from both ways: frames the reader takes (odd payloads) and messages it
    // leaves to the callback (even payloads, and anything without headers).
    const seen: string[] = [];
    const sub = nc.subscribe("own.>", { callback: (_e, m) => void seen.push(`cb ${m.subject} ${m.reply || "-"} ${m.headers?.get("K") ?? "-"} ${m.string()}`) });
    readFramesOf(sub, { readFrame: (buf, f) => {
      const data = buf.toString("utf8", f.dataFrom, f.dataTo);
      if (f.headersTo === f.headersFrom || Number(data) % 2 === 0) return false;
      const headersText = buf.toString("utf8", f.headersFrom, f.headersTo);
      assert.match(headersText, /^NATS\/1\.0\r\n[\s\S]*\r\n\r\n$/, "the header block, whole");
      seen.push(`own ${buf.toString("utf8", f.subjectFrom, f.subjectTo)} ${f.replyTo > f.replyFrom ? buf.toString("utf8", f.replyFrom, f.replyTo) : "-"} ${/K: (\S+)/.exec(headersText)![1]} ${data}`);
      return true;
    } });
    const other: string[] = [];
    nc.subscribe("own.>", { callback: (_e, m) => void other.push(m.string()) }); // no reader: nats.js only
    const h = headers();
    h.set("K", "v\u00e9");
    const inBefore = nc.stats().inMsgs;
    for (let i = 0; i < 200; i++) nc.publish(`own.h${i % 3}`, `${i}`, { headers: i % 5 === 4 ? undefined : h, reply: i % 7 === 0 ? `r.${i}` : undefined });
    await nc.flush();
    await waitUntil("all delivered", () => seen.length === 200 && other.length === 200, 5_000);
    const expect = Array.from({ length: 200 }, (_, i) => {
      const own = i % 5 !== 4 && i % 2 === 1;
      return `${own ? "own" : "cb"} own.h${i % 3} ${i % 7 === 0 ? `r.${i}` : "-"} ${i % 5 === 4 ? "-" : "v\u00e9"} ${i}`;
    });
    assert.deepEqual(seen, expect, "each message once, by the reader or the callback, in order");
    assert.equal(nc.stats().inMsgs - inBefore, 400, "nats.js counted every message of both subscriptions");
    assert.equal((sub as unknown as { received: number }).received, 200, "and the subscription's own count");
    // A subscription with a message limit is left to nats.js, which ends it at the limit.
    const limited: string[] = [];
    const once = nc.subscribe("lim", { max: 2, callback: (_e, m) => void limited.push(m.string()) });
    readFramesOf(once, { readFrame: () => assert.fail("a limited subscription's frames go to nats.js") });
    for (let i = 0; i < 3; i++) nc.publish("lim", `${i}`, { headers: h });
    await nc.flush();
    await waitUntil("limited delivered", () => once.isClosed(), 5_000);
    assert.deepEqual(limited, ["0", "1"]);
  } finally {
    await nc.close();
    await server.dispose();
  }
});
