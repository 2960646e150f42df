// Watching work being done by another process: a counter (stored messages, bytes in output files)
// polled until it reaches its target. The rate is taken from the first observed progress to the
// target, so program start-up is not counted; a stall (no progress for a while) ends the wait.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "./repeat.js";

export interface Progress {
  /** When progress was first seen (performance.now()), and the counter's value then. */
  firstAt: number;
  firstValue: number;
  doneAt: number;
  final: number;
  reached: boolean;
}

export interface WatchOptions {
  read: () => Promise<number> | number;
  target: number;
  everyMs: number;
  stallMs: number;
  /** Throws when a program the measurement needs has died. */
  check?: () => void;
  /** Counter value before the work started (usually 0). */
  baseline?: number;
}

export async function watchProgress(opts: WatchOptions): Promise<Progress> {
  const baseline = opts.baseline ?? 0;
  let firstAt = Number.NaN;
  let firstValue = baseline;
  let lastValue = baseline;
  let lastChange = performance.now();
  while (true) {
    opts.check?.();
    const value = await opts.read();
    const now = performance.now();
    if (value !== lastValue) {
      lastValue = value;
      lastChange = now;
    }
    if (value > baseline && Number.isNaN(firstAt)) {
      firstAt = now;
      firstValue = value;
    }
    if (value >= opts.target) return { firstAt, firstValue, doneAt: now, final: value, reached: true };
    if (now - lastChange > opts.stallMs) return { firstAt, firstValue, doneAt: now, final: value, reached: false };
    await sleep(opts.everyMs);
  }
}

/** Counter units per second over the observed span, from `target - firstValue` units. */
export function progressRate(p: Progress, units: number, unitsAtFirst: number): number {
  const seconds = (p.doneAt - p.firstAt) / 1000;
  return seconds > 0 ? (units - unitsAtFirst) / seconds : Number.NaN;
}

/**
 * Total bytes of the files under `<root>/<host>/`: a collector's output (dot directories are the
 * collector's own, not hosts). Host directories are listed until `expectedHosts` are known, then
 * only their files are stat'ed. A host's directory is listed again when the total stops growing:
 * the collector opens a second file for a host when local midnight passes, and its bytes would
 * otherwise never be counted (a complete run would look stalled). While the total grows, no
 * directory is listed again, so a poll costs one stat per known file.
 */
export class OutputTree {
  private readonly files = new Map<string, string[]>();
  private lastTotal = -1;

  constructor(readonly root: string, private readonly expectedHosts: number) {}

  /** Lists new host directories; with `relist`, the known ones too (to find files added since). */
  private discover(relist = false): void {
    let hosts: string[];
    try {
      hosts = readdirSync(this.root);
    } catch {
      return;
    }
    for (const host of hosts) {
      // ".shipper" (partition state) and ".quarantine" are not hosts: counting them as hosts once
      // stopped discovery one real host short, which looked like a collector losing a host's lines.
      if (host.startsWith(".")) continue;
      const known = this.files.get(host);
      if (!relist && known && known.length > 0) continue;
      try {
        this.files.set(host, readdirSync(join(this.root, host)).map((f) => join(this.root, host, f)));
      } catch {
        // not a directory (or just created): look again next time
      }
    }
  }

  private withFiles(): number {
    let n = 0;
    for (const paths of this.files.values()) if (paths.length > 0) n++;
    return n;
  }

  get hostCount(): number {
    return this.withFiles();
  }

  private sum(): number {
    let total = 0;
    for (const paths of this.files.values()) {
      for (const p of paths) {
        try {
          total += statSync(p).size;
        } catch {
          // removed by the collector's clean-up: it no longer counts
        }
      }
    }
    return total;
  }

  bytes(): number {
    if (this.withFiles() < this.expectedHosts) this.discover();
    let total = this.sum();
    if (total === this.lastTotal) {
      // No growth since the last poll: finished, stalled, or writing to files not listed yet.
      this.discover(true);
      total = this.sum();
    }
    this.lastTotal = total;
    return total;
  }

  /** Every output file, for a final check. */
  paths(): string[] {
    this.discover(true);
    return [...this.files.values()].flat();
  }
}
