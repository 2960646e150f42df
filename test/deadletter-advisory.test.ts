import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAdvisory } from "../src/deadletter/advisory.js";

const body = (type: string) => Buffer.from(JSON.stringify({ type, timestamp: "2026-11-28T00:00:00Z", stream: "LOGS_0", consumer: "COLLECTOR", stream_seq: 42, deliveries: 10 }));

test("dead-letter advisory - max_deliver and terminated advisories are read; any other type is refused, however it is spelled", () => {
  assert.deepEqual(parseAdvisory(body("io.nats.jetstream.advisory.v1.max_deliver")), { reason: "max-deliveries", stream: "LOGS_0", consumer: "COLLECTOR", streamSeq: 42, deliveries: 10, timestamp: "2026-11-28T00:00:00Z" });
  assert.equal((parseAdvisory(body("io.nats.jetstream.advisory.v1.terminated")) as { reason: string }).reason, "terminated");
  for (const type of ["io.nats.jetstream.advisory.v1.api_audit", "constructor", "__proto__", "toString", ""]) {
    const got = parseAdvisory(body(type));
    assert.ok("invalid" in got, `type ${JSON.stringify(type)} must be refused`);
    assert.match(got.invalid, /neither max_deliver nor terminated/);
  }
  assert.match((parseAdvisory(Buffer.from("{")) as { invalid: string }).invalid, /not JSON/);
  assert.match((parseAdvisory(Buffer.from("{}")) as { invalid: string }).invalid, /stream/);
});
