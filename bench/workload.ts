// The generated log every measurement ships: realistic syslog lines (about 120 bytes) of many hosts,
// interleaved as a fleet produces them. Kept as one buffer per host plus line offsets, so a million
// lines cost little more than their bytes and a line is a cheap subarray view.
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { partitionOf } from "../src/protocol/partition.js";
import { lineSubject } from "../src/protocol/subjects.js";
import { syslogLines, syslogText } from "../src/demo/syslog-generator.js";

export function hostNames(count: number, tag = ""): string[] {
  const roles = ["web", "db", "api", "cache", "mq", "str", "batch", "edge"];
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => {
    const n = String(Math.floor(i / roles.length) + 1).padStart(width, "0");
    return `${roles[i % roles.length]}${n}${tag}.dc${(i % 3) + 1}.example.net`;
  });
}

/** Line i belongs to host i % hosts; everything a publisher needs, precomputed. */
export class FleetLog {
  readonly hosts: string[];
  readonly subjects: string[];
  readonly count: number;
  readonly bytes: number;
  private readonly texts: Buffer[];
  private readonly starts: Int32Array[];

  constructor(opts: { hosts: number; lines: number; prefix: string; partitions: number; tag?: string }) {
    this.hosts = hostNames(opts.hosts, opts.tag);
    this.subjects = this.hosts.map((h) => lineSubject(opts.prefix, partitionOf(h, opts.partitions), h));
    this.count = opts.lines;
    this.texts = [];
    this.starts = [];
    let bytes = 0;
    for (const [h, host] of this.hosts.entries()) {
      const mine = Math.floor(opts.lines / opts.hosts) + (h < opts.lines % opts.hosts ? 1 : 0);
      const text = Buffer.from(syslogText({ host, lines: mine, seed: h + 1 }));
      const starts = new Int32Array(mine + 1);
      let at = 0;
      for (let j = 0; j < mine; j++) {
        starts[j] = at;
        at = text.indexOf(10, at) + 1;
      }
      starts[mine] = at;
      bytes += text.length;
      this.texts.push(text);
      this.starts.push(starts);
    }
    this.bytes = bytes;
  }

  subject(i: number): string {
    return this.subjects[i % this.hosts.length]!;
  }

  /** The payload of line i: its bytes without the newline. */
  data(i: number): Uint8Array {
    const h = i % this.hosts.length;
    const j = (i - h) / this.hosts.length;
    const starts = this.starts[h]!;
    return this.texts[h]!.subarray(starts[j]!, starts[j + 1]! - 1);
  }

  /** Bytes a collector writes for this log: every payload plus its newline. */
  get outputBytes(): number {
    return this.bytes;
  }
}

/** Writes `lines` syslog lines of one host to a file, in chunks, and returns its size in bytes. */
export async function writeHostLog(path: string, host: string, lines: number, seed = 1): Promise<number> {
  return (await writeIndexedHostLog(path, host, lines, seed)).bytes;
}

/** A written log file: its size, and where each line ends (the offset just past its newline). */
export interface IndexedHostLog {
  bytes: number;
  /** ends[k]: the file offset just past line k's newline, as in the line's message id. */
  ends: Float64Array;
}

/** Like writeHostLog, also keeping each line's end offset (to turn a message id's offset into lines). */
export async function writeIndexedHostLog(path: string, host: string, lines: number, seed = 1): Promise<IndexedHostLog> {
  const out = createWriteStream(path);
  const ends = new Float64Array(lines);
  let bytes = 0;
  let n = 0;
  let chunk = "";
  for (const line of syslogLines({ host, lines, seed })) {
    chunk += line + "\n";
    ends[n] = (n > 0 ? ends[n - 1]! : 0) + Buffer.byteLength(line) + 1;
    n++;
    if (chunk.length > 1 << 20) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  bytes += Buffer.byteLength(chunk);
  out.end(chunk);
  await once(out, "finish");
  return { bytes, ends: ends.subarray(0, n) };
}

/** Lines that end at or before `offset`: how many lines a message id's offset covers. */
export function linesUpTo(ends: Float64Array, offset: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid]! <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
