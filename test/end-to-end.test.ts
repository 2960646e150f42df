import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServer } from "../src/testkit/nats-server.js";
import { ShipperProcess, runShipper, waitUntil } from "../src/testkit/shipper-process.js";
import { auditLines } from "../src/testkit/line-count.js";
import { syslogLines } from "../src/demo/syslog-generator.js";

const HOSTS = ["web1.example.net", "db1.example.net", "str1.example.net", "a.b.c.d.example.co.uk"];
const LINES = 4000;

function hostLog(host: string, seed: number): string {
  let out = "";
  let i = 0;
  // Numbered so every line is distinct; includes an empty line and a CRLF line, which must survive.
  for (const line of syslogLines({ host, lines: LINES - 2, seed })) out += `${i++} ${line}\n`;
  return out + "\n" + `${i} windows line\r\n`;
}

function outputOf(dir: string, host: string): string {
  const hostDir = join(dir, host);
  if (!existsSync(hostDir)) return "";
  return readdirSync(hostDir).map((f) => readFileSync(join(hostDir, f), "utf8")).join("");
}

test("end to end - setup, four agents and a collector: every host's file is byte-identical to its source", async () => {
  const server = await NatsServer.start();
  const work = mkdtempSync(join(tmpdir(), "shipper-e2e-"));
  const procs: ShipperProcess[] = [];
  try {
    const env = { NATS_URL: server.url };
    const setup = await runShipper(["setup", "--partitions", "10"], env);
    assert.equal(setup.code, 0, setup.stderr);

    const out = join(work, "out");
    const sources = new Map<string, { file: string; text: string }>();
    for (const [i, host] of HOSTS.entries()) {
      const file = join(work, host, "syslog");
      mkdirSync(join(work, host), { recursive: true });
      const text = hostLog(host, i + 1);
      writeFileSync(file, text.slice(0, text.length / 2)); // the rest is appended while shipping
      sources.set(host, { file, text });
    }
    procs.push(new ShipperProcess(["collector"], { ...env, SHIPPER_SUBJECT: "logs", SHIPPER_DIRECTORY: out, SHIPPER_OUTPUT: "logfile" }));
    for (const host of HOSTS) {
      procs.push(new ShipperProcess(["agent"], { ...env, SHIPPER_FILE: sources.get(host)!.file, SHIPPER_SUBJECT: "logs", HOSTNAME: host, SHIPPER_STATE_DIR: join(work, "state", host) }));
    }
    for (const { file, text } of sources.values()) appendFileSync(file, text.slice(text.length / 2));

    await waitUntil(
      "every line in the per-host files",
      () => HOSTS.every((h) => outputOf(out, h).length >= sources.get(h)!.text.length) || procs.some((p) => !p.running),
      60_000,
    );
    for (const p of procs) assert.ok(p.running, `a program exited early:\n${p.stderr}`);
    for (const host of HOSTS) {
      const { text } = sources.get(host)!;
      const got = outputOf(out, host);
      assert.deepEqual(auditLines(text, got), { expected: LINES, received: LINES, missing: 0, duplicated: 0, outOfOrder: 0 }, host);
      assert.equal(got, text, `${host}: the file must be byte-identical to the source`);
      const files = readdirSync(join(out, host));
      assert.equal(files.length, 1);
      assert.match(files[0]!, /^logfile-\d{8}0000$/);
    }
    for (const p of procs) {
      const exit = await p.stop();
      assert.equal(exit.code, 0, `SIGTERM must end the program cleanly:\n${exit.stderr}`);
    }
  } finally {
    for (const p of procs) await p.kill();
    await server.dispose();
    rmSync(work, { recursive: true, force: true });
  }
});

test("end to end - an unreachable server is retried visibly and given up only at the asked limit", async () => {
  const exit = await runShipper(["report", "--server", "nats://127.0.0.1:1", "--connect-attempts", "2"], {});
  assert.equal(exit.code, 2);
  assert.match(exit.stderr, /retrying/);
  assert.match(exit.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:1 after 2 attempts/);
});
