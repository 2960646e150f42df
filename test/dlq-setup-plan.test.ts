// The dead-letter store in the setup plan (pure): created beside the deployment, summed up on its
// own, shared by deployments of other prefixes, each with its own worker consumer.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { planSetup, planIsNoop, type SetupPlan, type SetupRequest } from "../src/streams/setup-plan.js";
import { defaultStreamSettings, wantedState } from "../src/streams/desired.js";
import { describeAction, describeDeadLetterSummary, describeSummary } from "../src/streams/setup-text.js";
import type { DeploymentSnapshot, ExistingStream } from "../src/streams/snapshot.js";
import { wantedDeadLetterState } from "../src/deadletter/desired.js";

const DAY = 86_400_000;

function request(prefix = "logs", over: Partial<SetupRequest> = {}): SetupRequest {
  return { prefix, partitions: 2, settings: defaultStreamSettings(prefix), deadLetters: { maxAgeMs: 30 * DAY, replicas: 1 }, ...over };
}

/** What the server holds after `plan` was applied on top of `before`. */
function applied(plan: SetupPlan, req: SetupRequest, before: ExistingStream[] = []): DeploymentSnapshot {
  const wanted = wantedState(plan.layout, req.settings);
  const dead = wantedDeadLetterState(plan.layout, req.deadLetters!);
  const streams = new Map(before.map((s) => [s.config.name, { config: s.config, consumers: [...s.consumers] }]));
  for (const s of [...wanted.streams, ...dead.streams]) {
    if (!streams.has(s.name)) streams.set(s.name, { config: { ...s } as unknown as StreamConfig, consumers: [] });
  }
  for (const { role: _r, stream, partition: _p, ...cfg } of [...wanted.consumers, ...dead.consumers]) {
    const s = streams.get(stream)!;
    if (!s.consumers.some((c) => c.name === cfg.durable_name)) s.consumers.push({ name: cfg.durable_name, config: cfg as unknown as ConsumerConfig });
  }
  return { prefix: req.prefix, record: plan.layout, streams: [...streams.values()], clustered: false };
}

test("dlq setup plan - a new deployment also gets SHIPPER_DLQ, SHIPPER_ADVISORIES and its worker consumer, counted on their own", () => {
  const plan = planSetup(request(), { prefix: "logs", streams: [], clustered: false });
  assert.deepEqual(plan.refusals, []);
  assert.equal(plan.actions.length, 5, "2 streams, 2 consumers, the record: as without dead letters");
  const lines = plan.deadLetterActions.map((a) => describeAction(a, "done"));
  assert.deepEqual(lines, [
    "created: stream SHIPPER_DLQ (shipper.dlq.>, file storage, limits retention, max-age 30d, replicas 1)",
    "created: stream SHIPPER_ADVISORIES ($JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>, $JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>, file storage, limits retention, max-age 30d, replicas 1)",
    "created: consumer SHIPPER_ADVISORIES > DEADLETTERS_LOGS (pull, ack explicit, ack-wait 30s, max-deliver -1, max-ack-pending 1000)",
  ]);
  assert.equal(describeDeadLetterSummary(plan, "done"), "Dead letters: 3 created, 0 changed, 0 already up to date.");
  assert.equal(describeDeadLetterSummary(plan, "planned"), "Dead letters: 3 to create, 0 to change, 0 already up to date. Nothing was changed (dry run).");
  assert.equal(describeDeadLetterSummary(planSetup(request("logs", { deadLetters: undefined }), { prefix: "logs", streams: [], clustered: false }), "done"), undefined);
});

test("dlq setup plan - the same request again changes nothing; a new --dlq-max-age changes both streams; replicas follow the deployment", () => {
  const req = request();
  const snap = applied(planSetup(req, { prefix: "logs", streams: [], clustered: false }), req);
  const again = planSetup(req, snap);
  assert.ok(planIsNoop(again), JSON.stringify(again.deadLetterActions));
  assert.equal(describeDeadLetterSummary(again, "done"), "Dead letters: the store is up to date.");
  assert.match(describeSummary(again, "done"), /^Nothing to change/);

  const longer = planSetup(request("logs", { deadLetters: { maxAgeMs: 90 * DAY, replicas: 1 } }), snap);
  const changed = longer.deadLetterActions.filter((a) => a.op === "update-stream").map((a) => describeAction(a, "done"));
  assert.deepEqual(changed, ["changed: stream SHIPPER_DLQ: max_age 30d -> 90d", "changed: stream SHIPPER_ADVISORIES: max_age 30d -> 90d"]);

  const r3 = planSetup(request("logs", { deadLetters: { maxAgeMs: 30 * DAY, replicas: 3 }, settings: { ...defaultStreamSettings("logs"), replicas: 3 } }), {
    ...snap,
    clustered: true,
  });
  assert.ok(r3.deadLetterActions.some((a) => a.op === "update-stream" && a.changes.some((c) => c.field === "num_replicas" && c.to === "3")));
});

test("dlq setup plan - a second deployment shares the store and adds only its own worker consumer", () => {
  const first = request("logs");
  const snap = applied(planSetup(first, { prefix: "logs", streams: [], clustered: false }), first);
  const second = request("audit", { stream: "AUDIT" });
  const plan = planSetup(second, { ...snap, prefix: "audit", record: undefined });
  assert.deepEqual(plan.refusals, []);
  assert.deepEqual(
    plan.deadLetterActions.map((a) => describeAction(a, "done")),
    ["up to date: stream SHIPPER_DLQ", "up to date: stream SHIPPER_ADVISORIES", "created: consumer SHIPPER_ADVISORIES > DEADLETTERS_AUDIT (pull, ack explicit, ack-wait 30s, max-deliver -1, max-ack-pending 1000)"],
  );
});

test("dlq setup plan - another stream on the dead-letter subjects is refused with what to do", () => {
  const other: ExistingStream = { config: { name: "MY_DLQ", subjects: ["shipper.dlq.agent.>"] } as unknown as StreamConfig, consumers: [] };
  const plan = planSetup(request(), { prefix: "logs", streams: [other], clustered: false });
  assert.equal(plan.refusals.length, 1);
  assert.match(plan.refusals[0]!.reason, /stream SHIPPER_DLQ|overlap stream MY_DLQ/);
  assert.match(plan.refusals[0]!.subject, /SHIPPER_DLQ/);
  assert.match(plan.refusals[0]!.remedy, /--no-dead-letters/);
  assert.ok(planSetup(request("logs", { deadLetters: undefined }), { prefix: "logs", streams: [other], clustered: false }).refusals.length === 0, "--no-dead-letters avoids it");
});
