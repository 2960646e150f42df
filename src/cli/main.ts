#!/usr/bin/env node
// The `shipper` program: one binary, one subcommand per part of the system.
import { Command } from "commander";
import { registerCommands } from "./commands/index.js";

const program = new Command()
  .name("shipper")
  .description("Ship log lines through NATS JetStream: agents follow files, collectors write one set of files per host.")
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)");

await registerCommands(program);
await program.parseAsync(process.argv);
