import { test } from "node:test";
import assert from "node:assert/strict";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { planSetup, planIsNoop, type SetupRequest } from "../src/streams/setup-plan.js";
import { defaultStreamSettings, wantedState } from "../src/streams/desired.js";
import { detectLayout } from "../src/streams/detect.js";
import { subjectsCollide, filterCovers } from "../src/streams/subject-match.js";
import { formatBytes, formatDurationMs } from "../src/streams/units.js";
import { describeAction, describeSummary } from "../src/streams/setup-text.js";
import type { Layout } from "../src/streams/layout.js";
import type { DeploymentSnapshot, ExistingStream } from "../src/streams/snapshot.js";

function request(over: Partial<SetupRequest> = {}, settings: Partial<SetupRequest["settings"]> = {}): SetupRequest {
  return { prefix: "logs", settings: { ...defaultStreamSettings("logs"), ...settings }, ...over };
}

/** The snapshot a server would show after applying `req` to an empty deployment. */
function appliedSnapshot(req: SetupRequest): DeploymentSnapshot {
  const plan = planSetup(req, { prefix: req.prefix, streams: [], clustered: false });
  const wanted = wantedState(plan.layout, req.settings);
  const streams: ExistingStream[] = wanted.streams.map((s) => ({
    config: { ...s, max_msgs_per_subject: -1, discard: "old" } as unknown as StreamConfig,
    consumers: wanted.consumers
      .filter((c) => c.stream === s.name)
      .map(({ role: _r, stream: _s, partition: _p, ...cfg }) => ({
        name: cfg.durable_name,
        config: { ...cfg, max_waiting: 512, num_replicas: 0 } as unknown as ConsumerConfig,
      })),
  }));
  return { prefix: req.prefix, record: plan.layout, streams, clustered: false };
}

/** Streams made by hand as in Part 8 (SPEC.md §4), without a layout record. */
function part8Snapshot(partitions = 10): DeploymentSnapshot {
  const streams: ExistingStream[] = [];
  for (let i = 0; i < partitions; i++) {
    streams.push({
      config: {
        name: `LOGS_${i}`,
        subjects: [`logs.p${i}.>`],
        retention: "limits",
        storage: "file",
        max_msgs: -1,
        max_bytes: -1,
        max_age: 86_400_000_000_000,
        duplicate_window: 120_000_000_000,
        num_replicas: 1,
      } as unknown as StreamConfig,
      consumers: [
        {
          name: "TAIL",
          config: { durable_name: "TAIL", deliver_subject: `out.logs.p${i}`, deliver_policy: "all", ack_policy: "none", replay_policy: "instant" } as unknown as ConsumerConfig,
        },
      ],
    });
  }
  return { prefix: "logs", streams, clustered: false };
}

test("streams plan - a new deployment creates 10 streams, 10 pull consumers and the record, per Part 8", () => {
  const plan = planSetup(request(), { prefix: "logs", streams: [], clustered: false });
  assert.deepEqual(plan.refusals, []);
  assert.equal(plan.basis, "new deployment");
  const streams = plan.actions.filter((a) => a.op === "create-stream");
  const consumers = plan.actions.filter((a) => a.op === "create-consumer");
  assert.equal(streams.length, 10);
  assert.equal(consumers.length, 10);
  const s4 = streams[4]!;
  assert.ok(s4.op === "create-stream");
  assert.equal(s4.stream.name, "LOGS_4");
  assert.deepEqual(s4.stream.subjects, ["logs.p4.>"]);
  assert.equal(s4.stream.max_age, 86_400 * 1e9);
  assert.equal(s4.stream.storage, "file");
  const c = consumers[0]!;
  assert.ok(c.op === "create-consumer");
  assert.equal(c.consumer.durable_name, "COLLECTOR");
  assert.equal(c.consumer.ack_policy, "all");
  assert.equal(c.consumer.max_deliver, 10);
  assert.equal(c.consumer.ack_wait, 30e9);
  assert.equal(c.consumer.deliver_subject, undefined);
  assert.equal(c.consumer.filter_subject, undefined);
  assert.equal(plan.actions.at(-1)!.op, "write-record");
});

test("streams plan - the single layout has one stream and one filtered consumer per partition; --seed adds TAIL push consumers", () => {
  const plan = planSetup(request({ kind: "single", partitions: 3 }, { seed: true }), { prefix: "logs", streams: [], clustered: false });
  const streams = plan.actions.filter((a) => a.op === "create-stream");
  assert.equal(streams.length, 1);
  assert.ok(streams[0]!.op === "create-stream" && streams[0]!.stream.subjects[0] === "logs.>");
  const consumers = plan.actions.flatMap((a) => (a.op === "create-consumer" ? [a.consumer] : []));
  assert.deepEqual(
    consumers.map((c) => [c.durable_name, c.filter_subject, c.deliver_subject ?? null]),
    [
      ["COLLECTOR_p0", "logs.p0.>", null],
      ["TAIL_p0", "logs.p0.>", "out.logs.p0"],
      ["COLLECTOR_p1", "logs.p1.>", null],
      ["TAIL_p1", "logs.p1.>", "out.logs.p1"],
      ["COLLECTOR_p2", "logs.p2.>", null],
      ["TAIL_p2", "logs.p2.>", "out.logs.p2"],
    ],
  );
});

test("streams plan - the same request against what it made changes nothing", () => {
  for (const req of [request(), request({ kind: "single", partitions: 4 }, { seed: true }), request({ partitions: 0 })]) {
    const plan = planSetup(req, appliedSnapshot(req));
    assert.deepEqual(plan.refusals, []);
    assert.ok(planIsNoop(plan), JSON.stringify(plan.actions.filter((a) => !a.op.startsWith("keep"))));
    assert.match(describeSummary(plan, "done"), /^Nothing to change/);
  }
});

test("streams plan - a new max-age is an update that names the field, old and new", () => {
  const plan = planSetup(request({}, { maxAgeMs: 2 * 86_400_000 }), appliedSnapshot(request()));
  const updates = plan.actions.filter((a) => a.op === "update-stream");
  assert.equal(updates.length, 10);
  assert.ok(updates[0]!.op === "update-stream");
  assert.deepEqual(updates[0]!.changes, [{ field: "max_age", from: "1d", to: "2d" }]);
  assert.equal(describeAction(updates[0]!, "done"), "changed: stream LOGS_0: max_age 1d -> 2d");
});

test("streams plan - a changed consumer limit is an update; a changed ack policy is refused", () => {
  const snap = appliedSnapshot(request());
  const plan = planSetup(request({}, { maxDeliver: 5 }), snap);
  const u = plan.actions.find((a) => a.op === "update-consumer");
  assert.ok(u && u.op === "update-consumer");
  assert.deepEqual(u.changes, [{ field: "max_deliver", from: "10", to: "5" }]);
  (snap.streams[0]!.consumers[0]!.config as { ack_policy: string }).ack_policy = "explicit";
  const refused = planSetup(request(), snap);
  assert.equal(refused.refusals.length, 1);
  assert.match(refused.refusals[0]!.reason, /ack_policy is explicit.*cannot change/);
  assert.match(refused.refusals[0]!.remedy, /nats consumer rm LOGS_0 COLLECTOR/);
  assert.deepEqual(refused.actions, []);
});

test("streams plan - a different partition count is refused, from the record or from the streams alone", () => {
  const recorded = planSetup(request({ partitions: 12 }), appliedSnapshot(request()));
  assert.equal(recorded.refusals.length, 1);
  assert.equal(recorded.refusals[0]!.subject, "partition count");
  assert.match(recorded.refusals[0]!.reason, /has 10 partitions \(from its layout record\), and setup was asked for 12/);
  assert.match(recorded.refusals[0]!.reason, /other partitions/);
  assert.match(recorded.refusals[0]!.remedy, /--prefix logs2/);
  assert.deepEqual(recorded.actions, []);

  const byHand = planSetup(request({ partitions: 5 }), part8Snapshot());
  assert.equal(byHand.refusals[0]!.subject, "partition count");
  assert.match(byHand.refusals[0]!.reason, /from the streams found on the server \(LOGS_0, /);
});

test("streams plan - counts 0 and 1 are the same partitioning and are not refused", () => {
  const plan = planSetup(request({ partitions: 1 }), appliedSnapshot(request({ partitions: 0 })));
  assert.deepEqual(plan.refusals, []);
  const record = plan.actions.find((a) => a.op === "write-record");
  assert.ok(record && record.op === "write-record");
  assert.deepEqual(record.changes, [{ field: "partitions", from: "0", to: "1" }]);
});

test("streams plan - a change of layout kind is refused with a way to switch", () => {
  const plan = planSetup(request({ kind: "single" }), appliedSnapshot(request()));
  assert.equal(plan.refusals.length, 1);
  assert.equal(plan.refusals[0]!.subject, "layout kind");
  assert.match(plan.refusals[0]!.remedy, /--layout per-partition/);
  const byHand = planSetup(request({ kind: "single" }), part8Snapshot());
  assert.equal(byHand.refusals[0]!.subject, "layout kind");
});

test("streams plan - left-out identity flags keep the deployment's partitions, layout and names", () => {
  const made = request({ kind: "single", partitions: 4, stream: "ALL", consumer: "C" });
  const plan = planSetup(request(), appliedSnapshot(made));
  assert.deepEqual(plan.refusals, []);
  assert.deepEqual({ ...plan.layout }, { version: 1, prefix: "logs", kind: "single", partitions: 4, stream: "ALL", consumer: "C" });
  assert.ok(planIsNoop(plan));
});

test("streams plan - a Part 8 deployment made by hand is adopted: collector consumers and the record are added, TAIL kept", () => {
  const plan = planSetup(request({}, { seed: true }), part8Snapshot());
  assert.deepEqual(plan.refusals, []);
  assert.equal(plan.basis, "streams on the server");
  assert.equal(plan.actions.filter((a) => a.op === "keep-stream").length, 10);
  assert.equal(plan.actions.filter((a) => a.op === "keep-consumer").length, 10);
  assert.equal(plan.actions.filter((a) => a.op === "create-consumer").length, 10);
  const record = plan.actions.at(-1)!;
  assert.ok(record.op === "write-record" && record.previous === undefined);
});

test("streams plan - fixed stream fields are refused, overlapping streams are refused, replicas need a cluster", () => {
  const storage = planSetup(request({}, { storage: "memory" }), appliedSnapshot(request()));
  assert.equal(storage.refusals.length, 10);
  assert.match(storage.refusals[0]!.reason, /storage is file and setup was asked for memory/);
  assert.match(storage.refusals[0]!.remedy, /nats stream rm LOGS_0/);

  const other: DeploymentSnapshot = {
    prefix: "logs",
    streams: [{ config: { name: "EVERYTHING", subjects: [">"] } as unknown as StreamConfig, consumers: [] }],
    clustered: false,
  };
  const overlap = planSetup(request({ partitions: 2 }), other);
  assert.equal(overlap.refusals.length, 2);
  assert.match(overlap.refusals[0]!.reason, /overlap stream EVERYTHING/);

  const replicas = planSetup(request({}, { replicas: 3 }), { prefix: "logs", streams: [], clustered: false });
  assert.match(replicas.refusals[0]!.reason, /not part of a JetStream cluster/);
  assert.deepEqual(planSetup(request({}, { replicas: 3 }), { prefix: "logs", streams: [], clustered: true }).refusals, []);
});

test("streams plan - a collector consumer that is a push consumer is refused, not crashed on", () => {
  const snap = appliedSnapshot(request({ partitions: 2 }));
  snap.streams[1]!.consumers[0]!.config.deliver_subject = "somewhere";
  const plan = planSetup(request({ partitions: 2 }), snap);
  assert.equal(plan.refusals.length, 1);
  assert.match(plan.refusals[0]!.reason, /push consumer and collectors need a pull consumer/);
});

test("streams detect - layouts are recognised from stream subjects, with partition count and name base", () => {
  assert.deepEqual(detectLayout("logs", part8Snapshot(3).streams), {
    kind: "per-partition",
    partitions: 3,
    stream: "LOGS",
    streams: ["LOGS_0", "LOGS_1", "LOGS_2"],
  });
  assert.equal(detectLayout("other", part8Snapshot(3).streams), undefined);
  const single = appliedSnapshot(request({ kind: "single", partitions: 6 }));
  assert.deepEqual(detectLayout("logs", single.streams), { kind: "single", partitions: 6, stream: "LOGS", streams: ["LOGS"] });
});

test("streams subjects - collisions and coverage follow NATS wildcard rules", () => {
  assert.equal(subjectsCollide("logs.p1.>", "logs.>"), true);
  assert.equal(subjectsCollide("logs.p1.>", "logs.p2.>"), false);
  assert.equal(subjectsCollide("logs.*.a", "logs.p1.>"), true);
  assert.equal(subjectsCollide("logs", "logs.>"), false);
  assert.equal(subjectsCollide(">", "anything.at.all"), true);
  assert.equal(filterCovers("logs.p1.>", "logs.p1.web1.example.net"), true);
  assert.equal(filterCovers("logs.>", "logs.p1.>"), true);
  assert.equal(filterCovers("logs.p1.>", "logs.>"), false);
  assert.equal(filterCovers("logs.*.x", "logs.p1.x"), true);
});

test("streams units - sizes and durations print like the flags take them", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(83968), "82 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(-1), "unlimited");
  assert.equal(formatDurationMs(86_400_000), "1d");
  assert.equal(formatDurationMs(5_400_000), "1h30m");
  assert.equal(formatDurationMs(120_000), "2m");
});
