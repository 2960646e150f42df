// Where the collector puts lines: one append per host per batch, then a flush before the batch is
// acknowledged. The real sink writes per-host files (file-sink.ts); the interface lets later work
// add other sinks or wrap this one without touching the readers.

export interface LineSink {
  /**
   * Appends every line, each followed by "\n", to the host's current output in one write.
   * All or nothing: when it throws, nothing of this call stays in the output, so the caller can
   * retry the same lines without duplicating any. Returns the bytes written.
   */
  write(host: string, lines: readonly Uint8Array[]): Promise<number>;
  /** The same for lines already joined by joinLines() (the journal keeps those very bytes). */
  append?(host: string, data: Uint8Array): Promise<number>;
  /**
   * append() done at once, when the sink can (the host's output open and nothing queued for it):
   * the bytes written; undefined when it cannot (call append()); a rejected promise when the
   * write failed, undone as append() undoes it.
   */
  appendNow?(host: string, data: Uint8Array): number | Promise<never> | undefined;
  /** Makes what was written for `hosts` (default: every host) durable before it is acknowledged. */
  flush(hosts?: Iterable<string>): Promise<void>;
  /**
   * Where the host's next line goes: its current file and that file's size (opening it). Lets the
   * collector record, with the partition state, how far each file is safely written.
   */
  position?(host: string): Promise<{ path: string; size: number }>;
  /** position() when it is known without opening anything or waiting; undefined otherwise. */
  positionNow?(host: string): { path: string; size: number } | undefined;
  /** Flushes and closes everything; no write is accepted afterwards. */
  close(): Promise<void>;
}

/** Joins lines into one buffer, each followed by "\n" (one write per host per batch). */
export function joinLines(lines: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(joinedLength(lines));
  joinInto(out, 0, lines);
  return out;
}

/** Bytes the lines take joined: each with its "\n". */
export function joinedLength(lines: readonly Uint8Array[]): number {
  let total = lines.length;
  for (const line of lines) total += line.length;
  return total;
}

/** Copies the lines, each followed by "\n", into `out` from `at`; returns where they end. */
export function joinInto(out: Uint8Array, at: number, lines: readonly Uint8Array[]): number {
  for (const line of lines) {
    out.set(line, at);
    at += line.length;
    out[at++] = 0x0a;
  }
  return at;
}
