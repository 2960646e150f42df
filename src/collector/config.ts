// The collector's settings, checked once at start (by the CLI) and frozen.
import type { ConnectionSettings } from "../config/connection.js";
import type { OutputPattern } from "../config/output-pattern.js";

export interface CollectorConfig {
  /** SHIPPER_SUBJECT: the agents' subject prefix, used to find the host in a subject. */
  readonly prefix: string;
  /** SHIPPER_DIRECTORY: root of the per-host directories. */
  readonly directory: string;
  /** SHIPPER_OUTPUT, validated: the file name inside each host directory. */
  readonly output: OutputPattern;
  /** SHIPPER_STREAM_TARGET: read the push delivery subjects `<target>.p<N>` instead of pull consumers. */
  readonly streamTarget?: string;
  /**
   * SHIPPER_READ_PARTITIONS as given (already checked for syntax); checked against the
   * deployment's partition count once connected. Undefined: every partition of the deployment.
   */
  readonly readPartitions?: { readonly setting: string; readonly raw: string };
  /** Stream and consumer names used when the deployment has no recorded layout. */
  readonly stream: string;
  readonly consumer: string;
  /** fsync each written file before acknowledging its lines. */
  readonly fsync: boolean;
  /**
   * With fsync: each durability step appends what it wrote to the partition's journal (one
   * fdatasync) instead of fsyncing every host file it touched; host files are fsynced at checkpoints.
   */
  readonly journal: boolean;
  /**
   * SHIPPER_SYNC_APPENDS: append to host files with synchronous writes (the default, fastest); off:
   * through the thread pool, for file systems whose writes can block for long (sink-fs.ts).
   */
  readonly syncAppends: boolean;
  readonly maxOpenFiles: number;
  readonly maxBatch: number;
  /** --linger: ms a small batch waits for more while lines keep coming (0: none). */
  readonly lingerMs: number;
  /** --read-ahead: lines in memory over all partitions together (0: per partition, two batches each). */
  readonly readAhead?: number;
  /** --heap-growth: V8's heap growing percent (0: its default). */
  readonly heapGrowthPercent?: number;
  readonly connection: ConnectionSettings;
}

/**
 * Lines in memory over all partitions (~300 bytes each). Two batches a partition held 200,000 lines
 * with ten partitions. 60,000 kept the rate at 1,000 hosts and took ~60 MB less at 10,000; once
 * the collector wrote faster (synchronous appends), 10,000 hosts peaked at 186-199 MB with it, and
 * at 182-183 MB with 40,000, for about 3% of the rate at 1,000 hosts (within the machine's noise).
 */
export const DEFAULT_READ_AHEAD = 40_000;
/**
 * The heap grows by half between full collections, not V8's up to 300%: the collector's live heap
 * is small (waiting lines are outside it), and with 10,000 hosts V8's own growth alone passed
 * 200 MB. A heap under 32 MB may still grow to 32 MB (heap-growth.ts): 50% of the ~15 MB that
 * 1,000 hosts keep alive meant a full collection every ~100 ms.
 */
export const DEFAULT_HEAP_GROWTH = 50;
