// What the agent needs from whatever carries its lines: publish without waiting for each
// acknowledgement, learn (in offset order) how far each file is safely stored, and wait for the
// rest at shutdown. Small on purpose, so tests, the benchmark and other sources can use it.
import type { Lines } from "./line-splitter.js";

/** One version of one file that lines come from; `key` is stable across restarts. */
export interface LineOrigin {
  /** "<dev>:<ino>:<fingerprint>:<generation>": part of every message id, so a re-sent line is de-duplicated. */
  readonly key: string;
  /** For log lines and errors. */
  readonly path: string;
}

export interface PublisherCounters {
  /** Lines handed to publish() or publishLines(). */
  published: number;
  /** Messages sent for them (fewer than lines with batching, more with parts). */
  messages: number;
  /** Batch messages among them (several lines in one, src/protocol/batch.ts). */
  batches: number;
  /** Lines the server stored (PubAck), duplicates included. */
  acknowledged: number;
  /** Acknowledgements that said "duplicate": a re-send the stream had already stored. */
  duplicates: number;
  /** Re-sends after a missing or failed acknowledgement. */
  retried: number;
  /** Lines that could not be stored and were given up (each one is logged with its file and offset). */
  refused: number;
  /** Lines over the largest message, split into parts. */
  split: number;
  /** Parts sent for split lines (and dead letters too large for one message). */
  parts: number;
  /** Lines over the largest message sent to the agent dead-letter subject. */
  deadLettered: number;
  /** PubAcks carrying an error; the line is sent again later. */
  ackErrors: number;
  /** Times the oldest line waited longer than the ack timeout. */
  ackTimeouts: number;
  /** Lines sent and not settled yet. */
  inFlight: number;
  /** Messages sent and not settled yet, and their bytes. */
  inFlightMessages: number;
  inFlightBytes: number;
}

/** Everything up to `offset` of `origin` is settled (stored, or refused and logged). */
export type SettledListener = (origin: LineOrigin, offset: number) => void;

/** A line that could not be stored and was given up (after being counted and logged). */
export type RefusedListener = (origin: LineOrigin, offset: number, payload: Uint8Array, reason: string) => void;

export interface LinePublisher {
  /**
   * Sends lines `from`, `from + 1`, ... of `lines` (all of `origin`), one message per line or
   * several lines per message when batching is on. Returns the index after the last line taken:
   * fewer than all once the in-flight window is full (then await room() before sending the rest).
   * Throws once publishing has failed for good (see `failed`).
   */
  publishLines(subject: string, lines: Lines, from: number, origin: LineOrigin): number;
  /** Resolves once the window has room again (at once when it has); rejects once publishing failed. */
  room(): Promise<void>;
  /**
   * Sends one line (`offset` is just past its newline). Returns undefined when more may be sent
   * at once, or a promise to await first when the in-flight window is full. Throws, and the
   * promise rejects, once publishing has failed for good (see `failed`).
   */
  publish(subject: string, payload: Uint8Array, origin: LineOrigin, offset: number): Promise<void> | undefined;
  /** Called in offset order per origin as lines settle. */
  onSettled(listener: SettledListener): void;
  onRefused(listener: RefusedListener): void;
  /** Waits until every published line is settled; false when `timeoutMs` passed first. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Stops sending and retrying; unsettled lines stay unsettled. */
  close(): Promise<void>;
  /** Rejects with the error that stopped publishing for good; never resolves. */
  readonly failed: Promise<never>;
  readonly counters: Readonly<PublisherCounters>;
}

export function newPublisherCounters(): PublisherCounters {
  return {
    published: 0,
    messages: 0,
    batches: 0,
    acknowledged: 0,
    duplicates: 0,
    retried: 0,
    refused: 0,
    split: 0,
    parts: 0,
    deadLettered: 0,
    ackErrors: 0,
    ackTimeouts: 0,
    inFlight: 0,
    inFlightMessages: 0,
    inFlightBytes: 0,
  };
}
