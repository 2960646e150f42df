import type { StreamSource } from "./stream-gap.js";

// A source of batches of messages of one partition. The collector writes a batch, flushes it, and
// only then acknowledges it (in delivery order, while later batches are already being written);
// how messages arrive (pull consumer, push delivery subject) and how they are acknowledged
// (AckAll, one ack per message, none) is the reader's business.

/** One stored line as the collector sees it. */
export interface ReadMessage {
  /** The original subject, `<prefix>.p<N>.<host>`, where the host comes from. */
  readonly subject: string;
  /** The raw line, without its "\n". */
  readonly data: Uint8Array;
  /** Stream and stream sequence, when the delivery says (for quarantine records, skips, dead letters). */
  readonly stream?: string;
  readonly sequence?: number;
  /** How often the server has delivered this message (1 the first time). */
  readonly deliveries: number;
  /** `Nats-Msg-Id` (origin and offset of an agent's line), for re-send detection. */
  readonly msgId?: string;
  /**
   * A whole line's short `Nats-Msg-Id` already taken apart by a reader that reads ids on arrival
   * (the pull reader, without a string a line): what parseMsgId gives as originKey and offset.
   * Absent: msgId is parsed.
   */
  readonly originKey?: string;
  readonly offset?: number;
  /** `Shipper-Part: k/n` on the parts of a split line. */
  readonly part?: string;
  /** `Shipper-Batch: <count>` on a message holding several consecutive lines of one file. */
  readonly batch?: string;
  /** Terminates this message (never redelivered; a terminated advisory feeds the dead letters), when the reader can. */
  term?(): void;
}

export interface MessageBatch {
  readonly messages: readonly ReadMessage[];
  /**
   * The source started again (its consumer or stream was recreated), so stream sequences seen
   * before say nothing about these messages: none of them was written already.
   */
  readonly fresh?: boolean;
  /**
   * The writer has read what it needs of the messages (routed, and joined into its own buffer):
   * the reader may drop the message objects now (messages may then be empty), but their bytes
   * stay valid until written(). Called before written(), or not at all.
   */
  routed?(): void;
  /**
   * Its lines were written: from now on only ack() and working() are called, so the reader may
   * drop the lines (messages may then be empty) and keep just what acknowledging needs. Their
   * bytes may be reused at once: whoever keeps a line for later (the parts of a split line) copies it.
   */
  written?(): void;
  /** Acknowledges every message of the batch; call only once they are written and flushed. */
  ack(): Promise<void>;
  /** Tells the server the batch is still being worked on (extends the ack wait), e.g. while a write is retried. */
  working(): void;
}

export interface PartitionReader {
  readonly partition: number;
  /** What it reads, for logs: `LOGS_3 > COLLECTOR` or `out.logs.p3`. */
  readonly source: string;
  /**
   * Batches in delivery order. The next batch is taken once the previous one is written, not yet
   * acknowledged: the collector makes written batches durable and acknowledges them in order
   * behind the writing (batch-writer.ts, durability-queue.ts), so a reader must not assume the
   * previous batch is acknowledged when it hands out the next.
   */
  batches(): AsyncIterable<MessageBatch>;
  /** Reads messages straight from the stream, to fill sequences the consumer skipped (pull readers only). */
  readonly streamSource?: StreamSource;
  /**
   * Stops fetching. Messages the server already sent are still handed out (so none is left
   * delivered but unwritten), then batches() ends.
   */
  stop(): Promise<void>;
}
