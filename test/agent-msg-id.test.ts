import { test } from "node:test";
import assert from "node:assert/strict";
import { MsgIdHeaderEncoder } from "../src/agent/msg-id-header.js";
import { fileVersionKey, lineMsgId, longLineMsgId, originToken, parseMsgId, partMsgId } from "../src/protocol/msg-id.js";
import { formatPart, parsePart } from "../src/protocol/line-parts.js";
import { agentDeadLetterSubject } from "../src/protocol/agent-dead-letter.js";

test("agent msg id - a line id is <origin token>:<offset in base 36> and parses back", () => {
  const version = fileVersionKey("2049", "131074", "9f3a1c2e", 3);
  const id = lineMsgId("web1.example.net", version, 123456);
  const token = originToken("web1.example.net", version);
  assert.match(token, /^[A-Za-z0-9_-]{12}$/);
  assert.equal(id, `${token}:2n9c`);
  assert.ok(id.length <= 20, "short: the server keeps every id of its duplicate window");
  assert.deepEqual(parseMsgId(id), { originKey: token, offset: 123456 });
  assert.equal(parseMsgId(lineMsgId("web1.example.net", version, 0))!.offset, 0);
  assert.equal(parseMsgId(lineMsgId("web1.example.net", version, 2 ** 53 - 1))!.offset, 2 ** 53 - 1);
});

test("agent msg id - the origin token differs for every part of the origin", () => {
  const base = originToken("web1.example.net", fileVersionKey("2049", "131074", "9f3a1c2e", 3));
  const others = [
    originToken("web2.example.net", fileVersionKey("2049", "131074", "9f3a1c2e", 3)),
    originToken("web1.example.net", fileVersionKey("2050", "131074", "9f3a1c2e", 3)),
    originToken("web1.example.net", fileVersionKey("2049", "131075", "9f3a1c2e", 3)),
    originToken("web1.example.net", fileVersionKey("2049", "131074", "9f3a1c2f", 3)),
    originToken("web1.example.net", fileVersionKey("2049", "131074", "9f3a1c2e", 4)),
    // fields are joined with ":", so shifting digits between them is another origin too
    originToken("web1.example.net", fileVersionKey("20491", "31074", "9f3a1c2e", 3)),
  ];
  assert.equal(new Set([base, ...others]).size, others.length + 1);
  // the same origin always gives the same token (a re-send after a restart has the same id)
  assert.equal(originToken("web1.example.net", fileVersionKey("2049", "131074", "9f3a1c2e", 3)), base);
});

test("agent msg id - the long form written before still parses, with its long origin key", () => {
  const version = fileVersionKey("2049", "131074", "9f3a1c2e", 3);
  const id = longLineMsgId("web1.example.net", version, 123456);
  assert.equal(id, "web1.example.net:2049:131074:9f3a1c2e:3:123456");
  assert.deepEqual(parseMsgId(id), {
    originKey: "web1.example.net:2049:131074:9f3a1c2e:3",
    offset: 123456,
    origin: { host: "web1.example.net", dev: "2049", ino: "131074", fingerprint: "9f3a1c2e", generation: 3 },
  });
  // a short id's origin key is its token: never equal to a long one
  assert.notEqual(parseMsgId(id)!.originKey, parseMsgId(lineMsgId("web1.example.net", version, 5))!.originKey);
});

test("agent msg id - part ids end in :p<k>, and long-form hosts holding ':' are parsed from the right", () => {
  const version = fileVersionKey("1", "2", "00000000", 0);
  const short = partMsgId(lineMsgId("fe80::1:web", version, 9), 12);
  assert.equal(short, `${originToken("fe80::1:web", version)}:9:p12`);
  assert.deepEqual(parseMsgId(short), { originKey: originToken("fe80::1:web", version), offset: 9, part: 12 });
  const line = longLineMsgId("fe80::1:web", version, 9);
  const part = partMsgId(line, 12);
  assert.equal(part, "fe80::1:web:1:2:00000000:0:9:p12");
  const parsed = parseMsgId(part)!;
  assert.equal(parsed.origin?.host, "fe80::1:web");
  assert.equal(parsed.part, 12);
  assert.equal(parsed.offset, 9);
  assert.equal(parsed.originKey, "fe80::1:web:1:2:00000000:0");
  assert.equal(parseMsgId(line)!.part, undefined);
  // a host whose last token looks like a part number is still a host
  assert.equal(parseMsgId(longLineMsgId("p7", fileVersionKey("1", "2", "abcdef01", 0), 5))!.origin?.host, "p7");
});

test("agent msg id - ids that are not ours do not parse", () => {
  const t = originToken("h", fileVersionKey("1", "2", "9f3a1c2e", 0));
  for (const bad of [
    "", "abc", "h:1:2:3:4:5", "h:1:2:zzzzzzzz:0:5", ":1:2:9f3a1c2e:0:5", "h:1:2:9f3a1c2e:0:05", "h:1:2:9f3a1c2e:0:5:p0", "h:1:2:9f3a1c2e:-1:5",
    `${t}:05`, `${t}:A`, `${t}:`, `${t}:5:p0`, `${t}:5:b1`, `${t}:5:x2`, `${t}x:5`, `${t.slice(1)}:5`, `${t}:5:p2:b3`, `${t}:zzzzzzzzzzz`, "LOGS_0:9",
  ]) {
    assert.equal(parseMsgId(bad), undefined, bad);
  }
});

test("agent msg id - the hand-made header carries exactly lineMsgId()", () => {
  const encoder = new MsgIdHeaderEncoder();
  const version = fileVersionKey("2049", "77", "0badf00d", 1);
  encoder.use("db1.example.net", version);
  const header = encoder.encode(4711).toString("utf8");
  assert.equal(header, `NATS/1.0\r\nNats-Msg-Id: ${lineMsgId("db1.example.net", version, 4711)}\r\n\r\n`);
});

test("agent msg id - Shipper-Part values and the agent dead-letter subject", () => {
  assert.equal(formatPart(2, 5), "2/5");
  assert.deepEqual(parsePart("2/5"), { k: 2, n: 5 });
  for (const bad of [undefined, "", "0/2", "3/2", "1/1", "a/b", "1/2/3"]) assert.equal(parsePart(bad), undefined, String(bad));
  assert.equal(agentDeadLetterSubject("web1.example.net"), "shipper.dlq.agent.web1.example.net");
});

test("agent msg id - the short form is read the same with or without the regular expression, valid or not", () => {
  // The rule as the regular expression states it (msg-id.ts SHORT_ID), for whole-line ids.
  const rule = (id: string) => {
    const m = /^([A-Za-z0-9_-]{12}):(0|[1-9a-z][0-9a-z]{0,10})$/.exec(id);
    if (!m) return "other";
    const offset = parseInt(m[2]!, 36);
    return Number.isSafeInteger(offset) ? { originKey: m[1], offset } : "other";
  };
  const token = originToken("web-01", fileVersionKey("2049", "1234", "0badf00d", 0));
  const ids = [
    `${token}:0`, `${token}:1`, `${token}:zz`, `${token}:00`, `${token}:01`, `${token}:A`, `${token}:`,
    `${token}:zzzzzzzzzzz`, `${token}:1zzzzzzzzzz`, `${token}:zzzzzzzzzzzz`, `${token}:12:p1`, `${token}:12:b3`,
    `${token.slice(1)}:12`, `${token}x:12`, `${token.slice(0, 11)}.:12`, `${token.slice(0, 11)}é:12`, `host:1:2:0badf00d:0:5`,
  ];
  for (let i = 0; i < 2000; i++) ids.push(`${token}:${Math.floor(Math.random() * Number.MAX_SAFE_INTEGER).toString(36)}`);
  for (const id of ids) {
    const expected = rule(id);
    const got = parseMsgId(id);
    if (expected === "other") {
      // Not a plain short id: whatever it is (a part, a batch, the long form, nothing), the plain reading must not claim it.
      assert.ok(!got || got.part !== undefined || got.batch !== undefined || got.origin !== undefined || got.originKey !== id.slice(0, 12), id);
    } else {
      assert.deepEqual({ originKey: got?.originKey, offset: got?.offset }, expected, id);
      assert.equal(got?.part, undefined, id);
      assert.equal(got?.batch, undefined, id);
    }
  }
});
