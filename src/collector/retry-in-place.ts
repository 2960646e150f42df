// Runs an operation of the collector's write path until it works: a failure (disk full, a file
// system error) is logged, counted and retried with back-off, never skipped, so nothing is
// acknowledged unwritten; meanwhile the server is told the batches are still in progress.
import type { Logger } from "../shared/log.js";
import type { CollectorCounters } from "./counters.js";
import { delay } from "./delay.js";
import type { MessageBatch } from "./partition-reader.js";

export interface RetryPolicy {
  firstMs: number;
  /** Kept well under the consumer's ack wait, as each retry also says "in progress". */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { firstMs: 100, maxMs: 10_000 };

export interface RetryContext {
  log: Logger;
  counters: CollectorCounters;
  /** For log lines: which partition reader. */
  source: string;
  policy: RetryPolicy;
}

/** Runs `op` until it succeeds (its result, wrapped) or the signal stops us (undefined). */
export async function retryInPlace<T>(
  ctx: RetryContext,
  what: string,
  batches: readonly MessageBatch[],
  signal: AbortSignal,
  op: () => Promise<T>,
): Promise<{ result: T } | undefined> {
  const { log, counters, source, policy } = ctx;
  let wait = policy.firstMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await op();
      if (attempt > 1) log.info(`${source}: ${what} worked again after ${attempt} attempts`);
      return { result };
    } catch (err) {
      counters.writeErrors++;
      const reason = (err as Error).message;
      const message = `${source}: ${what} failed (${reason}); retrying in ${wait} ms, nothing is acknowledged until it is written`;
      if (attempt === 1) log.error(message);
      else log.warn(message);
    }
    for (const batch of batches) batch.working();
    await delay(wait, signal);
    if (signal.aborted) return undefined;
    wait = Math.min(policy.maxMs, wait * 2);
  }
}
