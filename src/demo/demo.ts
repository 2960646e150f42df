// `shipper demo`: the whole system on one machine. Starts a local nats-server with JetStream in its
// own state directory, runs `shipper setup`, a collector and one agent per simulated host as real
// child processes (the same programs an operator runs), appends to the hosts' logs while they run,
// waits until every line arrived, then prints the report and the tree of per-host files.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NatsServer } from "../testkit/nats-server.js";
import { syslogText } from "./syslog-generator.js";
import { partitionOf } from "../protocol/partition.js";

export interface DemoOptions {
  dir: string;
  hosts: number;
  linesPerHost: number;
  logFile?: string;
  partitions: number;
  timeoutMs: number;
  signal: AbortSignal;
}

const MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const OUTPUT_PATTERN = "logfile";

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function hostNames(count: number): string[] {
  const roles = ["web", "db", "str", "cache", "api", "mq"];
  return Array.from({ length: count }, (_, i) => `${roles[i % roles.length]}${Math.floor(i / roles.length) + 1}.example.net`);
}

function runShipper(args: string[], env: NodeJS.ProcessEnv): string {
  const out = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`shipper ${args.join(" ")} failed:\n${out.stdout}${out.stderr}`);
  return out.stdout;
}

function startShipper(args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => appendFileSync(logFile, d));
  child.stderr!.on("data", (d: Buffer) => appendFileSync(logFile, d));
  return child;
}

async function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function countFileLines(path: string): number {
  return existsSync(path) ? countLines(readFileSync(path)) : 0;
}

function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n++;
  return n;
}

function humanBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  rmSync(opts.dir, { recursive: true, force: true });
  const dirs = { nats: join(opts.dir, "nats"), hosts: join(opts.dir, "hosts"), out: join(opts.dir, "out"), logs: join(opts.dir, "logs") };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

  say(`shipper demo: state in ${opts.dir}`);
  const server = await NatsServer.start({ dir: dirs.nats });
  const children: ChildProcess[] = [];
  try {
    say(`started nats-server with JetStream at ${server.url} (store ${server.storeDir})`);
    const connEnv = { NATS_URL: server.url };

    say(`\n$ shipper setup --partitions ${opts.partitions}`);
    process.stdout.write(runShipper(["setup", "--partitions", String(opts.partitions)], connEnv));

    const hosts = hostNames(opts.hosts);
    const sources = new Map<string, string>();
    const expected = new Map<string, Buffer>();
    for (const [i, host] of hosts.entries()) {
      const text = opts.logFile ? readFileSync(opts.logFile) : Buffer.from(syslogText({ host, lines: opts.linesPerHost, seed: i + 1 }));
      const file = join(dirs.hosts, host, "syslog");
      mkdirSync(join(dirs.hosts, host), { recursive: true });
      // Half the log is there before the agent starts; the rest is appended while it runs.
      const half = text.indexOf(10, Math.floor(text.length / 2)) + 1;
      writeFileSync(file, text.subarray(0, half));
      sources.set(host, file);
      expected.set(host, text);
    }

    say(`\nstarting a collector and ${hosts.length} agents (logs of each program in ${dirs.logs})`);
    children.push(
      startShipper(["collector"], { ...connEnv, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: dirs.out, SHIPPER_OUTPUT: OUTPUT_PATTERN }, join(dirs.logs, "collector.log")),
    );
    for (const host of hosts) {
      say(`  agent for ${host} -> logs.p${partitionOf(host, opts.partitions)}.${host}`);
      children.push(
        startShipper(["agent"], { ...connEnv, SHIPPER_FILE: sources.get(host)!, SHIPPER_SUBJECT: "logs", HOSTNAME: host, SHIPPER_STATE_DIR: join(opts.dir, "state", host) }, join(dirs.logs, `agent-${host}.log`)),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const host of hosts) {
      const text = expected.get(host)!;
      const half = text.indexOf(10, Math.floor(text.length / 2)) + 1;
      appendFileSync(sources.get(host)!, text.subarray(half));
    }

    const totalLines = [...expected.values()].reduce((sum, t) => sum + countLines(t), 0);
    const started = Date.now();
    const outFile = (host: string) => {
      const dir = join(dirs.out, host);
      const files = existsSync(dir) ? readdirSync(dir) : [];
      return files.length > 0 ? join(dir, files[0]!) : join(dir, "missing");
    };
    let arrived = 0;
    while (Date.now() - started < opts.timeoutMs && !opts.signal.aborted) {
      arrived = hosts.reduce((sum, h) => sum + countFileLines(outFile(h)), 0);
      for (const child of children) {
        if (child.exitCode !== null) throw new Error(`a shipper program exited early (code ${child.exitCode}); see ${dirs.logs}`);
      }
      if (arrived >= totalLines) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (Date.now() - started) / 1000;
    say(`\n${arrived} of ${totalLines} lines arrived in ${seconds.toFixed(1)} s`);

    say("\n$ shipper report");
    process.stdout.write(runShipper(["report"], connEnv));

    say(`\nper-host files in ${dirs.out}:`);
    let allIdentical = true;
    for (const [i, host] of hosts.entries()) {
      const last = i === hosts.length - 1;
      const file = outFile(host);
      const got = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
      const identical = got.equals(expected.get(host)!);
      allIdentical &&= identical;
      say(`${last ? "└──" : "├──"} ${host}/`);
      say(`${last ? "    " : "│   "}└── ${file.split("/").pop()}  ${countLines(got)} lines, ${humanBytes(got.length)}, ${identical ? "identical to the source log" : "DIFFERS from the source log"}`);
    }

    say("\nfirst lines of one host's file:");
    const sample = readFileSync(outFile(hosts[0]!), "utf8").split("\n").slice(0, 3);
    for (const line of sample) say(`  ${line}`);

    const codes: Array<number | null> = [];
    for (const child of children) codes.push(await stopChild(child));
    say(`\nstopped the agents and the collector with SIGTERM (exit codes ${codes.join(", ")})`);
    if (!allIdentical || arrived !== totalLines) {
      say(`demo FAILED: not every host's file matches its source; see the program logs in ${dirs.logs}`);
      return 1;
    }
    say("demo finished: every line arrived once, in order, in its host's file");
    return 0;
  } finally {
    for (const child of children) await stopChild(child);
    await server.stop();
    say(`nats-server stopped; files left in ${opts.dir}`);
  }
}
