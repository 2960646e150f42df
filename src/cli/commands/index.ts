// Every subcommand, registered in the order `shipper --help` lists them. A command's module (and
// with it its implementation: the agent, the collector, the dead-letter tools, the demo) is
// imported only when that command runs, so `shipper agent` never loads collector, dlq or demo
// code. Help and unknown-command errors still see every command: then all of them are loaded.
import type { Command } from "commander";

interface CommandEntry {
  /** The name and aliases the module registers (a test checks they match). */
  names: readonly string[];
  register: () => Promise<(program: Command) => void>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { names: ["setup"], register: async () => (await import("./setup.js")).registerSetup },
  { names: ["agent", "producer"], register: async () => (await import("./agent.js")).registerAgent },
  { names: ["collector", "consumer"], register: async () => (await import("./collector.js")).registerCollector },
  { names: ["report"], register: async () => (await import("./report.js")).registerReport },
  { names: ["tail"], register: async () => (await import("./tail.js")).registerTail },
  { names: ["dlq"], register: async () => (await import("./dlq.js")).registerDlq },
  { names: ["demo"], register: async () => (await import("./demo.js")).registerDemo },
];

/**
 * The command `args` (process.argv without node and the script) will run: the first word that is
 * not an option (the program's own options, --help and --version, take no value). Undefined when
 * there is none or it names no command (help, a typo): then every command is needed.
 */
export function commandToRun(args: readonly string[]): CommandEntry | undefined {
  const word = args.find((a) => !a.startsWith("-"));
  return word === undefined ? undefined : COMMANDS.find((c) => c.names.includes(word));
}

/** Registers the command about to run, or every command when help or an error needs them all. */
export async function registerCommands(program: Command, args: readonly string[] = process.argv.slice(2)): Promise<void> {
  const one = commandToRun(args);
  for (const entry of one ? [one] : COMMANDS) (await entry.register())(program);
}
