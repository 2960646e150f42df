// `shipper setup` against a server: read the deployment, plan (setup-plan.ts, pure), apply.
// Applying goes step by step in plan order (each stream before its consumers, the layout record
// last, so a record never names streams that do not exist) and stops at the first failure,
// reporting what was done and why the rest was not.
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { LAYOUT_BUCKET, readLayoutRecord, writeLayoutRecord } from "./layout-record.js";
import { planSetup, type SetupAction, type SetupPlan, type SetupRequest } from "./setup-plan.js";
import { readSnapshot } from "./snapshot-read.js";
import type { WantedConsumer, WantedStream } from "./desired.js";
import { openJetStreamManager } from "./manager.js";

export { planSetup, planIsNoop } from "./setup-plan.js";
export type { SetupAction, SetupPlan, SetupRequest, Refusal, Change } from "./setup-plan.js";

/** Reads the deployment and plans; touches nothing. */
export async function planSetupOnServer(nc: NatsConnection, req: SetupRequest): Promise<SetupPlan> {
  const jsm = await openJetStreamManager(nc);
  const record = await readLayoutRecord(nc, req.prefix);
  const snap = await readSnapshot(nc, jsm, req.prefix, record);
  return planSetup(req, snap);
}

/** A step that the server refused, with a hint for the errors we know. */
export class SetupStepError extends Error {
  override readonly name = "SetupStepError";
  constructor(
    readonly action: SetupAction,
    readonly serverMessage: string,
    readonly hint: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`${serverMessage}${hint ? ` (${hint})` : ""}`, options);
  }
}

/**
 * Applies a plan that has no refusals. `onDone` is called after each step (also for the steps
 * that needed nothing), so the caller can print as it goes.
 */
export async function applySetupPlan(
  nc: NatsConnection,
  plan: SetupPlan,
  replicas: number,
  onDone: (action: SetupAction) => void,
  onRetry: (action: SetupAction, reason: string, attempt: number) => void = () => {},
): Promise<void> {
  if (plan.refusals.length > 0) throw new Error("a plan with refusals cannot be applied");
  const jsm = await openJetStreamManager(nc);
  // The dead-letter store last: the deployment's own streams matter more when one step fails.
  for (const action of [...plan.actions, ...plan.deadLetterActions]) {
    for (let attempt = 1; ; attempt++) {
      try {
        await applyAction(nc, jsm, action, replicas);
        break;
      } catch (err) {
        const message = (err as Error).message;
        if (TRANSIENT.test(message) && attempt < RETRIES) {
          onRetry(action, message, attempt);
          await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
          continue;
        }
        throw new SetupStepError(action, message, hintFor(message), { cause: err });
      }
    }
    onDone(action);
  }
}

/**
 * Right after a stream is created or scaled in a cluster, its group elects a leader; requests in
 * that moment get no answer (which the client reports as "no responders" or "jetstream is not
 * enabled"). Those are retried for a while before they count as failures.
 */
const TRANSIENT = /no responders|not enabled|timeout|timed out|no leader|unavailable/i;
const RETRIES = 12;

async function applyAction(nc: NatsConnection, jsm: JetStreamManager, action: SetupAction, replicas: number): Promise<void> {
  switch (action.op) {
    case "create-stream":
      await jsm.streams.add(streamConfig(action.stream));
      return;
    case "update-stream": {
      const { name, ...update } = streamConfig(action.stream);
      await jsm.streams.update(name, update);
      return;
    }
    case "create-consumer":
      await jsm.consumers.add(action.consumer.stream, consumerConfig(action.consumer));
      return;
    case "update-consumer":
      await jsm.consumers.update(action.consumer.stream, action.consumer.durable_name, consumerConfig(action.consumer));
      return;
    case "update-bucket":
      await jsm.streams.update(`KV_${LAYOUT_BUCKET}`, { num_replicas: action.replicas });
      return;
    case "write-record":
      await writeLayoutRecord(nc, action.layout, replicas);
      return;
    case "keep-stream":
    case "keep-consumer":
    case "keep-record":
      return;
  }
}

function streamConfig(s: WantedStream) {
  return {
    name: s.name,
    subjects: s.subjects,
    retention: s.retention,
    storage: s.storage,
    max_msgs: s.max_msgs,
    max_bytes: s.max_bytes,
    max_age: s.max_age,
    duplicate_window: s.duplicate_window,
    num_replicas: s.num_replicas,
  } as const;
}

function consumerConfig(c: WantedConsumer) {
  const { role: _role, stream: _stream, partition: _partition, ...config } = c;
  return config;
}

const HINTS: Array<[RegExp, string]> = [
  [/insufficient resources|no suitable peers/i, "the cluster has fewer servers (or less storage) than --replicas or the limits ask for"],
  [/replicas > 1 not supported/i, "--replicas above 1 needs a JetStream cluster"],
  [/subjects overlap/i, "another stream already captures these subjects; see `shipper report --all`"],
  [/duplicates window can not be larger then max age/i, "--duplicate-window must not exceed --max-age"],
  [/maximum (consumers|streams) limit/i, "the account's JetStream limits allow no more; ask the server's operator"],
  [/no responders|timeout/i, "is JetStream enabled on the server, and does a meta leader exist?"],
];

function hintFor(message: string): string | undefined {
  return HINTS.find(([re]) => re.test(message))?.[1];
}
