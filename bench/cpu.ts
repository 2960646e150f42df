// CPU time per line, of the server and of the publishing process. On this shared 2-core machine a
// wall-clock rate swings with whatever else runs, but the CPU each line costs does not: when the
// machine is saturated, throughput is what the cores give divided by the CPU per line, so comparing
// CPU per line with the ceiling's says what the ratio of rates would be without the noise.
import { readFileSync } from "node:fs";

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ: 100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds a process has used so far (Linux /proc), NaN when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** This process's own CPU seconds (finer than /proc's 10 ms ticks). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export type CpuReader = () => number;

export const cpuOfPid = (pid: number): CpuReader => () => processCpuSeconds(pid);

export interface CpuPerLine {
  server: number;
  publisher: number;
}

/** CPU of the server and the publisher between start() and stop(lines), in microseconds per line. */
export class CpuMeter {
  private at?: { server: number; publisher: number };

  constructor(
    private readonly server: CpuReader,
    private readonly publisher: CpuReader,
  ) {}

  start(): void {
    this.at = { server: this.server(), publisher: this.publisher() };
  }

  get started(): boolean {
    return this.at !== undefined;
  }

  stop(lines: number): CpuPerLine | undefined {
    if (!this.at || lines <= 0) return undefined;
    const server = ((this.server() - this.at.server) * 1e6) / lines;
    const publisher = ((this.publisher() - this.at.publisher) * 1e6) / lines;
    return Number.isFinite(server) && Number.isFinite(publisher) ? { server, publisher } : undefined;
  }
}

export function describeCpu(c: CpuPerLine, publisher: string): string {
  return `CPU per line: server ${c.server.toFixed(2)} us, ${publisher} ${c.publisher.toFixed(2)} us`;
}

/** CPU seconds of several processes at once, by name, for runs with more than one publisher or reader. */
export class MultiCpuMeter {
  private at?: Map<string, number>;

  constructor(private readonly readers: Record<string, CpuReader>) {}

  start(): void {
    this.at = new Map(Object.entries(this.readers).map(([name, read]) => [name, read()]));
  }

  get started(): boolean {
    return this.at !== undefined;
  }

  /** Microseconds per line of each process and their sum, as one note; undefined if unknown. */
  note(lines: number): string | undefined {
    if (!this.at || lines <= 0) return undefined;
    const parts: string[] = [];
    let total = 0;
    for (const [name, read] of Object.entries(this.readers)) {
      const us = ((read() - this.at.get(name)!) * 1e6) / lines;
      if (!Number.isFinite(us)) return undefined;
      total += us;
      parts.push(`${name} ${us.toFixed(2)} us`);
    }
    return `CPU per line: ${parts.join(", ")}; total ${total.toFixed(2)} us`;
  }
}
