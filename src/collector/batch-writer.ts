// Writes the batches of a partition: each line to its host's file (one write per host), lines that
// must not become a path to quarantine, then a flush and the partition state; only then is a
// batch acknowledged. A failing write is retried in place with back-off, never skipped, so a
// host's lines keep their order and nothing is acknowledged unwritten; the server is told the
// batch is still in progress.
//
// Pipelined (pipeline()): batch N+1 (and more, up to maxWaitingLines) is written to the host files
// while batch N is made durable (fsync, state save, ack) by the durability queue. What N's save must describe (file sizes after
// N's writes, N's sequence, origins through N) is copied when N's writes end, before N+1 is
// routed, so N+1 cannot change it; the saved state is a separate durable copy that only
// those copies (in order) and new-file records change. Bytes of N+1 already in the files when N's
// state is saved are past N's recorded sizes, and a restart cuts them back (cutBackUnsavedWrites).
//
// With a journal (the default with fsync; partition-journal.ts), each batch's record (that same
// state, and its bytes) is appended right after its writes, the durability step is one fdatasync
// of the journal, and the host files are fsynced and the state saved at checkpoints.
import { parseMsgId } from "../protocol/msg-id.js";
import { parsePart } from "../protocol/line-parts.js";
import { parseBatchCount, splitBatch } from "../protocol/batch.js";
import type { SubjectParser } from "../protocol/subjects.js";
import type { Logger } from "../shared/log.js";
import type { CollectorCounters } from "./counters.js";
import { DurabilityQueue } from "./durability-queue.js";
import { mapLimited } from "./map-limited.js";
import { hostDirectoryProblem } from "./host-directory.js";
import { joinLines, type LineSink } from "./line-sink.js";
import { JoinArena } from "./join-arena.js";
import type { JournalEntry, PartitionJournal } from "./partition-journal.js";
import type { MessageBatch, ReadMessage } from "./partition-reader.js";
import { copyHosts, copyMark, dictionary, rememberOrigin, type HostMark, type PartitionStateData, type PartitionStateFile } from "./partition-state.js";
import type { StreamSource } from "./stream-gap.js";
import type { Quarantine, QuarantineEntry } from "./quarantine.js";
import { DEFAULT_RETRY, retryInPlace, type RetryContext, type RetryPolicy } from "./retry-in-place.js";

export { DEFAULT_RETRY, type RetryPolicy } from "./retry-in-place.js";

export interface BatchWriterOptions {
  sink: LineSink;
  quarantine: Quarantine;
  parser: SubjectParser;
  counters: CollectorCounters;
  log: Logger;
  /** For log lines: which partition reader this writer serves. */
  source: string;
  retry?: RetryPolicy;
  /**
   * The partition's saved state (exactly once across restarts): loaded, and already applied to the
   * files (cutBackUnsavedWrites), by the caller. Without it, duplicates are caught only in memory.
   */
  state?: { file: PartitionStateFile; data?: PartitionStateData; journal?: PartitionJournal };
  /**
   * With a journal: a checkpoint (fsync of the host files written since the last one, state save,
   * empty journal) once the journal holds this many bytes (default 32 MiB) ...
   */
  checkpointBytes?: number;
  /** ... or is this old (default 60 s), so the journal and the work after a crash stay small. */
  checkpointMs?: number;
  /** Reads sequences the consumer skipped straight from the stream (with `state`). */
  streamSource?: StreamSource;
  /**
   * Lines written and waiting for the durability stage (while it makes earlier ones durable)
   * before the next batch is held back; they are then made durable together. Default 10,000
   * (the reader's batch size): a backlog's full batches go one written while one is made
   * durable, and small batches at a low rate are written as they come.
   */
  maxWaitingLines?: number;
}

/** A batch written to the host files, waiting to be made durable and acknowledged. */
export interface WrittenBatch {
  readonly batch: MessageBatch;
  /** Messages it held (its lines are dropped once written: see MessageBatch.written). */
  readonly messages: number;
  /** Hosts whose files it wrote (to fsync). */
  readonly touched: readonly string[];
  /** The partition state at this batch's end, when state is kept. */
  readonly state?: StateAtBatchEnd;
  readonly terms: readonly (() => void)[];
  readonly lines: number;
  readonly bytes: number;
  readonly quarantined: number;
  readonly unparsable: number;
  readonly skipped: number;
}

/** Copies made when the batch's writes ended: later batches cannot change them. */
interface StateAtBatchEnd {
  sequence: number;
  /** Marks of the hosts the batch changed (fresh objects, never changed afterwards). */
  hosts: [string, HostMark][];
}

/** Parts of a split line received so far, per subject. */
interface PendingLine {
  key: string;
  n: number;
  next: number;
  parts: ReadMessage[];
}

interface Routed {
  hosts: Map<string, Uint8Array[]>;
  quarantined: QuarantineEntry[];
  unparsable: number;
  skipped: number;
  /** Highest sequence per stream in this batch. */
  marks: Map<string, number>;
  /** Last (origin, offset) per host written by this batch. */
  origins: Map<string, Map<string, number>>;
  /** Hostile hosts' messages to terminate once quarantined (dead letters). */
  terms: (() => void)[];
  /** Lines skipped as agent re-sends, per host: their count and offset range, for one log line a host. */
  resends?: Map<string, { count: number; origin: string; from: number; to: number; last: number }>;
}

const DEFAULT_MAX_WAITING_LINES = 10_000;
const DEFAULT_CHECKPOINT_BYTES = 32 * 1024 * 1024;
const DEFAULT_CHECKPOINT_MS = 60_000;

/** Hosts of one batch written (or opened) side by side: enough to keep the thread pool busy. */
const HOSTS_AT_ONCE = 8;

/** Subjects remembered with their verdict; cleared when full (hosts are few, subjects repeat). */
const MAX_REMEMBERED_SUBJECTS = 100_000;

type Verdict = { host: string; problem?: string } | null;

export class BatchWriter {
  /** Highest stream sequence written per stream, so a redelivery of a written line is skipped. */
  private readonly written = new Map<string, number>();
  /** Parse and safety check per subject, done once: every line of a host has the same subject. */
  private readonly verdicts = new Map<string, Verdict>();
  /** Split lines waiting for their last part, per subject. */
  private readonly pendingParts = new Map<string, PendingLine>();
  private checkedStream = false;
  /**
   * The state as saved: the live state (`state.data`, which routing reads and each written batch
   * moves on) may be ahead of it by batches not yet durable. Its marks are replaced by copies,
   * never shared with the live state.
   */
  private durable?: PartitionStateData;
  private readonly durability: DurabilityQueue<WrittenBatch>;
  private readonly retryContext: RetryContext;
  private readonly arena = new JoinArena();
  /**
   * With a journal: hosts whose files were written since the last checkpoint (fsynced at the
   * next), each with the number of its last batch, so a checkpoint keeps a host that a later
   * batch wrote again while its fsync ran.
   */
  private readonly unsynced = new Map<string, number>();
  private journaledBatches = 0;
  /** With a journal: the checkpoint of a partition gone quiet (armed after each step). */
  private idleTimer?: NodeJS.Timeout;
  /** A checkpoint made while idle failed: the next batch (or close) stops the partition with it. */
  private idleFailure?: Error;
  private disposed = false;
  private lastCheckpoint = Date.now();

  constructor(private readonly opts: BatchWriterOptions) {
    const data = opts.state?.data;
    if (data) {
      this.written.set(data.stream, data.sequence);
      this.durable = copyState(data);
    }
    this.retryContext = { log: opts.log, counters: opts.counters, source: opts.source, policy: opts.retry ?? DEFAULT_RETRY };
    this.durability = new DurabilityQueue({
      step: (group, signal) => this.makeDurable(group, signal),
      maxWaiting: opts.maxWaitingLines ?? DEFAULT_MAX_WAITING_LINES,
      weight: (w) => w.messages,
    });
  }

  /**
   * Writes the batch, makes it durable and acknowledges it; false when stopped before (then it
   * is not acknowledged). Nothing else may be in the pipeline.
   */
  async write(batch: MessageBatch, signal: AbortSignal): Promise<boolean> {
    return (await this.pipeline(batch, signal)) && (await this.drain());
  }

  /**
   * Writes the batch to the host files and queues it to be made durable and acknowledged after
   * the batches before it; resolves when the next batch may be written. False when stopped before
   * it was all written, or when an earlier batch could not be made durable (then neither it nor
   * any later batch is acknowledged).
   */
  async pipeline(batch: MessageBatch, signal: AbortSignal): Promise<boolean> {
    if (this.idleFailure) throw this.idleFailure;
    const written = await this.writeAhead(batch, signal);
    if (!written) return false;
    return await this.durability.add(written, signal);
  }

  /** Waits until every batch written is durable and acknowledged; false when one was stopped first. */
  drain(): Promise<boolean> {
    return this.durability.settle();
  }

  /** Writes the batch to the host files; undefined when stopped before it was all written. */
  private async writeAhead(batch: MessageBatch, signal: AbortSignal): Promise<WrittenBatch | undefined> {
    const { sink, quarantine, state } = this.opts;
    let messages = batch.messages;
    if (state) {
      // A stream check may start the state over: everything before must be durable by then.
      if ((!this.checkedStream || batch.fresh) && !(await this.durability.settle())) return undefined;
      const prepared = await this.retry("reading the stream for skipped lines", [batch], signal, () => this.prepare(batch));
      if (!prepared) return undefined;
      messages = prepared.result;
    }
    const routed = this.route(batch, messages);
    this.logResends(routed);
    const count = batch.messages.length;
    const perHost = [...routed.hosts];
    // Joined into the partition's reused buffer at once (the journal record holds these very
    // bytes): the reader may then drop the batch's line objects while the files are written.
    const joined = sink.append ? this.arena.join(perHost) : undefined;
    const hosts = perHost.map(([host]) => host);
    const lineCounts = perHost.map(([, hostLines]) => hostLines.length);
    if (joined) {
      routed.hosts.clear();
      for (const entry of perHost) entry[1] = [];
      batch.routed?.();
    }
    // A host's new file (first line, or a new day) is recorded before it is written, so a crash
    // right after the write still finds the file and cuts the unsaved batch back.
    const positions = new Map<string, { path: string; size: number }>();
    if (state && sink.position) {
      const got = await this.eachHost(hosts, "opening the log of", (host) => sink.positionNow?.(host), (host) => sink.position!(host), batch, signal);
      if (!got) return undefined;
      const opened: string[] = [];
      let rolled = false;
      for (const [i, host] of hosts.entries()) {
        const pos = got[i]!;
        positions.set(host, pos);
        const mark = this.stateData().hosts[host];
        if (!mark || mark.path !== pos.path) {
          opened.push(host);
          if (mark) rolled = true;
        }
      }
      if (opened.length > 0) {
        // A host that moved to a new file (a new day): the batches written to its old file must be
        // durable before its record points elsewhere. A new host has no earlier batch to wait for.
        if (rolled && !(await this.durability.settle())) return undefined;
        const live = this.stateData();
        const durable = this.durable!;
        for (const host of opened) {
          const pos = positions.get(host)!;
          const mark: HostMark = { path: pos.path, size: pos.size, origins: live.hosts[host]?.origins ?? dictionary() };
          live.hosts[host] = mark;
          durable.hosts[host] = copyMark(mark);
        }
        if (!(await this.recordOpened(opened, [batch], signal))) return undefined;
      }
    }
    const touched: string[] = [];
    let lines = 0;
    let bytes = 0;
    const writes = await this.eachHost(
      hosts,
      "writing the log of",
      (host, i) => (joined ? sink.appendNow?.(host, joined[i]![1]) : undefined),
      (host, i) => (joined ? sink.append!(host, joined[i]![1]) : sink.write(host, perHost[i]![1])),
      batch,
      signal,
    );
    if (!writes) return undefined;
    for (const [i, [host]] of perHost.entries()) {
      const written = writes[i]!;
      touched.push(host);
      lines += lineCounts[i]!;
      bytes += written;
      const pos = positions.get(host);
      if (pos) pos.size += written;
    }
    if (routed.quarantined.length > 0) {
      const ok = await this.retry("writing the quarantine file", [batch], signal, () => quarantine.add(routed.quarantined));
      if (!ok) return undefined;
    }
    // The state at this batch's end, copied now: the next batch is routed before this one is saved.
    let stateAtEnd: StateAtBatchEnd | undefined;
    if (state) {
      const data = this.stateData();
      const changed = new Set<string>();
      for (const [host, pos] of positions) {
        const mark = data.hosts[host]!;
        mark.path = pos.path;
        mark.size = pos.size;
        changed.add(host);
      }
      for (const [host, origins] of routed.origins) {
        const mark = (data.hosts[host] ??= { path: "", size: 0, origins: dictionary() } as HostMark);
        for (const [origin, offset] of origins) rememberOrigin(mark, origin, offset);
        changed.add(host);
      }
      const mark = routed.marks.get(data.stream);
      if (mark !== undefined) data.sequence = Math.max(data.sequence, this.safeSequence(mark));
      stateAtEnd = { sequence: data.sequence, hosts: [...changed].map((host) => [host, copyMark(data.hosts[host]!)]) };
      if (state.journal && !(await this.journalBatch(stateAtEnd, joined ?? perHost.map(([host, hostLines]) => [host, joinLines(hostLines)]), [batch], signal))) return undefined;
    }
    // Written: a redelivery of these lines in a later batch is skipped, whether or not this batch
    // is durable yet (if it never becomes durable, nothing after it is acknowledged either).
    for (const [stream, sequence] of routed.marks) this.written.set(stream, sequence);
    // Its lines are in the files: while it waits to be made durable, only its acknowledgement is kept.
    batch.written?.();
    return {
      batch,
      messages: count,
      touched,
      state: stateAtEnd,
      terms: routed.terms,
      lines,
      bytes,
      quarantined: routed.quarantined.length - routed.unparsable,
      unparsable: routed.unparsable,
      skipped: routed.skipped,
    };
  }

  /**
   * The durability step for written batches, in order: fsync their files, save the state at the
   * last one's end, acknowledge each (with a journal: makeJournaled). False when stopped while
   * retrying (none acknowledged).
   */
  private async makeDurable(group: WrittenBatch[], signal: AbortSignal): Promise<boolean> {
    if (this.opts.state?.journal) return this.makeJournaled(group);
    const { sink } = this.opts;
    const batches = group.map((w) => w.batch);
    const touched = new Set<string>();
    for (const w of group) for (const host of w.touched) touched.add(host);
    if (touched.size > 0) {
      const ok = await this.retry("flushing the logs to disk", batches, signal, () => sink.flush(touched));
      if (!ok) return false;
    }
    if (this.opts.state && group.some((w) => w.state)) {
      const durable = this.durable!;
      for (const w of group) {
        if (!w.state) continue;
        for (const [host, mark] of w.state.hosts) durable.hosts[host] = mark;
        durable.sequence = Math.max(durable.sequence, w.state.sequence);
      }
      if (!(await this.saveState(batches, signal))) return false;
    }
    await this.acknowledge(group);
    return true;
  }

  /**
   * With a journal, right after a batch's writes: its record (the state it moves to and every byte
   * it wrote) is appended to the journal, not yet synced, so the bytes need not be kept; the
   * durability step syncs it. The journal's state moves on now, with the hosts to fsync at the next
   * checkpoint, so a checkpoint always covers every record in the journal. (A record of a batch
   * never acknowledged is harmless: its lines are in the files and skipped when they come again.)
   */
  private async journalBatch(end: StateAtBatchEnd, bytes: [string, Uint8Array][], batches: MessageBatch[], signal: AbortSignal): Promise<boolean> {
    const journal = this.opts.state!.journal!;
    const durable = this.durable!;
    for (const [host, mark] of end.hosts) durable.hosts[host] = mark;
    durable.sequence = Math.max(durable.sequence, end.sequence);
    const byHost = new Map(bytes);
    const number = ++this.journaledBatches;
    for (const host of byHost.keys()) this.unsynced.set(host, number);
    // Every written host's mark changed (its size), so the hosts of `end` hold them all, in any order:
    // the data goes in the order of the entry's hosts.
    const entry = this.journalEntry(end.hosts.map(([host]) => host), (host) => byHost.get(host)?.length ?? 0);
    const data = entry.hosts.filter((h) => h.length > 0).map((h) => byHost.get(h.host)!);
    return (await this.retry("writing the partition journal", batches, signal, () => journal.append(entry, data))) !== undefined;
  }

  /**
   * The durability step with a journal: one fdatasync of the journal makes the group's records
   * (appended as they were written) durable; then the acknowledgements. The host files are
   * fsynced at checkpoints only. A failed fdatasync is not retried: the kernel may have dropped
   * the pages it could not write, and a second try can report success without them, so the
   * partition stops and a restart replays what the journal really holds.
   */
  private async makeJournaled(group: WrittenBatch[]): Promise<boolean> {
    const journal = this.opts.state!.journal!;
    await this.syncJournal(journal);
    await this.acknowledge(group);
    const every = this.opts.checkpointMs ?? DEFAULT_CHECKPOINT_MS;
    if (journal.size >= (this.opts.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES) || Date.now() - this.lastCheckpoint >= every) {
      await this.checkpoint();
    }
    // A partition that goes quiet is checkpointed too, so its files do not wait unsynced (and its
    // journal unreplayed) until the next line or a stop. One timer, restarted after every step.
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(() => void this.checkpointIdle(), every).unref();
    return true;
  }

  /**
   * The idle checkpoint. It may run beside a step: it is queued with the journal's records, and
   * covers every record before it. A failure is logged at once and stops the partition at its
   * next batch or its stop (the journal still holds every record).
   */
  private async checkpointIdle(): Promise<void> {
    if (this.disposed || this.idleFailure || !this.uncheckpointed()) return;
    try {
      await this.checkpoint();
    } catch (err) {
      this.idleFailure = err as Error;
      this.opts.log.error(`${this.opts.source}: ${(err as Error).message}`);
    }
  }

  /** A journal record of the durable state for `hosts`; `length` gives (and gathers) each host's bytes. */
  private journalEntry(hosts: string[], length: (host: string) => number): JournalEntry {
    const durable = this.durable!;
    return {
      stream: durable.stream,
      streamCreated: durable.streamCreated,
      sequence: durable.sequence,
      hosts: hosts.map((host) => {
        const mark = durable.hosts[host]!;
        return { host, path: mark.path, size: mark.size, origins: mark.origins, length: length(host) };
      }),
    };
  }

  /**
   * fsyncs the files written since the last checkpoint, saves the state and empties the journal.
   * It runs in the journal's queue, after every record appended before it. A batch moves
   * `durable` and `unsynced` on together, after its writes and before its record is appended, so
   * both are copied at once when the checkpoint starts: a batch that moves them on while the
   * fsyncs run is neither in the state saved nor taken out of `unsynced`, and its record comes
   * after the checkpoint.
   */
  private async checkpoint(): Promise<void> {
    const { state, sink } = this.opts;
    const journal = state!.journal!;
    try {
      await journal.checkpoint(async () => {
        const hosts = new Map(this.unsynced);
        const saved = copyState(this.durable!);
        if (hosts.size > 0) await sink.flush(hosts.keys());
        await state!.file.save(saved);
        for (const [host, number] of hosts) if (this.unsynced.get(host) === number) this.unsynced.delete(host);
        return state!.file.saveCounter;
      });
    } catch (err) {
      // Not retried, for the reason a journal fdatasync is not (makeJournaled): a retried fsync can
      // succeed without the pages the failed one dropped. The journal still holds every record,
      // and a restart writes them back.
      throw new Error(`checkpointing "${journal.path}" failed (fsync of the host files or the state save: ${(err as Error).message}); stopping, a restart replays the journal`, { cause: err });
    }
    this.lastCheckpoint = Date.now();
  }

  /**
   * Everything written is made durable and acknowledged, and with a journal a last checkpoint
   * leaves it empty (a clean stop: the next start has nothing to replay). False when stopped first.
   */
  async close(): Promise<boolean> {
    clearTimeout(this.idleTimer);
    if (this.idleFailure) throw this.idleFailure;
    if (!(await this.drain())) return false;
    if (this.uncheckpointed()) await this.checkpoint();
    return true;
  }

  /** With a journal: records or unsynced host files since the last checkpoint. */
  private uncheckpointed(): boolean {
    const journal = this.opts.state?.journal;
    return !!journal && !!this.durable && (journal.length > 0 || this.unsynced.size > 0);
  }

  /** No idle checkpoint runs from now on (the partition's loop has ended, however it ended). */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.idleTimer);
  }

  /** Records hosts' new files before anything is written to them: in the journal, or a state save. */
  private async recordOpened(hosts: string[], batches: MessageBatch[], signal: AbortSignal): Promise<boolean> {
    const journal = this.opts.state?.journal;
    if (!journal) return await this.saveState(batches, signal);
    const entry = this.journalEntry(hosts, () => 0);
    if (!(await this.retry("writing the partition journal", batches, signal, () => journal.append(entry, [])))) return false;
    await this.syncJournal(journal); // before anything is written to the new files, as a state save would be
    return true;
  }

  /** fdatasync of the journal; a failure is thrown, never retried (see makeJournaled). */
  private async syncJournal(journal: PartitionJournal): Promise<void> {
    try {
      await journal.sync();
    } catch (err) {
      throw new Error(`the partition journal "${journal.path}" could not be made durable (${(err as Error).message}); stopping without acknowledging, a restart replays what it holds`, { cause: err });
    }
  }

  private async acknowledge(group: WrittenBatch[]): Promise<void> {
    const { counters } = this.opts;
    for (const w of group) {
      for (const term of w.terms) term();
      counters.linesWritten += w.lines;
      counters.bytesWritten += w.bytes;
      counters.quarantined += w.quarantined;
      counters.unparsable += w.unparsable;
      counters.duplicatesSkipped += w.skipped;
      counters.batches++;
      await w.batch.ack();
    }
  }

  /** Resets for a recreated stream, and puts lines the consumer skipped in front of the batch. */
  private async prepare(batch: MessageBatch): Promise<readonly ReadMessage[]> {
    const { state, streamSource, log, counters, source } = this.opts;
    const first = batch.messages.find((m) => m.sequence !== undefined);
    if (!state || !first?.stream) return batch.messages;
    if (!this.checkedStream || batch.fresh) {
      // Marked checked only once the server answered: a failed look (a reconnect, say) is retried
      // as a whole, or the state would never be set up for this stream.
      const created = streamSource ? await streamSource.created() : "";
      this.checkedStream = true;
      const data = state.data;
      if (!data || data.stream !== first.stream || (streamSource && data.streamCreated !== created) || batch.fresh) {
        if (data) log.warn(`${source}: the stream "${first.stream}" was made again (created ${created}); its sequences start over, so the saved sequence ${data.sequence} no longer applies`);
        state.data = { version: 2, stream: first.stream, streamCreated: created, sequence: 0, hosts: data?.hosts ?? dictionary() };
        this.durable = copyState(state.data); // nothing is in the durability queue (settled before)
        this.written.clear();
        return batch.messages;
      }
    }
    const data = state.data!;
    if (data.sequence === 0 || !streamSource) return batch.messages;
    // The first line not written yet: anything between the saved sequence and it was skipped.
    const next = batch.messages.find((m) => m.sequence !== undefined && m.sequence > data.sequence);
    if (!next || next.sequence! <= data.sequence + 1) return batch.messages;
    const fill = await streamSource.missing(data.sequence + 1, next.sequence!);
    for (const lost of fill.lost) {
      counters.linesLost += lost.count ?? 0;
      log.error(`${source}: stream sequences ${lost.from}-${lost.to} were never delivered and are no longer in the stream (removed by its limits or max-age): those lines are lost`);
    }
    if (fill.messages.length > 0) {
      counters.gapFilled += fill.messages.length;
      log.warn(`${source}: the consumer skipped ${fill.messages.length} lines between sequences ${data.sequence + 1} and ${next.sequence! - 1} (its state was behind the stream's after a server crash?); read them from the stream and wrote them first`);
    }
    return [...fill.messages, ...batch.messages];
  }

  /** The sequence through which every line is written: before the first part of a line still being joined. */
  private safeSequence(mark: number): number {
    let safe = mark;
    for (const pending of this.pendingParts.values()) {
      const firstSeq = pending.parts[0]?.sequence;
      if (firstSeq !== undefined) safe = Math.min(safe, firstSeq - 1);
    }
    return safe;
  }

  private stateData(): PartitionStateData {
    return this.opts.state!.data!;
  }

  /** Saves the durable copy (as it is when each attempt starts). */
  private async saveState(batches: readonly MessageBatch[], signal: AbortSignal): Promise<boolean> {
    const { state } = this.opts;
    if (!state || !this.durable) return true;
    return (await this.retry("saving the partition state", batches, signal, () => state.file.save(this.durable!))) !== undefined;
  }

  /** Joins split lines: the whole line when its last part arrives; unfinished ones go to quarantine. */
  private joinParts(m: ReadMessage, routed: Routed): ReadMessage | undefined {
    const pending = this.pendingParts.get(m.subject);
    const giveUp = (p: PendingLine, why: string) => {
      this.pendingParts.delete(m.subject);
      this.opts.counters.incompleteLines++;
      this.opts.log.warn(`${this.opts.source}: a split line on ${m.subject} (${p.key}) lacks parts after ${p.next - 1}/${p.n} (${why}); its parts are kept in quarantine, not written`);
      for (const part of p.parts) {
        routed.quarantined.push({ subject: part.subject, stream: part.stream, sequence: part.sequence, reason: `part of a split line whose other parts are missing (${why})`, line: part.data });
      }
    };
    if (m.part === undefined) {
      if (pending) giveUp(pending, "a whole line came before its last part");
      return m;
    }
    const part = parsePart(m.part);
    const id = m.msgId ? parseMsgId(m.msgId) : undefined;
    const key = id ? `${id.originKey}:${id.offset}` : "";
    if (!part) {
      if (pending) giveUp(pending, "a malformed part header came");
      routed.quarantined.push({ subject: m.subject, stream: m.stream, sequence: m.sequence, reason: `malformed Shipper-Part header "${m.part}"`, line: m.data });
      return undefined;
    }
    if (part.k === 1) {
      if (pending) giveUp(pending, "another split line started");
      this.pendingParts.set(m.subject, { key, n: part.n, next: 2, parts: [kept(m)] });
    } else if (pending && pending.key === key && pending.n === part.n && pending.next === part.k) {
      pending.parts.push(kept(m));
      pending.next++;
    } else {
      if (pending) giveUp(pending, `part ${part.k}/${part.n} of another line came`);
      this.opts.counters.incompleteLines++;
      routed.quarantined.push({ subject: m.subject, stream: m.stream, sequence: m.sequence, reason: `part ${part.k}/${part.n} of a split line whose first parts are missing`, line: m.data });
      return undefined;
    }
    const done = this.pendingParts.get(m.subject)!;
    if (done.next <= done.n) return undefined;
    this.pendingParts.delete(m.subject);
    return messageWith(m, Buffer.concat(done.parts.map((p) => p.data)), undefined);
  }

  private route(batch: MessageBatch, messages: readonly ReadMessage[]): Routed {
    const { parser } = this.opts;
    if (batch.fresh) this.written.clear();
    const routed: Routed = { hosts: new Map(), quarantined: [], unparsable: 0, skipped: 0, marks: new Map(), origins: new Map(), terms: [] };
    for (const message of messages) {
      const m = message;
      if (m.stream !== undefined && m.sequence !== undefined) {
        // At or below the mark it was written already: a redelivery (its ack was lost), or the
        // server sending again after a crash rolled its consumer state back. (A recreated stream
        // starts its sequences again; the reader marks that batch fresh.) The mark counts this
        // batch's own lines too: after a gap, lines read from the stream can be followed in the
        // same batch by their redeliveries, once their ack wait has run out.
        const mark = routed.marks.get(m.stream) ?? this.written.get(m.stream);
        if (mark !== undefined && m.sequence <= mark) {
          routed.skipped++;
          continue;
        }
        routed.marks.set(m.stream, Math.max(m.sequence, routed.marks.get(m.stream) ?? 0));
      }
      const whole = this.joinParts(message, routed);
      if (!whole) continue;
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
        routed.quarantined.push({ host: verdict.host, subject: m.subject, stream: m.stream, sequence: m.sequence, reason: verdict.problem, line: whole.data });
        termLater(routed, m);
        continue;
      }
      let lines = routed.hosts.get(verdict.host);
      if (!lines) routed.hosts.set(verdict.host, (lines = []));
      // A reader may have read a whole line's id on arrival; otherwise it is taken apart here.
      let originKey = whole.originKey;
      let offset = whole.offset ?? 0;
      const id = originKey === undefined && whole.msgId ? parseMsgId(whole.msgId) : undefined;
      if (id) ({ originKey, offset } = id);
      if (whole.batch !== undefined) {
        // Several lines in one message (batch.ts): split back, each checked like a line of its own.
        const count = parseBatchCount(whole.batch);
        const split = count !== undefined && originKey !== undefined ? splitBatch(whole.data, count, offset) : undefined;
        if (!split || originKey === undefined) {
          const reason = `malformed batch (Shipper-Batch "${whole.batch}", Nats-Msg-Id "${whole.msgId ?? ""}")`;
          routed.quarantined.push({ host: verdict.host, subject: m.subject, stream: m.stream, sequence: m.sequence, reason, line: whole.data });
          termLater(routed, m);
          continue;
        }
        const origin = originKey;
        split.lines.forEach((line, k) => {
          if (!this.isResend(routed, verdict.host, origin, split.ends[k]!)) lines.push(line);
        });
        continue;
      }
      if (originKey !== undefined && this.isResend(routed, verdict.host, originKey, offset)) continue;
      lines.push(whole.data);
    }
    for (const [host, lines] of routed.hosts) if (lines.length === 0) routed.hosts.delete(host); // all re-sends
    return routed;
  }

  /**
   * The same origin at or below its last written offset: the agent sent it again (after a crash,
   * past the stream's duplicate window). Written already, so skipped and counted. Otherwise the
   * offset is remembered as the host's last for its origin.
   */
  private isResend(routed: Routed, host: string, originKey: string, offset: number): boolean {
    let origins = routed.origins.get(host);
    const last = origins?.get(originKey) ?? this.opts.state?.data?.hosts[host]?.origins[originKey];
    if (last !== undefined && offset <= last) {
      this.opts.counters.resendsSkipped++;
      const seen = (routed.resends ??= new Map()).get(host);
      if (seen) {
        seen.count++;
        seen.from = Math.min(seen.from, offset);
        seen.to = Math.max(seen.to, offset);
      } else routed.resends.set(host, { count: 1, origin: originKey, from: offset, to: offset, last });
      return true;
    }
    if (!origins) routed.origins.set(host, (origins = new Map()));
    origins.set(originKey, offset);
    return false;
  }

  /**
   * Says which lines were skipped as re-sends: normally an agent sending again past the stream's
   * duplicate window what is already written, but also what a line stored late (after later lines
   * of its file, e.g. refused once by the server) looks like, so it must never pass unseen.
   */
  private logResends(routed: Routed): void {
    if (!routed.resends) return;
    for (const [host, r] of routed.resends) {
      this.opts.log.warn(
        `${this.opts.source}: skipped ${r.count} line(s) of ${host} (origin ${r.origin}, offsets ${r.from}-${r.to}) as re-sends: at or below offset ${r.last}, already written (an agent sending again after its duplicate window; if that agent did not restart, these lines arrived after later lines of their file and are not in the file)`,
      );
    }
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

  /**
   * One operation per host of a batch: done at once where `now` can (most hosts of most batches:
   * their files are open, so no promise is made), the others through the retry, HOSTS_AT_ONCE at
   * a time. A failed attempt at once (a rejected promise) is the retry's first. Results in item
   * order; undefined when stopped before all were done.
   */
  private async eachHost<R extends object | number>(
    hosts: readonly string[],
    what: string,
    now: (host: string, index: number) => R | Promise<R> | undefined,
    later: (host: string, index: number) => Promise<R>,
    batch: MessageBatch,
    signal: AbortSignal,
  ): Promise<R[] | undefined> {
    const results = new Array<R>(hosts.length);
    const rest: number[] = [];
    const failed = new Map<number, Promise<R>>();
    for (let i = 0; i < hosts.length; i++) {
      const done = now(hosts[i]!, i);
      if (done === undefined) rest.push(i);
      else if (done instanceof Promise) {
        failed.set(i, done);
        rest.push(i);
      } else results[i] = done;
    }
    if (rest.length === 0) return results;
    const got = await mapLimited(rest, HOSTS_AT_ONCE, (i) => {
      let first = failed.get(i);
      const attempt = (): Promise<R> => {
        const f = first;
        first = undefined;
        return f ?? later(hosts[i]!, i);
      };
      return this.retry(`${what} ${hosts[i]!}`, [batch], signal, attempt);
    });
    for (const [k, i] of rest.entries()) {
      const g = got[k];
      if (!g) return undefined;
      results[i] = g.result;
    }
    return results;
  }

  private retry<T>(what: string, batches: readonly MessageBatch[], signal: AbortSignal, op: () => Promise<T>): Promise<{ result: T } | undefined> {
    return retryInPlace(this.retryContext, what, batches, signal, op);
  }
}

function copyState(data: PartitionStateData): PartitionStateData {
  return { version: data.version, stream: data.stream, streamCreated: data.streamCreated, sequence: data.sequence, hosts: copyHosts(data.hosts) };
}

/**
 * A part kept for a later batch: its bytes copied, since a reader may reuse a written batch's
 * memory (MessageBatch.written).
 */
function kept(m: ReadMessage): ReadMessage {
  return messageWith(m, Buffer.from(m.data), m.part);
}

/** Terminates `m` once its batch is written: its term is bound now (a reader's line may be gone by then). */
function termLater(routed: Routed, m: ReadMessage): void {
  const term = m.term;
  if (term) routed.terms.push(term.bind(m));
}

/**
 * A message of its own with `m`'s fields but this payload and part. Made field by field: a reader's
 * message may keep its fields in getters, which a spread would not copy, and its term is bound now.
 */
function messageWith(m: ReadMessage, data: Uint8Array, part: string | undefined): ReadMessage {
  return { subject: m.subject, stream: m.stream, sequence: m.sequence, deliveries: m.deliveries, msgId: m.msgId, part, batch: m.batch, data, term: m.term?.bind(m) };
}
