// How every command runs: configuration errors become one line and exit code 2; SIGINT/SIGTERM
// abort a shared signal so the command can finish its current work and close cleanly.
import { ConfigError } from "../config/errors.js";

export const EXIT_CONFIG = 2;
export const EXIT_FAILURE = 1;

export type CommandBody = (signal: AbortSignal) => Promise<number | void>;

export async function runCommand(name: string, body: CommandBody): Promise<void> {
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`shipper ${name}: second ${sig}, exiting now\n`);
      process.exit(130);
    }
    stop.abort(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const code = await body(stop.signal);
    process.exitCode = code ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT_CONFIG;
    } else {
      process.stderr.write(`shipper ${name}: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EXIT_FAILURE;
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
