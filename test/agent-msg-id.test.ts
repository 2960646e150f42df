import { test } from "node:test";
import assert from "node:assert/strict";
import { MsgIdHeaderEncoder } from "../src/agent/msg-id-header.js";
import { fileVersionKey, lineMsgId, parseMsgId, partMsgId } from "../src/protocol/msg-id.js";
import { formatPart, parsePart } from "../src/protocol/line-parts.js";
import { agentDeadLetterSubject } from "../src/protocol/agent-dead-letter.js";

test("agent msg id - a line id is <host>:<dev>:<ino>:<fingerprint>:<generation>:<offset> and parses back", () => {
  const version = fileVersionKey("2049", "131074", "9f3a1c2e", 3);
  const id = lineMsgId("web1.example.net", version, 123456);
  assert.equal(id, "web1.example.net:2049:131074:9f3a1c2e:3:123456");
  assert.deepEqual(parseMsgId(id), {
    host: "web1.example.net",
    dev: "2049",
    ino: "131074",
    fingerprint: "9f3a1c2e",
    generation: 3,
    originKey: "web1.example.net:2049:131074:9f3a1c2e:3",
    offset: 123456,
  });
});

test("agent msg id - part ids end in :p<k>, and hosts holding ':' are parsed from the right", () => {
  const line = lineMsgId("fe80::1:web", fileVersionKey("1", "2", "00000000", 0), 9);
  const part = partMsgId(line, 12);
  assert.equal(part, "fe80::1:web:1:2:00000000:0:9:p12");
  const parsed = parseMsgId(part)!;
  assert.equal(parsed.host, "fe80::1:web");
  assert.equal(parsed.part, 12);
  assert.equal(parsed.offset, 9);
  assert.equal(parsed.originKey, "fe80::1:web:1:2:00000000:0");
  assert.equal(parseMsgId(line)!.part, undefined);
  // a host whose last token looks like a part number is still a host
  assert.equal(parseMsgId(lineMsgId("p7", fileVersionKey("1", "2", "abcdef01", 0), 5))!.host, "p7");
});

test("agent msg id - ids that are not ours do not parse", () => {
  for (const bad of ["", "abc", "h:1:2:3:4:5", "h:1:2:zzzzzzzz:0:5", ":1:2:9f3a1c2e:0:5", "h:1:2:9f3a1c2e:0:05", "h:1:2:9f3a1c2e:0:5:p0", "h:1:2:9f3a1c2e:-1:5"]) {
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
