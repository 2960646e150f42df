// The agent: follows files (paths and glob patterns, each with its own follower and position)
// and publishes each line to `<prefix>.p<N>.<host>` through one shared publisher, reading only as
// fast as JetStream acknowledges. Positions advance as lines are acknowledged, in offset order,
// and are saved by the position book; after a restart every file resumes there.
// SIGINT/SIGTERM stop the reading, wait (bounded) for the lines in flight, save, and close.
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConnectionSettings } from "../config/connection.js";
import { partitionOf } from "../protocol/partition.js";
import { fileVersionKey } from "../protocol/msg-id.js";
import { lineSubject } from "../protocol/subjects.js";
import { connectWithRetry } from "../shared/connect.js";
import type { Logger } from "../shared/log.js";
import { readLayoutRecord } from "../streams/layout-record.js";
import { DEFAULT_CHUNK_BYTES, FileFollower, type FollowStart, type LineBatch } from "./file-follower.js";
import type { FileIdentity } from "./file-identity.js";
import { expandSources, fileSources, type FileSource } from "./file-sources.js";
import { JetStreamPublisher, type OversizeMode } from "./jetstream-publisher.js";
import { resolvePartitionCount } from "./partition-count.js";
import { PositionBook, type FileVersion } from "./positions/position-book.js";
import type { LineOrigin, LinePublisher, PublisherCounters } from "./publisher.js";
import { ResumePlanner } from "./resume-planner.js";
import { ReadTurns, type ReadTurn } from "./read-turns.js";
import { checkStreamCaptures } from "./stream-check.js";

/** Everything the agent needs, validated once (see agentConfigFrom in src/cli/commands/agent.ts). */
export interface AgentConfig {
  /** Paths and glob patterns, as given. */
  files: string[];
  prefix: string;
  /** Explicit partition count; undefined means "the deployment's, else 0". */
  partitions?: number;
  host: string;
  connection: ConnectionSettings;
  /** Where positions are saved (locked: one agent per directory). */
  stateDir: string;
  saveIntervalMs: number;
  oversize: OversizeMode;
  maxInFlight: number;
  maxInFlightBytes: number;
  ackTimeoutMs: number;
  pollIntervalMs: number;
  /** How often glob patterns are expanded again to find new files. */
  scanIntervalMs: number;
  /** How long a stop waits for lines in flight. */
  drainTimeoutMs: number;
  readChunkBytes: number;
  /** Most lines in one message; 1 (the default) is one message per line (src/protocol/batch.ts). */
  batchLines?: number;
  /** Most payload bytes in one batch. */
  batchBytes?: number;
}

export interface AgentCounters extends Omit<PublisherCounters, "refused" | "ackErrors" | "ackTimeouts"> {
  linesRead: number;
  /** refused + ackErrors + ackTimeouts */
  errors: number;
  refused: number;
  ackErrors: number;
  ackTimeouts: number;
  /** Files being followed now. */
  files: number;
  truncations: number;
  /** Bytes read from a copy that a truncation would otherwise have lost. */
  truncationRecoveredBytes: number;
  /** Bytes that were in a file, unread, when it was truncated, and could not be read from a copy (a lower bound). */
  truncationLostBytes: number;
  rotations: number;
  deletions: number;
}

export interface AgentOptions {
  /** One file to follow (kept for embedding and tests); `files` takes paths and patterns. */
  file?: string;
  files?: string[];
  subject: string;
  host: string;
  log: Logger;
  /** The publisher to use; a JetStreamPublisher on `nc` by default. */
  publisher?: LinePublisher;
  /** Saved positions; an in-memory book by default (nothing survives a restart). */
  positions?: PositionBook;
  /** Where the single `file` starts when no position book is given. */
  start?: FollowStart;
  pollIntervalMs?: number;
  scanIntervalMs?: number;
  readChunkBytes?: number;
  drainTimeoutMs?: number;
  maxInFlight?: number;
  maxInFlightBytes?: number;
  ackTimeoutMs?: number;
  oversize?: OversizeMode;
  maxMessageBytes?: number;
  /** Several lines per message (off by default; see src/protocol/batch.ts). */
  batchLines?: number;
  batchBytes?: number;
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
  readonly version: FileVersion;
}

export interface AgentResult {
  /** Lines still unacknowledged when the drain timeout ended the wait. */
  unacknowledged: number;
}

interface Followed {
  readonly path: string;
  readonly follower: FileFollower;
  /** Held from a read until its lines are published (read-turns.ts). */
  readonly turn: ReadTurn;
  origin?: FileLineOrigin;
  done?: Promise<void>;
}

export const DEFAULT_SCAN_INTERVAL_MS = 1000;
/**
 * Bytes all followers together may read ahead. Lines are byte ranges of the chunk they were read
 * in, and lines in flight keep their chunks, possibly one per file; so with many files each reads
 * smaller chunks (never below MIN_CHUNK_BYTES). Only a few followers hold a read not yet published
 * at a time (read-turns.ts).
 */
const READ_BUDGET_BYTES = 32 * 1024 * 1024;
const MIN_CHUNK_BYTES = 16 * 1024;

export class Agent {
  readonly subject: string;
  private readonly log: Logger;
  private readonly publisher: LinePublisher;
  private readonly book: PositionBook;
  private readonly planner: ResumePlanner;
  private readonly sources: FileSource[];
  private readonly start?: FollowStart;
  private readonly drainTimeoutMs: number;
  private readonly pollIntervalMs?: number;
  private readonly scanIntervalMs: number;
  private readonly readChunkBytes?: number;
  private readonly followed = new Map<string, Followed>();
  private readonly turns = new ReadTurns();
  private linesRead = 0;
  private truncations = 0;
  private truncationRecoveredBytes = 0;
  private truncationLostBytes = 0;
  private rotations = 0;
  private deletions = 0;
  private fatal?: Error;
  private stopRequested = false;
  private readonly stopper = new AbortController();
  /**
   * Pumps waiting for room in the publisher's window; a stop ends their wait. A set, not a listener
   * per wait on the stop signal: with a thousand files waiting, adding listeners is quadratic, and
   * racing each wait against one long-lived promise would make it hold every result (a leak).
   */
  private readonly roomWaits = new Set<() => void>();
  /** Per file version key, the offset up to which every line is settled. */
  readonly settledOffsets = new Map<string, number>();

  constructor(nc: NatsConnection, opts: AgentOptions) {
    this.subject = opts.subject;
    this.log = opts.log;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
    this.pollIntervalMs = opts.pollIntervalMs;
    this.scanIntervalMs = opts.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS;
    this.readChunkBytes = opts.readChunkBytes;
    const specs = [...(opts.file !== undefined ? [opts.file] : []), ...(opts.files ?? [])];
    if (specs.length === 0) throw new Error("the agent needs a file to follow");
    this.sources = fileSources(specs);
    this.start = opts.positions ? undefined : opts.start;
    this.book = opts.positions ?? PositionBook.inMemory(opts.host, opts.log);
    this.planner = new ResumePlanner(this.book, opts.log);
    this.publisher =
      opts.publisher ??
      new JetStreamPublisher(nc, {
        host: opts.host,
        log: opts.log,
        maxInFlight: opts.maxInFlight,
        maxInFlightBytes: opts.maxInFlightBytes,
        ackTimeoutMs: opts.ackTimeoutMs,
        oversize: opts.oversize,
        maxMessageBytes: opts.maxMessageBytes,
        batchLines: opts.batchLines,
        batchBytes: opts.batchBytes,
      });
    this.publisher.onSettled((origin, offset) => {
      const o = origin as FileLineOrigin;
      this.book.settle(o.version, offset);
      this.settledOffsets.set(o.key, offset);
    });
  }

  /**
   * Called as lines settle, in offset order per file version, with the position up to which the
   * file is safely stored.
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
      messages: p.messages,
      batches: p.batches,
      acknowledged: p.acknowledged,
      duplicates: p.duplicates,
      retried: p.retried,
      split: p.split,
      parts: p.parts,
      deadLettered: p.deadLettered,
      inFlight: p.inFlight,
      inFlightMessages: p.inFlightMessages,
      inFlightBytes: p.inFlightBytes,
      errors: p.refused + p.ackErrors + p.ackTimeouts,
      refused: p.refused,
      ackErrors: p.ackErrors,
      ackTimeouts: p.ackTimeouts,
      files: this.followed.size,
      truncations: this.truncations,
      truncationRecoveredBytes: this.truncationRecoveredBytes,
      truncationLostBytes: this.truncationLostBytes,
      rotations: this.rotations,
      deletions: this.deletions,
    };
  }

  /** The paths followed now. */
  get paths(): string[] {
    return [...this.followed.keys()];
  }

  /** Ships until `signal` aborts (or publishing fails for good, which throws). */
  async run(signal?: AbortSignal): Promise<AgentResult> {
    const stop = () => this.requestStop();
    signal?.addEventListener("abort", stop, { once: true });
    this.publisher.failed.catch((err: Error) => this.failWith(err));
    this.book.startSaving();
    let scanTimer: NodeJS.Timeout | undefined;
    try {
      await this.scan();
      if (this.sources.some((s) => s.isGlob)) {
        let scanning = false;
        scanTimer = setInterval(() => {
          if (scanning || this.stopRequested) return;
          scanning = true;
          this.scan()
            .catch((err: Error) => this.log.warn(`cannot expand the file patterns: ${err.message}`))
            .finally(() => (scanning = false));
        }, this.scanIntervalMs);
      }
      if (signal?.aborted) this.requestStop();
      await new Promise<void>((resolve) => {
        if (this.stopper.signal.aborted) resolve();
        else this.stopper.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      clearInterval(scanTimer);
      for (const f of this.followed.values()) f.follower.stop();
      await Promise.all([...this.followed.values()].map((f) => f.done));
      if (this.fatal) throw this.fatal;
      return await this.finish();
    } catch (err) {
      await this.publisher.close();
      throw err;
    } finally {
      clearInterval(scanTimer);
      signal?.removeEventListener("abort", stop);
      await Promise.all([...this.followed.values()].map((f) => f.follower.close()));
    }
  }

  private requestStop(): void {
    this.stopRequested = true;
    for (const done of this.roomWaits) done();
    this.roomWaits.clear();
    for (const f of this.followed.values()) f.follower.stop();
    this.stopper.abort();
  }

  private failWith(err: Error): void {
    this.fatal ??= err;
    this.requestStop();
  }

  /** Starts a follower for every path the sources name that has none. */
  private async scan(): Promise<void> {
    const paths = await expandSources(this.sources);
    const chunkBytes = Math.max(MIN_CHUNK_BYTES, Math.min(this.readChunkBytes ?? DEFAULT_CHUNK_BYTES, Math.floor(READ_BUDGET_BYTES / Math.max(1, paths.length))));
    for (const { path, fromGlob } of paths) {
      if (this.stopRequested || this.followed.has(path)) continue;
      this.follow(path, fromGlob, chunkBytes);
    }
  }

  private follow(path: string, fromGlob: boolean, chunkBytes: number): void {
    const turn = this.turns.turn();
    const follower = new FileFollower({
      turn,
      path,
      log: this.log,
      resume: this.start && this.followed.size === 0 && !fromGlob ? undefined : this.planner.forPath(path),
      start: this.start,
      endAfterDeletion: fromGlob,
      pollIntervalMs: this.pollIntervalMs,
      chunkBytes,
      onEvent: (e) => {
        if (e.type === "truncated") {
          this.truncations++;
          this.truncationRecoveredBytes += e.recoveredBytes;
          this.truncationLostBytes += e.lostBytes;
        } else if (e.type === "rotated") this.rotations++;
        else if (e.type === "deleted") this.deletions++;
      },
    });
    const entry: Followed = { path, follower, turn };
    this.followed.set(path, entry);
    entry.done = this.pump(entry);
  }

  /** Reads one follower's batches and publishes them until it stops or ends. */
  private async pump(entry: Followed): Promise<void> {
    try {
      while (await this.readAndPublish(entry));
    } catch (err) {
      if (!this.stopRequested) this.log.error(`following "${entry.path}" failed: ${(err as Error).message}`);
      this.failWith(err as Error);
    } finally {
      if (entry.follower.hasEnded && !this.stopRequested) {
        // A deleted glob match: forget it; a later scan follows it again if it comes back.
        await entry.follower.close();
        this.followed.delete(entry.path);
      }
    }
  }

  /**
   * Reads the next batch and publishes it; false once the follower stopped or ended, or a stop
   * arrived while waiting for room in the window. Its own function, so the batch is gone with its
   * frame: a variable of the long-lived pump would keep an idle file's last read buffer alive.
   */
  private async readAndPublish(entry: Followed): Promise<boolean> {
    const batch = await entry.follower.next();
    try {
      if (!batch || this.stopRequested) return false;
      const origin = this.originOf(entry, batch);
      const n = batch.ends.length;
      this.linesRead += n;
      let i = 0;
      for (;;) {
        i = this.publisher.publishLines(this.subject, batch, i, origin);
        if (i >= n) return true;
        await this.waitForRoom().catch((err: Error) => this.failWith(err));
        if (this.stopRequested) return false;
      }
    } finally {
      entry.turn.give();
    }
  }

  /** Until the publisher has room again, or a stop is requested. */
  private waitForRoom(): Promise<void> {
    if (this.stopRequested) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.roomWaits.delete(done);
        resolve();
      };
      this.roomWaits.add(done);
      this.publisher.room().then(done, (err: unknown) => {
        this.roomWaits.delete(done);
        reject(err);
      });
    });
  }

  private originOf(entry: Followed, batch: LineBatch): FileLineOrigin {
    const { path, identity, fingerprint, generation } = batch;
    const key = fileVersionKey(identity.dev, identity.ino, fingerprint, generation);
    if (entry.origin?.key !== key) {
      const version = this.book.version(path, identity, fingerprint, generation);
      entry.origin = { key, path, identity, fingerprint, generation, version };
    }
    return entry.origin;
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
        `${c.retried} re-sent, ${c.refused} refused, ${c.split} split, ${c.deadLettered} dead-lettered, ` +
        `${c.truncations} truncations, ${c.rotations} rotations, ${c.deletions} deletions`,
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

/** Connects, finds the subject, locks the state directory, ships until `signal` aborts, saves, and closes. */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal): Promise<AgentResult> {
  const nc = await connectWithRetry(config.connection, log, signal);
  try {
    const plan = await planSubject(nc, config);
    const streams = await checkStreamCaptures(nc, plan.subject, log);
    // After the checks, so a configuration mistake is reported before anything is locked.
    const book = await PositionBook.open({ dir: config.stateDir, host: config.host, log, saveIntervalMs: config.saveIntervalMs });
    try {
      log.info(
        `host "${config.host}" publishes ${config.files.map((f) => `"${f}"`).join(", ")} to "${plan.subject}" (partition ${plan.partition} of ${plan.partitions})` +
          (streams.names.length > 0 ? `, stored by stream ${streams.names.join(", ")}` : "") +
          `; positions in "${config.stateDir}"`,
      );
      const agent = new Agent(nc, {
        files: config.files,
        subject: plan.subject,
        host: config.host,
        log,
        positions: book,
        pollIntervalMs: config.pollIntervalMs,
        scanIntervalMs: config.scanIntervalMs,
        readChunkBytes: config.readChunkBytes,
        drainTimeoutMs: config.drainTimeoutMs,
        maxInFlight: config.maxInFlight,
        maxInFlightBytes: config.maxInFlightBytes,
        ackTimeoutMs: config.ackTimeoutMs,
        oversize: config.oversize,
        maxMessageBytes: streams.maxMessageBytes,
        batchLines: config.batchLines,
        batchBytes: config.batchBytes,
      });
      return await agent.run(signal);
    } finally {
      await book.close();
    }
  } finally {
    await nc.close();
  }
}
