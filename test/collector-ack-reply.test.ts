import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAckReply, scanAckReply } from "../src/collector/ack-reply.js";

test("collector ack reply - delivery numbers are read from both reply forms, and nothing from malformed ones", () => {
  const v1 = "$JS.ACK.LOGS_3.COLLECTOR.2.41234.40001.1764240000123456789.17";
  const v2 = "$JS.ACK.hub.ACCHASH.LOGS_3.COLLECTOR.2.41234.40001.1764240000123456789.17.Xy7q";
  for (const reply of [v1, v2]) {
    assert.deepEqual({ ...scanAckReply(Buffer.from(reply)) }, { deliveries: 2, streamSequence: 41234, deliverySequence: 40001 }, reply);
    const full = parseAckReply(reply)!;
    assert.deepEqual({ deliveries: full.deliveries, streamSequence: full.streamSequence, deliverySequence: full.deliverySequence }, { ...scanAckReply(Buffer.from(reply)) });
    // Read in place, inside a frame: only the range counts.
    const frame = Buffer.from(`HMSG logs.p3.web1 7 ${reply}.9 33 160\r\n`);
    const from = frame.indexOf("$JS");
    assert.deepEqual({ ...scanAckReply(frame, from, from + reply.length) }, { deliveries: 2, streamSequence: 41234, deliverySequence: 40001 });
    assert.equal(scanAckReply(frame, from + 1, from + reply.length), undefined, "the range starts past the prefix");
    assert.equal(scanAckReply(frame, from, from + 20), undefined, "the range ends before the numbers");
  }
  for (const bad of [
    "", "_INBOX.abc.1", "$JS.ACK.LOGS_3.COLLECTOR.2.41234", "$JS.ACK.LOGS_3.COLLECTOR.x.41234.40001.1.0",
    "$JS.ACK.LOGS_3.COLLECTOR.2..40001.1.0", "$JS.ACK.LOGS_3.COLLECTOR.2.41234.40001.1.0.extra",
    "$JS.ACK.LOGS_3.COLLECTOR.2.12345678901234567.40001.1.0",
  ]) {
    assert.equal(scanAckReply(Buffer.from(bad)), undefined, bad);
  }
});
