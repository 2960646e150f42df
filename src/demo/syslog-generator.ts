// Realistic syslog-style lines for the demo and the benchmark: RFC 3164 shape, several daemons,
// about 120 bytes a line on average. Deterministic for a given seed so runs can be compared.

const PROGRAMS: Array<[string, string[]]> = [
  ["sshd", [
    "Accepted publickey for deploy from 10.20.{a}.{b} port {port} ssh2: ED25519 SHA256:{hash}",
    "Connection closed by authenticating user root 203.0.113.{b} port {port} [preauth]",
    "pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)",
  ]],
  ["nginx", [
    "10.1.{a}.{b} - - \"GET /api/v1/orders/{id} HTTP/1.1\" 200 {bytes} \"-\" \"curl/8.5.0\" rt={ms}",
    "10.1.{a}.{b} - - \"POST /api/v1/checkout HTTP/1.1\" 502 {bytes} \"-\" \"Mozilla/5.0\" rt={ms}",
  ]],
  ["kernel", [
    "[{uptime}] TCP: request_sock_TCP: Possible SYN flooding on port {port}. Sending cookies.",
    "[{uptime}] EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
  ]],
  ["systemd", [
    "Started Session {id} of User deploy.",
    "logrotate.service: Deactivated successfully; consumed {ms}ms CPU time.",
  ]],
  ["CRON", ["(root) CMD (/usr/local/bin/backup --incremental --target s3://backups/{hash})"]],
  ["postgres", [
    "[{pid}] LOG:  duration: {ms}.{b} ms  statement: SELECT * FROM orders WHERE id = {id}",
    "[{pid}] LOG:  checkpoint complete: wrote {bytes} buffers ({b}.{a}%); 0 WAL file(s) added",
  ]],
];

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A small, fast PRNG (mulberry32) so output is the same for the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyslogOptions {
  host: string;
  lines: number;
  seed?: number;
  start?: Date;
}

/** Yields lines without newlines. */
export function* syslogLines(opts: SyslogOptions): Generator<string> {
  const rand = prng(opts.seed ?? 1);
  const int = (n: number) => Math.floor(rand() * n);
  const shortHost = opts.host.split(".")[0];
  let t = (opts.start ?? new Date(2026, 10, 27, 6, 0, 0)).getTime();
  for (let i = 0; i < opts.lines; i++) {
    t += int(900);
    const d = new Date(t);
    const stamp = `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${d.toTimeString().slice(0, 8)}`;
    const [program, templates] = PROGRAMS[int(PROGRAMS.length)]!;
    const text = templates[int(templates.length)]!.replace(/\{(\w+)\}/g, (_, key: string) => {
      switch (key) {
        case "a": return String(int(256));
        case "b": return String(int(256));
        case "port": return String(1024 + int(60000));
        case "hash": return int(2 ** 31).toString(36) + int(2 ** 31).toString(36);
        case "id": return String(100000 + int(900000));
        case "bytes": return String(int(50000));
        case "ms": return String(int(2000));
        case "uptime": return (t / 1000 % 100000).toFixed(6);
        case "pid": return String(1000 + int(30000));
        default: return key;
      }
    });
    const pid = program === "kernel" ? "" : `[${1000 + int(30000)}]`;
    yield `${stamp} ${shortHost} ${program}${pid}: ${text}`;
  }
}

/** The whole log as one string with a newline after every line. */
export function syslogText(opts: SyslogOptions): string {
  let out = "";
  for (const line of syslogLines(opts)) out += line + "\n";
  return out;
}
