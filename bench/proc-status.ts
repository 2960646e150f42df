// Memory and open files of a process, from /proc (Linux): VmRSS now, VmHWM (peak resident set).
import { readFileSync, readdirSync } from "node:fs";

export interface ProcMemory {
  rssMB: number;
  peakMB: number;
}

function kbField(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return m ? Number(m[1]) : Number.NaN;
}

export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return { rssMB: kbField(status, "VmRSS") / 1024, peakMB: kbField(status, "VmHWM") / 1024 };
  } catch {
    return undefined;
  }
}

export function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process every `everyMs`: highest RSS and highest count of open file descriptors. */
export class ProcSampler {
  maxRssMB = 0;
  maxOpenFiles = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, everyMs = 200) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }

  sample(): ProcMemory | undefined {
    const mem = procMemory(this.pid);
    if (mem) this.maxRssMB = Math.max(this.maxRssMB, mem.rssMB);
    const fds = openFiles(this.pid);
    if (!Number.isNaN(fds)) this.maxOpenFiles = Math.max(this.maxOpenFiles, fds);
    return mem;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
