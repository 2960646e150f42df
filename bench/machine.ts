// The machine a run was made on, printed with the table and stored with the figures.
import { cpus, totalmem, loadavg, release, platform } from "node:os";
import { natsServerVersion } from "../src/testkit/nats-server.js";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  natsServer: string;
  /** 1-minute load average at the start: a busy shared machine gives lower figures. */
  loadAverage: number;
  /** The same at the end of the run. */
  loadAverageAtEnd?: number;
}

export function describeMachine(): Machine {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    natsServer: natsServerVersion().replace(/^nats-server:\s*/, ""),
    loadAverage: currentLoad(),
  };
}

export function currentLoad(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export function machineLine(m: Machine): string {
  const load = m.loadAverageAtEnd !== undefined ? `${m.loadAverage} at start, ${m.loadAverageAtEnd} at end` : String(m.loadAverage);
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, nats-server ${m.natsServer}, load average ${load}`;
}
