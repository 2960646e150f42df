// Reads a DeploymentSnapshot from the server: every stream, and the consumers of the streams
// that can hold the prefix's lines (those are the only ones setup, report and tail look into),
// and of the dead-letter advisory stream (setup manages the deployment's worker consumer there).
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { allPartitionsFilter } from "../protocol/subjects.js";
import type { Layout } from "./layout.js";
import type { DeploymentSnapshot, ExistingStream } from "./snapshot.js";
import { subjectsCollide } from "./subject-match.js";
import { ADVISORY_STREAM } from "../deadletter/names.js";

export async function listStreamInfos(jsm: JetStreamManager): Promise<StreamInfo[]> {
  const out: StreamInfo[] = [];
  for await (const si of jsm.streams.list()) out.push(si);
  return out;
}

/** True when a stream can capture lines of the prefix. */
export function capturesPrefix(si: { config: { subjects?: string[] } }, prefix: string): boolean {
  const all = allPartitionsFilter(prefix);
  return (si.config.subjects ?? []).some((s) => subjectsCollide(s, all));
}

export async function readSnapshot(
  nc: NatsConnection,
  jsm: JetStreamManager,
  prefix: string,
  record: Layout | undefined,
  infos?: StreamInfo[],
): Promise<DeploymentSnapshot> {
  const streams: ExistingStream[] = [];
  for (const si of infos ?? (await listStreamInfos(jsm))) {
    const consumers = [];
    // The advisory stream holds each deployment's dead-letter worker consumer, which setup manages.
    if (capturesPrefix(si, prefix) || si.config.name === ADVISORY_STREAM) {
      for await (const ci of jsm.consumers.list(si.config.name)) consumers.push({ name: ci.name, config: ci.config });
    }
    streams.push({ config: si.config, consumers });
  }
  return { prefix, record, streams, clustered: typeof nc.info?.cluster === "string" && nc.info.cluster !== "" };
}
