// Runs a throughput measurement several times on a noisy shared machine and keeps every run, so
// the table can show the median and the JSON the spread.
import { median } from "./stats.js";

export interface RunOutcome {
  /** lines/s of this run */
  value: number;
  notes?: string[];
}

export async function repeat(runs: number, once: (run: number) => Promise<RunOutcome>): Promise<{ value: number; runs: number[]; notes: string[] }> {
  const values: number[] = [];
  const notes: string[] = [];
  for (let run = 0; run < runs; run++) {
    const outcome = await once(run);
    values.push(outcome.value);
    for (const note of outcome.notes ?? []) notes.push(runs > 1 ? `run ${run + 1}: ${note}` : note);
  }
  return { value: median(values), runs: values, notes };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export function log(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}
