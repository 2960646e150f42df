// The agent: follows one file and publishes each line to `<prefix>.p<N>.<host>`, reading only as
// fast as JetStream acknowledges. SIGINT/SIGTERM stop the reading, wait (bounded) for the lines in
// flight, and close.
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConnectionSettings } from "../config/connection.js";
import { partitionOf } from "../protocol/partition.js";
import { lineSubject } from "../protocol/subjects.js";
import { connectWithRetry } from "../shared/connect.js";
import type { Logger } from "../shared/log.js";
import { readLayoutRecord } from "../streams/layout-record.js";
import { FileFollower, type FollowStart, type LineBatch } from "./file-follower.js";
import { describeIdentity, type FileIdentity } from "./file-identity.js";
import { JetStreamPublisher } from "./jetstream-publisher.js";
import { resolvePartitionCount } from "./partition-count.js";
import type { LineOrigin, LinePublisher, PublisherCounters } from "./publisher.js";
import { checkStreamCaptures } from "./stream-check.js";

/** Everything the agent needs, validated once (see agentConfigFrom in src/cli/commands/agent.ts). */
export interface AgentConfig {
  file: string;
  prefix: string;
  /** Explicit partition count; undefined means "the deployment's, else 0". */
  partitions?: number;
  host: string;
  connection: ConnectionSettings;
  maxInFlight: number;
  maxInFlightBytes: number;
  ackTimeoutMs: number;
  pollIntervalMs: number;
  /** How long a stop waits for lines in flight. */
  drainTimeoutMs: number;
  readChunkBytes: number;
}

export interface AgentCounters extends Omit<PublisherCounters, "refused" | "ackErrors" | "ackTimeouts"> {
  linesRead: number;
  /** refused + ackErrors + ackTimeouts */
  errors: number;
  refused: number;
  ackErrors: number;
  ackTimeouts: number;
  truncations: number;
  rotations: number;
}

export interface AgentOptions {
  file: string;
  subject: string;
  host: string;
  log: Logger;
  /** The publisher to use; a JetStreamPublisher on `nc` by default. */
  publisher?: LinePublisher;
  start?: FollowStart;
  pollIntervalMs?: number;
  readChunkBytes?: number;
  drainTimeoutMs?: number;
  maxInFlight?: number;
  maxInFlightBytes?: number;
  ackTimeoutMs?: number;
}

/** A file version's settled position: every line before `offset` is stored (or refused and logged). */
export interface SettledPosition {
  path: string;
  identity: FileIdentity;
  fingerprint: string;
  generation: number;
  offset: number;
}

interface FileLineOrigin extends LineOrigin {
  readonly identity: FileIdentity;
  readonly fingerprint: string;
  readonly generation: number;
}

export interface AgentResult {
  /** Lines still unacknowledged when the drain timeout ended the wait. */
  unacknowledged: number;
}

/**
 * Waits for `wait` unless `signal` aborts first. The abort listener is removed afterwards: racing
 * many short waits against one long-lived promise would make it hold every result (a leak).
 */
function unlessAborted(wait: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return wait;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    wait.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

export class Agent {
  readonly subject: string;
  private readonly log: Logger;
  private readonly follower: FileFollower;
  private readonly publisher: LinePublisher;
  private readonly drainTimeoutMs: number;
  private origin?: FileLineOrigin;
  private linesRead = 0;
  private truncations = 0;
  private rotations = 0;
  /** Per file version, the offset up to which every line is settled (issue 3 saves this). */
  readonly settledOffsets = new Map<string, number>();

  constructor(nc: NatsConnection, opts: AgentOptions) {
    this.subject = opts.subject;
    this.log = opts.log;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.publisher =
      opts.publisher ??
      new JetStreamPublisher(nc, {
        host: opts.host,
        log: opts.log,
        maxInFlight: opts.maxInFlight,
        maxInFlightBytes: opts.maxInFlightBytes,
        ackTimeoutMs: opts.ackTimeoutMs,
      });
    this.publisher.onSettled((origin, offset) => this.settledOffsets.set(origin.key, offset));
    this.follower = new FileFollower({
      path: opts.file,
      log: opts.log,
      start: opts.start,
      pollIntervalMs: opts.pollIntervalMs,
      chunkBytes: opts.readChunkBytes,
      onEvent: (e) => {
        if (e.type === "truncated") this.truncations++;
        else if (e.type === "rotated") this.rotations++;
      },
    });
  }

  /**
   * Called as lines settle, in offset order per file version, with the position up to which the
   * file is safely stored (issue 3 persists it and passes it back as `start`).
   */
  onSettled(listener: (position: SettledPosition) => void): void {
    this.publisher.onSettled((origin, offset) => {
      const o = origin as FileLineOrigin;
      listener({ path: o.path, identity: o.identity, fingerprint: o.fingerprint, generation: o.generation, offset });
    });
  }

  get counters(): AgentCounters {
    const p = this.publisher.counters;
    return {
      linesRead: this.linesRead,
      published: p.published,
      acknowledged: p.acknowledged,
      duplicates: p.duplicates,
      retried: p.retried,
      inFlight: p.inFlight,
      inFlightBytes: p.inFlightBytes,
      errors: p.refused + p.ackErrors + p.ackTimeouts,
      refused: p.refused,
      ackErrors: p.ackErrors,
      ackTimeouts: p.ackTimeouts,
      truncations: this.truncations,
      rotations: this.rotations,
    };
  }

  /** Ships until `signal` aborts (or publishing fails for good, which throws). */
  async run(signal?: AbortSignal): Promise<AgentResult> {
    const stopReading = () => this.follower.stop();
    signal?.addEventListener("abort", stopReading, { once: true });
    // A publisher that failed for good also ends a wait for file data.
    let fatal: Error | undefined;
    this.publisher.failed.catch((err: Error) => {
      fatal = err;
      this.follower.stop();
    });
    try {
      for (;;) {
        const batch = await this.follower.next();
        if (fatal) throw fatal;
        if (!batch || signal?.aborted) break;
        if (!(await this.publishBatch(batch, signal))) break;
      }
      return await this.finish();
    } catch (err) {
      await this.publisher.close();
      throw err;
    } finally {
      signal?.removeEventListener("abort", stopReading);
      await this.follower.close();
    }
  }

  /** Publishes a batch; false when a stop arrived while waiting for room in the window. */
  private async publishBatch(batch: LineBatch, signal?: AbortSignal): Promise<boolean> {
    const origin = this.originOf(batch);
    const { lines, ends } = batch;
    this.linesRead += lines.length;
    for (let i = 0; i < lines.length; i++) {
      const room = this.publisher.publish(this.subject, lines[i]!, origin, ends[i]!);
      if (room) {
        await unlessAborted(room, signal);
        if (signal?.aborted) return false;
      }
    }
    return true;
  }

  private originOf(batch: LineBatch): LineOrigin {
    const key = `${describeIdentity(batch.identity)}:${batch.fingerprint}:${batch.generation}`;
    if (this.origin?.key !== key) {
      const { path, identity, fingerprint, generation } = batch;
      this.origin = { key, path, identity, fingerprint, generation };
    }
    return this.origin;
  }

  private async finish(): Promise<AgentResult> {
    const inFlight = this.publisher.counters.inFlight;
    if (inFlight > 0) this.log.info(`stopping: waiting up to ${this.drainTimeoutMs} ms for ${inFlight} lines in flight`);
    const drained = await this.publisher.drain(this.drainTimeoutMs);
    const c = this.counters;
    await this.publisher.close();
    if (!drained) {
      this.log.warn(`stopped with ${c.inFlight} lines unacknowledged; they will be read and sent again at the next start`);
    }
    this.log.info(
      `stopped: ${c.linesRead} lines read, ${c.acknowledged} acknowledged (${c.duplicates} duplicates), ` +
        `${c.retried} re-sent, ${c.refused} refused, ${c.truncations} truncations, ${c.rotations} rotations`,
    );
    return { unacknowledged: drained ? 0 : c.inFlight };
  }
}

/** Where one host's lines go: partition count resolved against the deployment's record. */
export async function planSubject(
  nc: NatsConnection,
  config: Pick<AgentConfig, "prefix" | "partitions" | "host">,
): Promise<{ partitions: number; partition: number; subject: string }> {
  const recorded = await readLayoutRecord(nc, config.prefix);
  const partitions = resolvePartitionCount(config.partitions, recorded);
  const partition = partitionOf(config.host, partitions);
  return { partitions, partition, subject: lineSubject(config.prefix, partition, config.host) };
}

/** Connects, finds the subject, ships until `signal` aborts, and closes. */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal): Promise<AgentResult> {
  const nc = await connectWithRetry(config.connection, log, signal);
  try {
    const plan = await planSubject(nc, config);
    const streams = await checkStreamCaptures(nc, plan.subject, log);
    log.info(
      `host "${config.host}" publishes "${config.file}" to "${plan.subject}" (partition ${plan.partition} of ${plan.partitions})` +
        (streams.length > 0 ? `, stored by stream ${streams.join(", ")}` : ""),
    );
    const agent = new Agent(nc, {
      file: config.file,
      subject: plan.subject,
      host: config.host,
      log,
      pollIntervalMs: config.pollIntervalMs,
      readChunkBytes: config.readChunkBytes,
      drainTimeoutMs: config.drainTimeoutMs,
      maxInFlight: config.maxInFlight,
      maxInFlightBytes: config.maxInFlightBytes,
      ackTimeoutMs: config.ackTimeoutMs,
    });
    return await agent.run(signal);
  } finally {
    await nc.close();
  }
}
