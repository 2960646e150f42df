// Writes one batch of a partition: each line to its host's file (one write per host), lines that
// must not become a path to quarantine, then a flush; only then may the batch be acknowledged.
// A failing write is retried in place with back-off, never skipped, so a host's lines keep their
// order and nothing is acknowledged unwritten; the server is told the batch is still in progress.
import type { SubjectParser } from "../protocol/subjects.js";
import type { Logger } from "../shared/log.js";
import type { CollectorCounters } from "./counters.js";
import { delay } from "./delay.js";
import { hostDirectoryProblem } from "./host-directory.js";
import type { LineSink } from "./line-sink.js";
import type { MessageBatch } from "./partition-reader.js";
import type { Quarantine, QuarantineEntry } from "./quarantine.js";

export interface RetryPolicy {
  firstMs: number;
  /** Kept well under the consumer's ack wait, as each retry also says "in progress". */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { firstMs: 100, maxMs: 10_000 };

export interface BatchWriterOptions {
  sink: LineSink;
  quarantine: Quarantine;
  parser: SubjectParser;
  counters: CollectorCounters;
  log: Logger;
  /** For log lines: which partition reader this writer serves. */
  source: string;
  retry?: RetryPolicy;
}

interface Routed {
  hosts: Map<string, Uint8Array[]>;
  quarantined: QuarantineEntry[];
  unparsable: number;
  skipped: number;
  /** Highest sequence per stream in this batch. */
  marks: Map<string, number>;
}

/** Subjects remembered with their verdict; cleared when full (hosts are few, subjects repeat). */
const MAX_REMEMBERED_SUBJECTS = 100_000;

type Verdict = { host: string; problem?: string } | null;

export class BatchWriter {
  /** Highest stream sequence written per stream, so a redelivery of a written line is skipped. */
  private readonly written = new Map<string, number>();
  /** Parse and safety check per subject, done once: every line of a host has the same subject. */
  private readonly verdicts = new Map<string, Verdict>();

  constructor(private readonly opts: BatchWriterOptions) {}

  /** Writes and flushes the batch; false when stopped before it was all written (do not ack). */
  async write(batch: MessageBatch, signal: AbortSignal): Promise<boolean> {
    const routed = this.route(batch);
    const { sink, quarantine, counters } = this.opts;
    const touched: string[] = [];
    let lines = 0;
    let bytes = 0;
    for (const [host, hostLines] of routed.hosts) {
      const written = await this.retry(`writing the log of ${host}`, batch, signal, () => sink.write(host, hostLines));
      if (!written) return false;
      touched.push(host);
      lines += hostLines.length;
      bytes += written.result;
    }
    if (routed.quarantined.length > 0) {
      const ok = await this.retry("writing the quarantine file", batch, signal, () => quarantine.add(routed.quarantined));
      if (!ok) return false;
    }
    if (touched.length > 0) {
      const ok = await this.retry("flushing the logs to disk", batch, signal, () => sink.flush(touched));
      if (!ok) return false;
    }
    counters.linesWritten += lines;
    counters.bytesWritten += bytes;
    counters.quarantined += routed.quarantined.length - routed.unparsable;
    counters.unparsable += routed.unparsable;
    counters.duplicatesSkipped += routed.skipped;
    counters.batches++;
    for (const [stream, sequence] of routed.marks) this.written.set(stream, sequence);
    return true;
  }

  private route(batch: MessageBatch): Routed {
    const { parser } = this.opts;
    if (batch.fresh) this.written.clear();
    const routed: Routed = { hosts: new Map(), quarantined: [], unparsable: 0, skipped: 0, marks: new Map() };
    for (const m of batch.messages) {
      if (m.stream !== undefined && m.sequence !== undefined) {
        // At or below the mark it was written already: a redelivery (its ack was lost), or the
        // server sending again after a crash rolled its consumer state back. (A recreated stream
        // starts its sequences again; the reader marks that batch fresh.)
        const mark = this.written.get(m.stream);
        if (mark !== undefined && m.sequence <= mark) {
          routed.skipped++;
          continue;
        }
        routed.marks.set(m.stream, m.sequence);
      }
      const verdict = this.verdictFor(m.subject);
      if (!verdict) {
        routed.unparsable++;
        routed.quarantined.push({
          subject: m.subject,
          stream: m.stream,
          sequence: m.sequence,
          reason: `the subject is not ${parser.prefix}.p<N>.<host>`,
          line: m.data,
        });
        continue;
      }
      if (verdict.problem) {
        routed.quarantined.push({ host: verdict.host, subject: m.subject, stream: m.stream, sequence: m.sequence, reason: verdict.problem, line: m.data });
        continue;
      }
      let lines = routed.hosts.get(verdict.host);
      if (!lines) routed.hosts.set(verdict.host, (lines = []));
      lines.push(m.data);
    }
    return routed;
  }

  private verdictFor(subject: string): Verdict {
    let verdict = this.verdicts.get(subject);
    if (verdict === undefined) {
      const address = this.opts.parser.parse(subject);
      verdict = address ? { host: address.host, problem: hostDirectoryProblem(address.host) } : null;
      if (this.verdicts.size >= MAX_REMEMBERED_SUBJECTS) this.verdicts.clear();
      this.verdicts.set(subject, verdict);
    }
    return verdict;
  }

  /** Runs `op` until it succeeds (its result, wrapped) or the signal stops us (undefined). */
  private async retry<T>(what: string, batch: MessageBatch, signal: AbortSignal, op: () => Promise<T>): Promise<{ result: T } | undefined> {
    const { log, counters, source } = this.opts;
    const policy = this.opts.retry ?? DEFAULT_RETRY;
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
      batch.working();
      await delay(wait, signal);
      if (signal.aborted) return undefined;
      wait = Math.min(policy.maxMs, wait * 2);
    }
  }
}
