// Message ids of line messages: what the agent puts in `Nats-Msg-Id`, and how a reader takes one
// apart. Shared by the agent (format) and the collector (parse, to join parts and de-duplicate).
//
// A line:  <host>:<dev>:<ino>:<fingerprint>:<generation>:<offset>
// A part:  <host>:<dev>:<ino>:<fingerprint>:<generation>:<offset>:p<k>       (k = 1..n)
// A batch: <host>:<dev>:<ino>:<fingerprint>:<generation>:<offset>:b<count>   (count >= 2, batch.ts)
//
// - host: the agent's host name, as in the subject (it may itself contain ":", so ids are parsed
//   from the right: the last five fields never contain ":").
// - dev, ino: the source file's device and inode, decimal.
// - fingerprint: 8 lowercase hex digits, FNV-1a of the file's first line (at most 4 KiB), so a
//   replaced file or a reused inode gives other ids.
// - generation: decimal, bumped each time the same file is truncated and read again from 0.
// - offset: decimal, the file offset just past the line's newline. Within one origin
//   (host, dev, ino, fingerprint, generation) offsets only grow, in the order lines are published.
// - p<k>: present only on the parts of a line split because it is over the server's max payload
//   (see line-parts.ts); all parts of a line share the line's offset.
// - b<count>: present only on a batch of `count` lines (batch.ts, off by default); the offset is
//   its last line's.
//
// The same line sent again (after a timeout, a reconnect or a restart) gets the same id, so the
// stream stores it once within its duplicate window. A reader that must be exact beyond that
// window de-duplicates by (origin key, offset): per origin, an offset at or below the last one
// written is a re-send.

/** Where a line comes from: one version of one file on one host. */
export interface LineOriginId {
  host: string;
  dev: string;
  ino: string;
  fingerprint: string;
  generation: number;
}

export interface ParsedMsgId extends LineOriginId {
  /** `<host>:<dev>:<ino>:<fingerprint>:<generation>`: the unit in which offsets only grow. */
  originKey: string;
  offset: number;
  /** The part number (1-based) when the message is one part of a split line. */
  part?: number;
  /** The line count when the message is a batch of lines (batch.ts); `offset` is its last line's. */
  batch?: number;
}

/** `<dev>:<ino>:<fingerprint>:<generation>`: the file-version part of every id from that file. */
export function fileVersionKey(dev: string, ino: string, fingerprint: string, generation: number): string {
  return `${dev}:${ino}:${fingerprint}:${generation}`;
}

/** The id of a whole line. `versionKey` comes from fileVersionKey. */
export function lineMsgId(host: string, versionKey: string, offset: number): string {
  return `${host}:${versionKey}:${offset}`;
}

/** The id of a batch of `count` lines whose last line's id is `lastLineId`. */
export function batchMsgId(lastLineId: string, count: number): string {
  return `${lastLineId}:b${count}`;
}

/** The id of part `k` (1-based) of a split line. */
export function partMsgId(lineId: string, k: number): string {
  return `${lineId}:p${k}`;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const FINGERPRINT = /^[0-9a-f]{8}$/;
const PART = /^p([1-9][0-9]*)$/;
const BATCH = /^b([1-9][0-9]*)$/;

/** Takes a line or part id apart; undefined when it is not one of ours. */
export function parseMsgId(id: string): ParsedMsgId | undefined {
  let end = id.length;
  // Fields are taken from the right: the host (first) may contain ":" itself.
  const take = (): string | undefined => {
    const colon = id.lastIndexOf(":", end - 1);
    if (colon <= 0) return undefined;
    const field = id.substring(colon + 1, end);
    end = colon;
    return field;
  };
  let last = take();
  let part: number | undefined;
  let batch: number | undefined;
  const partMatch = last === undefined ? null : PART.exec(last);
  const batchMatch = last === undefined || partMatch ? null : BATCH.exec(last);
  if (partMatch) {
    part = Number(partMatch[1]);
    last = take();
  } else if (batchMatch) {
    batch = Number(batchMatch[1]);
    if (batch < 2) return undefined;
    last = take();
  }
  const offset = last;
  const generation = take();
  const fingerprint = take();
  const ino = take();
  const dev = take();
  if (offset === undefined || generation === undefined || fingerprint === undefined || ino === undefined || dev === undefined) return undefined;
  if (!DECIMAL.test(offset) || !DECIMAL.test(generation) || !FINGERPRINT.test(fingerprint) || !DECIMAL.test(ino) || !DECIMAL.test(dev)) {
    return undefined;
  }
  const host = id.substring(0, end);
  const parsed: ParsedMsgId = {
    host,
    dev,
    ino,
    fingerprint,
    generation: Number(generation),
    originKey: `${host}:${fileVersionKey(dev, ino, fingerprint, Number(generation))}`,
    offset: Number(offset),
  };
  if (part !== undefined) parsed.part = part;
  if (batch !== undefined) parsed.batch = batch;
  return parsed;
}
