// Where lines go that must not become a path: lines of hosts whose names are unsafe as a directory
// and lines whose subject does not parse. They are kept, not dropped: appended as one JSON object
// per line to `<directory>/.quarantine/<YYYY-MM-DD>.jsonl` (a name no host directory can have, as
// hosts starting with "." are refused), counted, and logged once per host and reason.
import { join } from "node:path";
import strftime from "strftime";
import type { Logger } from "../shared/log.js";
import { DIRECTORY_MODE, FILE_MODE } from "./file-sink.js";
import { nodeSinkFileSystem, type AppendFile, type SinkFileSystem } from "./sink-fs.js";

export const QUARANTINE_DIR = ".quarantine";
/** Distinct hosts logged one by one; past this only a summary line, so a flood cannot fill the log. */
const MAX_LOGGED_HOSTS = 10_000;

export interface QuarantineEntry {
  /** The host as cut from the subject; undefined when the subject did not parse. */
  host?: string;
  subject: string;
  stream?: string;
  sequence?: number;
  reason: string;
  line: Uint8Array;
}

export interface QuarantineOptions {
  directory: string;
  log: Logger;
  fsync?: boolean;
  fs?: SinkFileSystem;
  now?: () => Date;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function record(entry: QuarantineEntry, time: Date): string {
  let text: string | undefined;
  try {
    text = utf8.decode(entry.line);
  } catch {
    text = undefined; // not UTF-8: kept exactly, as base64
  }
  return JSON.stringify({
    time: time.toISOString(),
    host: entry.host ?? null,
    subject: entry.subject,
    stream: entry.stream ?? null,
    sequence: entry.sequence ?? null,
    reason: entry.reason,
    ...(text !== undefined ? { line: text } : { line_base64: Buffer.from(entry.line).toString("base64") }),
  });
}

export class Quarantine {
  /** Lines quarantined so far. */
  lines = 0;
  private readonly fs: SinkFileSystem;
  private readonly now: () => Date;
  private readonly fsync: boolean;
  private readonly dir: string;
  private file?: { name: string; path: string; handle: AppendFile; size: number; dirty: boolean };
  private readonly logged = new Set<string>();
  private overflowLogged = false;
  /** One operation at a time: partitions share the quarantine file. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: QuarantineOptions) {
    this.fs = opts.fs ?? nodeSinkFileSystem;
    this.now = opts.now ?? (() => new Date());
    this.fsync = opts.fsync ?? true;
    this.dir = join(opts.directory, QUARANTINE_DIR);
  }

  /** Appends the entries in one write (all or nothing, like the file sink), durable when fsync is on. */
  add(entries: readonly QuarantineEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.serial(async () => {
      const now = this.now();
      const file = await this.fileFor(now);
      const data = Buffer.from(entries.map((e) => record(e, now) + "\n").join(""), "utf8");
      try {
        await file.handle.append(data);
      } catch (err) {
        try {
          await file.handle.truncate(file.size);
        } catch {
          // reported below with the append's error
        }
        await this.closeFile();
        throw new Error(`writing the quarantine file "${file.path}" failed: ${(err as Error).message}`, { cause: err });
      }
      file.size += data.length;
      file.dirty = true;
      if (this.fsync) {
        await file.handle.sync();
        file.dirty = false;
      }
      this.lines += entries.length;
      for (const e of entries) this.note(e, file.path);
    });
  }

  close(): Promise<void> {
    return this.serial(() => this.closeFile());
  }

  private note(entry: QuarantineEntry, path: string): void {
    const key = `${entry.host ?? entry.subject}\u0000${entry.reason}`;
    if (this.logged.has(key)) return;
    if (this.logged.size >= MAX_LOGGED_HOSTS) {
      if (!this.overflowLogged) {
        this.overflowLogged = true;
        this.opts.log.warn(`more than ${MAX_LOGGED_HOSTS} hosts quarantined; further hosts are counted but not logged one by one`);
      }
      return;
    }
    this.logged.add(key);
    const who = entry.host !== undefined ? `host ${JSON.stringify(entry.host)}` : `subject ${JSON.stringify(entry.subject)}`;
    this.opts.log.warn(`Quarantining the lines of ${who}: ${entry.reason}; they go to "${path}"`);
  }

  private async fileFor(now: Date): Promise<NonNullable<Quarantine["file"]>> {
    const name = `${strftime("%Y-%m-%d", now)}.jsonl`;
    if (this.file && this.file.name !== name) await this.closeFile();
    if (!this.file) {
      await this.fs.mkdir(this.dir, DIRECTORY_MODE);
      const path = join(this.dir, name);
      const handle = await this.fs.openAppend(path, FILE_MODE);
      this.file = { name, path, handle, size: handle.sizeAtOpen, dirty: false };
    }
    return this.file;
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    try {
      if (this.fsync && file.dirty) await file.handle.sync();
    } finally {
      await file.handle.close();
    }
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.chain.then(op);
    this.chain = result.catch(() => undefined);
    return result;
  }
}
