import { test } from "node:test";
import assert from "node:assert/strict";
import { base36Length, decimalLength, FrameEncoder } from "../src/agent/frame-encoder.js";
import { MsgIdHeaderEncoder } from "../src/agent/msg-id-header.js";
import { lineMsgId } from "../src/protocol/msg-id.js";

function collect(arenaBytes?: number): { encoder: FrameEncoder; out: () => string; writes: () => number } {
  const parts: Buffer[] = [];
  const encoder = new FrameEncoder((b) => parts.push(Buffer.from(b)), arenaBytes);
  return { encoder, out: () => Buffer.concat(parts).toString("utf8"), writes: () => parts.length };
}

/** What nats.js writes for publish(subject, payload, { reply, headers }). */
function hpub(subject: string, reply: string, header: string, payload: string): string {
  const h = Buffer.byteLength(header);
  return `HPUB ${subject} ${reply} ${h} ${h + Buffer.byteLength(payload)}\r\n${header}${payload}\r\n`;
}

test("agent frames - a line frame is the HPUB nats.js would write, with the line's message id", () => {
  const ids = new MsgIdHeaderEncoder();
  ids.use("wëb1.example.net", "2049:77:0badf00d:1");
  const { encoder, out } = collect();
  const start = Buffer.from("HPUB logs.p4.wëb1.example.net _INBOX.abc.", "utf8");
  const payloads = ["", "a", "ünïcödé line\r", "x".repeat(5000)];
  const offsets = [0, 9, 4_294_967_296 + 17, 2 ** 53 - 1];
  let expected = "";
  for (let i = 0; i < payloads.length; i++) {
    const seq = [1, 10, 999_999_999, 1_234_567_890_123][i]!;
    const data = Buffer.from(`>>${payloads[i]!}<<`, "utf8");
    encoder.line(start, seq, ids.prefixBytes, offsets[i]!, data, 2, data.length - 2);
    const id = lineMsgId("wëb1.example.net", "2049:77:0badf00d:1", offsets[i]!);
    expected += hpub("logs.p4.wëb1.example.net", `_INBOX.abc.${seq}`, `NATS/1.0\r\nNats-Msg-Id: ${id}\r\n\r\n`, payloads[i]!);
  }
  encoder.flush();
  assert.equal(out(), expected);
});

test("agent frames - a frame with a prepared header block, and frames larger than the arena", () => {
  const { encoder, out, writes } = collect(64);
  const start = Buffer.from("HPUB s _I.", "latin1");
  const header = "NATS/1.0\r\nNats-Msg-Id: h:1:2:0badf00d:0:5:p1\r\nShipper-Part: 1/2\r\n\r\n";
  const y = Buffer.from("y".repeat(100));
  encoder.frame(start, 7, Buffer.from(header), y, 0, y.length);
  encoder.frame(start, 8, Buffer.from(header), Buffer.from("az"), 1, 2);
  encoder.flush();
  encoder.flush(); // nothing pending: no empty write
  assert.equal(out(), hpub("s", "_I.7", header, "y".repeat(100)) + hpub("s", "_I.8", header, "z"));
  assert.equal(writes(), 2, "the first frame is handed out when the second needs a new arena");
});

test("agent frames - base-36 lengths", () => {
  for (let n = 1; n < 2 ** 53; n = n * 36) {
    for (const m of [n - 1, n, n + 1, 2 * n]) assert.equal(base36Length(m), m.toString(36).length, String(m));
  }
  assert.equal(base36Length(2 ** 53 - 1), (2 ** 53 - 1).toString(36).length);
});

test("agent frames - decimal lengths", () => {
  for (const n of [0, 9, 10, 99, 100, 999_999_999, 1_000_000_000, 2 ** 31, 2 ** 53 - 1]) {
    assert.equal(decimalLength(n), String(n).length, String(n));
  }
});
