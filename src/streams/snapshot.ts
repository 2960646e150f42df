// What setup, report and tail need to know about a deployment, read once from the server:
// the recorded layout, and the streams (with their consumers) that may belong to it.
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import type { Layout } from "./layout.js";

export interface ExistingConsumer {
  name: string;
  config: ConsumerConfig;
}

export interface ExistingStream {
  config: StreamConfig;
  /** Consumers of the stream; only listed for streams that may belong to the deployment. */
  consumers: ExistingConsumer[];
}

export interface DeploymentSnapshot {
  prefix: string;
  /** The layout recorded by an earlier setup, if any (absent on a deployment made by hand). */
  record?: Layout;
  /** Every stream of the account. */
  streams: ExistingStream[];
  /** Whether the server we talk to is part of a cluster (replicas above 1 need one). */
  clustered: boolean;
}
