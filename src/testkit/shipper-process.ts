// Runs the real `shipper` program as a child process, for tests, the benchmark and fault tests:
// start it with an environment, read what it printed, signal it, wait for its exit.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const SHIPPER_MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class ShipperProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, opts: { inheritEnv?: boolean } = {}) {
    const base = opts.inheritEnv === false ? { PATH: process.env.PATH } : process.env;
    // SHIPPER_NODE_ARGS: node flags for every shipper child (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
    // to profile the programs a bench runs; NODE_OPTIONS refuses --cpu-prof).
    const nodeArgs = (process.env.SHIPPER_NODE_ARGS ?? "").split(" ").filter(Boolean);
    this.child = spawn(process.execPath, [...nodeArgs, SHIPPER_MAIN, ...args], {
      env: { ...base, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once("close", (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return await this.exited;
  }

  async kill(): Promise<Exit> {
    this.signal("SIGKILL");
    return await this.exited;
  }

  /** Waits until stdout+stderr match, or throws with what was printed. */
  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.stdout + this.stderr)) {
      if (!this.running) throw new Error(`shipper exited before printing ${pattern}:\n${this.stdout}${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`shipper did not print ${pattern} in time:\n${this.stdout}${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Runs `shipper <args>` to completion. */
export async function runShipper(args: string[], env: NodeJS.ProcessEnv = {}, opts: { inheritEnv?: boolean; timeoutMs?: number } = {}): Promise<Exit> {
  const p = new ShipperProcess(args, env, opts);
  const timer = setTimeout(() => p.signal("SIGKILL"), opts.timeoutMs ?? 60_000);
  const exit = await p.exited;
  clearTimeout(timer);
  return exit;
}

/** Polls `check` until it returns true, or throws after `timeoutMs` with `what` in the message. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface AgentProcessOptions {
  url: string;
  file: string;
  host: string;
  stateDir: string;
  /** Flags after `agent` (poll and save intervals, batching, ...). */
  args?: string[];
}

/** Starts `shipper agent` following `file` as `host` on subject prefix "logs", with its own state directory. */
export function agentProcess(opts: AgentProcessOptions): ShipperProcess {
  return new ShipperProcess(["agent", ...(opts.args ?? [])], {
    NATS_URL: opts.url,
    SHIPPER_FILE: opts.file,
    SHIPPER_SUBJECT: "logs",
    HOSTNAME: opts.host,
    SHIPPER_STATE_DIR: opts.stateDir,
  });
}
