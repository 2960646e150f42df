// `shipper demo`: the whole system on this machine, with a local nats-server.
import { Command } from "commander";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { existsSync } from "node:fs";
import { runCommand } from "../run.js";
import { runDemo } from "../../demo/demo.js";
import { parseInteger } from "../../config/values.js";
import { ConfigError } from "../../config/errors.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("start a local nats-server, set up streams, ship simulated hosts' logs and show the result")
    .option("--dir <dir>", "state directory (wiped first)", join(tmpdir(), "shipper-demo"))
    .option("--hosts <n>", "number of simulated hosts", "4")
    .option("--lines <n>", "lines per host when generating a syslog-style log", "5000")
    .option("--log <file>", "ship this real log file from every host instead of a generated one")
    .option("--partitions <n>", "partition count", "10")
    .option("--timeout <seconds>", "give up waiting for the lines after this long", "120")
    .action(async (flags: { dir: string; hosts: string; lines: string; log?: string; partitions: string; timeout: string }) => {
      await runCommand("demo", async (signal) => {
        if (flags.log !== undefined && !existsSync(flags.log)) {
          throw new ConfigError(`--log names "${flags.log}", which does not exist`);
        }
        return await runDemo({
          dir: resolve(flags.dir),
          hosts: parseInteger("--hosts", flags.hosts, 1, 100),
          linesPerHost: parseInteger("--lines", flags.lines, 1),
          logFile: flags.log,
          partitions: parseInteger("--partitions", flags.partitions, 0),
          timeoutMs: parseInteger("--timeout", flags.timeout, 1) * 1000,
          signal,
        });
      });
    });
}
