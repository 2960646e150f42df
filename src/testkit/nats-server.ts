// Starts real nats-server processes for tests, the benchmark and the demo: a free loopback port
// (`port: -1` and a ports file), its own temporary JetStream store, and the faults we test with
// (SIGKILL, SIGSTOP/SIGCONT, restart on the same store). Modelled on nats.js's nst launcher.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Socket } from "node:net";

export interface ServerOptions {
  /** Directory for config, store and ports file; a fresh temporary one by default. */
  dir?: string;
  /** Fixed client port; -1 (default) lets the server choose and report it. */
  port?: number;
  /** Extra nats-server configuration text appended to the generated file. */
  extraConfig?: string;
  /** Cluster block, set by startCluster. */
  cluster?: { name: string; port: number; routes: string[] };
  serverName?: string;
  /** Max payload in bytes (server default 1 MiB). */
  maxPayload?: number;
  debug?: boolean;
}

export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/local/sbin", "/usr/bin"])) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  throw new Error(
    "nats-server is not installed: run `apt-get install -y nats-server` (Debian) or put nats-server on PATH",
  );
}

export function natsServerVersion(): string {
  const out = spawnSync(natsServerBinary(), ["--version"], { encoding: "utf8" });
  return (out.stdout || out.stderr).trim();
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export class NatsServer {
  readonly dir: string;
  readonly storeDir: string;
  private readonly configFile: string;
  private readonly portsDir: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  port = -1;
  clusterPort = -1;
  private readonly ownsDir: boolean;
  private output = "";

  private constructor(private readonly opts: ServerOptions) {
    this.ownsDir = opts.dir === undefined;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), "shipper-nats-"));
    mkdirSync(this.dir, { recursive: true });
    this.storeDir = join(this.dir, "jetstream");
    this.portsDir = join(this.dir, "ports");
    this.configFile = join(this.dir, "server.conf");
  }

  static async start(opts: ServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(opts);
    await server.launch();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Server log so far (stderr), for failing tests. */
  get log(): string {
    return this.output;
  }

  private writeConfig(): void {
    const o = this.opts;
    const lines = [
      `listen: 127.0.0.1:${this.port > 0 ? this.port : (o.port ?? -1)}`,
      `ports_file_dir: ${JSON.stringify(this.portsDir)}`,
      `jetstream { store_dir: ${JSON.stringify(this.storeDir)} }`,
    ];
    if (o.serverName) lines.push(`server_name: ${o.serverName}`);
    if (o.maxPayload) lines.push(`max_payload: ${o.maxPayload}`);
    if (o.cluster) {
      lines.push(
        `cluster { name: ${o.cluster.name}, listen: 127.0.0.1:${o.cluster.port}, routes: [${o.cluster.routes.map((r) => JSON.stringify(r)).join(", ")}] }`,
      );
    }
    if (o.debug) lines.push("debug: true");
    if (o.extraConfig) lines.push(o.extraConfig);
    writeFileSync(this.configFile, lines.join("\n") + "\n");
  }

  private async launch(): Promise<void> {
    rmSync(this.portsDir, { recursive: true, force: true });
    mkdirSync(this.portsDir, { recursive: true });
    this.writeConfig();
    const child = spawn(natsServerBinary(), ["-c", this.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    child.stderr!.on("data", (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > 1_000_000) this.output = this.output.slice(-500_000);
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`nats-server exited at start:\n${this.output}`);
      const ports = this.readPorts();
      if (ports && /Server is ready/.test(this.output)) {
        this.port = ports.client;
        return;
      }
      await sleep(25);
    }
    await this.kill(); // not left running: its output pipe would keep the test process alive
    throw new Error(`nats-server did not become ready in 20 s:\n${this.output}`);
  }

  private readPorts(): { client: number } | undefined {
    const files = existsSync(this.portsDir) ? readdirSync(this.portsDir).filter((f) => f.endsWith(".ports")) : [];
    if (files.length === 0) return undefined;
    try {
      const ports = JSON.parse(readFileSync(join(this.portsDir, files[0]!), "utf8")) as { nats: string[] };
      const url = new URL(ports.nats[0]!.replace(/^nats:/, "http:"));
      return { client: Number(url.port) };
    } catch {
      return undefined;
    }
  }

  /** Sends a signal without waiting (SIGSTOP, SIGCONT, SIGHUP...). */
  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  pause(): void {
    this.signal("SIGSTOP");
  }

  resume(): void {
    this.signal("SIGCONT");
  }

  /** SIGKILL: no clean shutdown, the store is left as a crash leaves it. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGCONT");
    this.child!.kill("SIGKILL");
    await this.exited;
  }

  /** Clean shutdown (SIGTERM), waiting for the process to exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child!.kill("SIGCONT");
    this.child!.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Starts the server again on the same port and store. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Starts a server that was killed or stopped, on the same port and store. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.launch();
  }

  /**
   * A plain TCP connection to the server, CONNECT sent with headers on: for tests that write or
   * read the protocol's bytes themselves (frames nats.js would not send, or traffic as it arrives).
   */
  async rawClient(): Promise<Socket> {
    const socket = new Socket();
    await new Promise<void>((resolve, reject) => socket.once("error", reject).connect(this.port, "127.0.0.1", resolve));
    socket.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n');
    return socket;
  }

  /** Stops the server and removes its temporary directory. */
  async dispose(): Promise<void> {
    await this.kill();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Asks the OS for a free loopback TCP port (for cluster route ports, which must be known up front). */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}
