// V8's optimizing compiler, tuned for the collector. By default TurboFan inlines up to 920
// bytecode bytes into one function, so the collector's hottest functions (the frame reader with
// the whole receive path inlined, the batch writer) took 40-110 ms each to compile, several times
// a run (on-stack and whole-function versions, again after a rare path deoptimized them): 1-1.9 s
// of compiler threads in a run that lasts 2.5-3 s on two cores shared with nats-server. With 300:
// alternating runs of the 1,000-host collector benchmark, 165-174k -> 184-191k lines/s for the
// whole drain, warm rate unchanged (218-250k against 221-236k), collector CPU 6.2-6.7 -> 5.3-5.6 us
// a line; end to end, collector CPU 4.57 -> 4.34 us a line (mean of 8 pairs). A long-running
// process pays the compile cost once either way; the steady state did not slow down. The agent
// keeps V8's default: its CPU was the same either way, and its memory following 1,000 files no
// lower (142-145 MB with the budget, 134-144 without, against a 150 MB target).

import { setFlagsFromString } from "node:v8";

/** TurboFan's budget for bytecode inlined into one function. */
export const INLINING_BUDGET = 300;
const FLAG = "--max-inlined-bytecode-size-cumulative";

/**
 * Sets the inlining budget before the hot code is compiled, unless node was started with the
 * flag (an operator's own choice wins). True when it was set here.
 */
export function tuneCompiler(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a === FLAG || a.startsWith(`${FLAG}=`))) return false;
  setFlagsFromString(`${FLAG}=${INLINING_BUDGET}`);
  return true;
}
