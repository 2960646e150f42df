// Every subcommand, registered in the order `shipper --help` lists them.
import type { Command } from "commander";
import { registerAgent } from "./agent.js";
import { registerCollector } from "./collector.js";
import { registerDemo } from "./demo.js";
import { registerSetup } from "./setup.js";
import { registerReport } from "./report.js";
import { registerTail } from "./tail.js";
import { registerDlq } from "./dlq.js";

export function registerCommands(program: Command): void {
  registerSetup(program);
  registerAgent(program);
  registerCollector(program);
  registerReport(program);
  registerTail(program);
  registerDlq(program);
  registerDemo(program);
}
