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
  const perRun: string[][] = [];
  for (let run = 0; run < runs; run++) {
    const outcome = await once(run);
    values.push(outcome.value);
    perRun.push(outcome.notes ?? []);
  }
  // A note every run gave alike is said once ("every run: ..."); the others name their run.
  const same = perRun[0]?.filter((note) => perRun.every((notes) => notes.includes(note))) ?? [];
  const notes = same.map((note) => (runs > 1 ? `every run: ${note}` : note));
  perRun.forEach((list, run) => {
    for (const note of list) if (!same.includes(note)) notes.push(`run ${run + 1}: ${note}`);
  });
  return { value: median(values), runs: values, notes };
}

/** One optional note per run, named by its run when there were several ("run 2: ..."). */
export function perRunNotes(notes: ReadonlyArray<string | undefined>): string[] {
  return notes.flatMap((note, i) => (note === undefined ? [] : [notes.length > 1 ? `run ${i + 1}: ${note}` : note]));
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export function log(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}
