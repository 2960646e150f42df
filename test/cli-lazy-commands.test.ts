import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { COMMANDS, commandToRun, registerCommands } from "../src/cli/commands/index.js";

const MAIN = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

function names(cmd: Command): string[] {
  return [cmd.name(), ...cmd.aliases()];
}

test("cli - the command table names exactly what each command module registers, in help order", async () => {
  const all = new Command();
  await registerCommands(all, []);
  assert.deepEqual(all.commands.map(names), COMMANDS.map((c) => [...c.names]));
});

test("cli - the command to run is the first word that is not an option; help and typos need every command", () => {
  assert.deepEqual(commandToRun(["agent", "--file", "x"])?.names, ["agent", "producer"]);
  assert.deepEqual(commandToRun(["consumer", "--help"])?.names, ["collector", "consumer"]);
  assert.deepEqual(commandToRun(["-h", "dlq", "list"])?.names, ["dlq"]);
  assert.equal(commandToRun([]), undefined);
  assert.equal(commandToRun(["--help"]), undefined);
  assert.equal(commandToRun(["help", "agent"]), undefined);
  assert.equal(commandToRun(["agnt"]), undefined);
});

test("cli - a command registered alone has the same help as with every command registered", async () => {
  const all = new Command().name("shipper");
  await registerCommands(all, []);
  for (const entry of COMMANDS) {
    const alone = new Command().name("shipper");
    await registerCommands(alone, [entry.names[0]!]);
    assert.equal(alone.commands.length, 1);
    const full = all.commands.find((c) => c.name() === entry.names[0])!;
    assert.equal(alone.commands[0]!.helpInformation(), full.helpInformation(), `${entry.names[0]} --help`);
    for (const sub of full.commands) {
      const same = alone.commands[0]!.commands.find((c) => c.name() === sub.name())!;
      assert.equal(same.helpInformation(), sub.helpInformation(), `${entry.names[0]} ${sub.name()} --help`);
    }
  }
});

test("cli - `shipper agent` loads no collector, dead-letter or demo code", () => {
  const dir = mkdtempSync(join(tmpdir(), "shipper-cli-lazy-"));
  try {
    // A module loader hook that prints every module loaded (ESM), registered before main runs.
    const hooks = join(dir, "hooks.mjs");
    writeFileSync(hooks, 'export async function load(url, context, next) { process.stderr.write(`LOADED ${url}\\n`); return next(url, context); }\n');
    const register = join(dir, "register.mjs");
    writeFileSync(register, `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const run = spawnSync(process.execPath, ["--import", register, MAIN, "agent", "--help"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const loaded = run.stderr.split("\n").filter((l) => l.startsWith("LOADED ")).map((l) => l.slice(7));
    assert.ok(loaded.some((u) => u.includes("/src/agent/agent.js")), "the agent itself is loaded");
    const foreign = loaded.filter((u) => /\/src\/(collector|deadletter|demo)\/|\/src\/cli\/commands\/(collector|dlq|demo|setup|report|tail)\.js/.test(u));
    assert.deepEqual(foreign, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
