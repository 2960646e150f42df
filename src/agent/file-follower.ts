// Follows one path the way `tail -F` does, but without losing a line: waits for the file to
// appear, reads it in large chunks, starts again from 0 after truncation, and after a logrotate
// rename finishes the old file (still open) to its end before switching to the new one.
//
// Pull-style: a chunk is read only when the consumer asks for the next batch, so while the
// server is slow the file itself is the buffer and memory stays flat.
import { open, stat, type FileHandle } from "node:fs/promises";
import type { Logger } from "../shared/log.js";
import { ChangeWaker } from "./change-waker.js";
import { describeIdentity, identityOf, sameFile, type FileIdentity } from "./file-identity.js";
import { fingerprintOf } from "./fingerprint.js";
import { LineSplitter } from "./line-splitter.js";

/** Complete lines of one file version; `ends[i]` is the offset just past `lines[i]`'s newline. */
export interface LineBatch {
  readonly path: string;
  readonly identity: FileIdentity;
  /** Of the first line (see fingerprint.ts): tells a replaced content from the one read before. */
  readonly fingerprint: string;
  /** Bumped each time this same file is truncated and read again from 0, so offsets stay unique. */
  readonly generation: number;
  readonly lines: Buffer[];
  readonly ends: number[];
}

/** Where to start: issue 3 passes a saved position; today the agent starts at 0. */
export interface FollowStart {
  offset: number;
  /** The file the offset belongs to; when the path now names another file, that one is read from 0. */
  identity?: FileIdentity;
  /** The content's fingerprint at that offset; a different one means the file was replaced. */
  fingerprint?: string;
  generation?: number;
}

export type FollowerEvent =
  | { type: "opened"; identity: FileIdentity; offset: number }
  | { type: "truncated"; identity: FileIdentity; readUpTo: number; size: number; droppedPartialBytes: number }
  | { type: "rotated"; from: FileIdentity; to: FileIdentity; finishedAt: number; unterminatedBytes: number };

export interface FollowerOptions {
  path: string;
  log: Logger;
  start?: FollowStart;
  /** How often the file is checked when idle; fs.watch events only shorten the wait. */
  pollIntervalMs?: number;
  /** Size of one read. */
  chunkBytes?: number;
  onEvent?: (event: FollowerEvent) => void;
}

export const DEFAULT_POLL_INTERVAL_MS = 250;
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

export class FileFollower implements AsyncIterable<LineBatch> {
  readonly path: string;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;
  private readonly chunkBytes: number;
  private readonly onEvent: (event: FollowerEvent) => void;
  private readonly waker: ChangeWaker;
  private readonly splitter = new LineSplitter();
  private start?: FollowStart;

  private fh?: FileHandle;
  private identity?: FileIdentity;
  private generation = 0;
  private fingerprint?: string;
  /** Offset of the next byte to read from the open file. */
  private position = 0;
  /** Set when the path names a new file: the old one is read until it stays quiet, then left. */
  private rotation?: { next: FileIdentity; lastDataAt: number };
  private spare?: Buffer;
  private stopped = false;
  private lastOpenProblem?: string;

  constructor(opts: FollowerOptions) {
    this.path = opts.path;
    this.log = opts.log;
    this.start = opts.start;
    this.pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.onEvent = opts.onEvent ?? (() => {});
    this.waker = new ChangeWaker(this.path, this.pollIntervalMs);
  }

  /** The file being read and the offset just past its last complete line handed out. */
  get readPosition(): { identity?: FileIdentity; fingerprint?: string; generation: number; offset: number } {
    return { identity: this.identity, fingerprint: this.fingerprint, generation: this.generation, offset: this.splitter.completeOffset };
  }

  /** The next batch of complete lines; waits for data; undefined once stopped. */
  async next(): Promise<LineBatch | undefined> {
    while (!this.stopped) {
      if (!this.fh && !(await this.openPath())) {
        await this.waker.wait();
        continue;
      }
      const batch = await this.readChunk();
      if (batch) return batch;
    }
    return undefined;
  }

  /** Makes a waiting next() return undefined; the file stays open until close(). */
  stop(): void {
    this.stopped = true;
    this.waker.poke();
  }

  async close(): Promise<void> {
    this.stop();
    this.waker.close();
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<LineBatch> {
    return {
      next: async () => {
        const value = await this.next();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  private async openPath(): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, "r");
    } catch (err) {
      const problem = errorCode(err) === "ENOENT" ? `waiting for "${this.path}" to appear` : `cannot open "${this.path}": ${(err as Error).message}; retrying`;
      if (problem !== this.lastOpenProblem) {
        if (errorCode(err) === "ENOENT") this.log.info(problem);
        else this.log.error(problem);
        this.lastOpenProblem = problem;
      }
      return false;
    }
    this.lastOpenProblem = undefined;
    const stats = await fh.stat({ bigint: true });
    const identity = identityOf(stats);
    const size = Number(stats.size);
    let offset = 0;
    this.generation = 0;
    this.fingerprint = undefined;
    const start = this.start;
    this.start = undefined;
    if (start && start.offset > 0) {
      const fingerprint = start.fingerprint === undefined ? undefined : await fingerprintOf(fh);
      if (start.identity && !sameFile(start.identity, identity)) {
        this.log.info(
          `"${this.path}" is now file ${describeIdentity(identity)}, not ${describeIdentity(start.identity)} of the start position; reading it from offset 0`,
        );
      } else if (fingerprint !== start.fingerprint) {
        this.log.info(`"${this.path}" has a different first line than at the start position: its content was replaced; reading it from offset 0`);
      } else if (start.offset > size) {
        this.log.warn(`"${this.path}" is ${size} bytes, shorter than the start offset ${start.offset}: it was truncated; reading it from offset 0`);
      } else {
        offset = start.offset;
        this.generation = start.generation ?? 0;
        this.fingerprint = fingerprint;
      }
    }
    this.fh = fh;
    this.identity = identity;
    this.position = offset;
    this.splitter.reset(offset);
    this.log.info(`following "${this.path}" (file ${describeIdentity(identity)}, ${size} bytes) from offset ${offset}`);
    this.onEvent({ type: "opened", identity, offset });
    return true;
  }

  /** Reads one chunk; returns its complete lines, or undefined after handling end of file. */
  private async readChunk(): Promise<LineBatch | undefined> {
    const fh = this.fh!;
    const chunk = this.spare ?? Buffer.allocUnsafe(this.chunkBytes);
    this.spare = undefined;
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, this.position);
    if (bytesRead === 0) {
      this.spare = chunk;
      return await this.atEndOfFile();
    }
    this.position += bytesRead;
    if (this.rotation) this.rotation.lastDataAt = Date.now();
    let data = chunk.subarray(0, bytesRead);
    if (bytesRead < chunk.length / 8) {
      // A small tail write: copy it so the lines do not pin a whole chunk, and reuse the chunk.
      data = Buffer.from(data);
      this.spare = chunk;
    }
    const lines: Buffer[] = [];
    const ends: number[] = [];
    this.splitter.push(data, { lines, ends });
    if (lines.length === 0) return undefined;
    // A complete line exists, so the first line is complete too: the fingerprint is known.
    this.fingerprint ??= (await fingerprintOf(fh)) ?? "00000000";
    return { path: this.path, identity: this.identity!, fingerprint: this.fingerprint, generation: this.generation, lines, ends };
  }

  private async atEndOfFile(): Promise<LineBatch | undefined> {
    const stats = await this.fh!.stat({ bigint: true });
    if (Number(stats.size) < this.position) {
      this.restartAfterTruncation(Number(stats.size));
      return undefined;
    }
    if (this.rotation) {
      if (Date.now() - this.rotation.lastDataAt >= this.pollIntervalMs) return await this.switchToNewFile();
      await this.waker.wait();
      return undefined;
    }
    const atPath = await this.identityAtPath();
    if (atPath && !sameFile(atPath, this.identity)) {
      // Renamed away and replaced: read the old file again (a writer may still be finishing it).
      this.rotation = { next: atPath, lastDataAt: Date.now() };
      return undefined;
    }
    await this.waker.wait();
    return undefined;
  }

  private async identityAtPath(): Promise<FileIdentity | undefined> {
    try {
      return identityOf(await stat(this.path, { bigint: true }));
    } catch (err) {
      if (errorCode(err) !== "ENOENT") this.log.warn(`cannot check "${this.path}": ${(err as Error).message}`);
      return undefined; // renamed or deleted, and no new file yet: keep the old one open
    }
  }

  private restartAfterTruncation(size: number): void {
    const identity = this.identity!;
    const dropped = this.splitter.pendingBytes;
    this.log.warn(
      `"${this.path}" was truncated: read up to offset ${this.position}, it is now ${size} bytes; reading it again from offset 0` +
        (dropped > 0 ? ` (dropping ${dropped} bytes of an unterminated last line)` : ""),
    );
    this.onEvent({ type: "truncated", identity, readUpTo: this.position, size, droppedPartialBytes: dropped });
    this.generation++;
    this.fingerprint = undefined;
    this.position = 0;
    this.splitter.reset(0);
  }

  /** Leaves the finished old file; its unterminated last line, if any, is handed out as a line. */
  private async switchToNewFile(): Promise<LineBatch | undefined> {
    const from = this.identity!;
    const to = this.rotation!.next;
    const held = this.splitter.takeHeld();
    const fingerprint = held ? (this.fingerprint ?? (await fingerprintOf(this.fh!)) ?? "00000000") : "";
    const batch: LineBatch | undefined = held
      ? { path: this.path, identity: from, fingerprint, generation: this.generation, lines: [held.line], ends: [held.end] }
      : undefined;
    this.log.info(
      `"${this.path}" was rotated: finished file ${describeIdentity(from)} at offset ${this.position}` +
        (held ? ` (its last ${held.line.length} bytes had no newline; sent as a line)` : "") +
        `; now following file ${describeIdentity(to)}`,
    );
    this.onEvent({ type: "rotated", from, to, finishedAt: this.position, unterminatedBytes: held?.line.length ?? 0 });
    await this.fh!.close().catch(() => {});
    this.fh = undefined;
    this.identity = undefined;
    this.fingerprint = undefined;
    this.rotation = undefined;
    this.position = 0;
    this.splitter.reset(0);
    return batch;
  }
}
