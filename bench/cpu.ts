// CPU time per line, of the server and of the publishing process. On this shared 2-core machine a
// wall-clock rate swings with whatever else runs, but the CPU each line costs does not: when the
// machine is saturated, throughput is what the cores give divided by the CPU per line, so comparing
// CPU per line with the ceiling's says what the ratio of rates would be without the noise.
import { readFileSync } from "node:fs";

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ: 100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds a process has used so far (Linux /proc), NaN when it is gone. */
export function processCpuSeconds(pid: number): number {
  const [user, system] = processCpuTicks(pid);
  return (user + system) / TICKS_PER_SECOND;
}

/** System (kernel) CPU seconds only: system calls such as creating files, NaN when it is gone. */
export function processKernelCpuSeconds(pid: number): number {
  return processCpuTicks(pid)[1] / TICKS_PER_SECOND;
}

function processCpuTicks(pid: number): [user: number, system: number] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [Number(fields[11]), Number(fields[12])];
  } catch {
    return [Number.NaN, Number.NaN];
  }
}

/** This process's own CPU seconds (finer than /proc's 10 ms ticks). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export type CpuReader = () => number;

export const cpuOfPid = (pid: number): CpuReader => () => processCpuSeconds(pid);
export const kernelCpuOfPid = (pid: number): CpuReader => () => processKernelCpuSeconds(pid);

/** Microseconds of CPU per line, by process name ("server", "agent", ...). */
export type CpuPerLine = Record<string, number>;

/** CPU of named processes between start() and perLine(lines). */
export class CpuMeter {
  private at?: Map<string, number>;
  private kernelAt?: Map<string, number>;

  /** `kernel`: the system-time share of some of the processes, shown beside their CPU (not added to the total). */
  constructor(
    private readonly readers: Record<string, CpuReader>,
    private readonly kernel: Record<string, CpuReader> = {},
  ) {}

  start(): void {
    this.at = new Map(Object.entries(this.readers).map(([name, read]) => [name, read()]));
    this.kernelAt = new Map(Object.entries(this.kernel).map(([name, read]) => [name, read()]));
  }

  get started(): boolean {
    return this.at !== undefined;
  }

  /** Each process's CPU per line since start(); undefined when not started or a process is gone. */
  perLine(lines: number): CpuPerLine | undefined {
    if (!this.at || lines <= 0) return undefined;
    const out: CpuPerLine = {};
    for (const [name, read] of Object.entries(this.readers)) {
      const us = ((read() - this.at.get(name)!) * 1e6) / lines;
      if (!Number.isFinite(us)) return undefined;
      out[name] = us;
    }
    return out;
  }

  /** perLine() as one note, with the sum, and the kernel's share where asked for. */
  note(lines: number): string | undefined {
    const c = this.perLine(lines);
    if (!c) return undefined;
    const kernel: CpuPerLine = {};
    for (const [name, read] of Object.entries(this.kernel)) {
      const us = ((read() - this.kernelAt!.get(name)!) * 1e6) / lines;
      if (Number.isFinite(us)) kernel[name] = us;
    }
    return `${describeCpu(c, kernel)}; total ${cpuTotal(c).toFixed(2)} us`;
  }
}

export function cpuTotal(c: CpuPerLine): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

export function describeCpu(c: CpuPerLine, kernel: CpuPerLine = {}): string {
  const part = (name: string, us: number) => `${name} ${us.toFixed(2)} us${kernel[name] === undefined ? "" : ` (kernel ${kernel[name].toFixed(2)})`}`;
  return `CPU per line: ${Object.entries(c).map(([name, us]) => part(name, us)).join(", ")}`;
}
