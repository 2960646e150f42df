// What a measurement produces: figures with their unit, the runs behind them, and why a figure is
// missing when it is. One shape for the table and for the JSON file.

export type Unit = "lines/s" | "ms" | "MB" | "files" | "lines" | "us/line";

export interface Figure {
  /** Stable key for the JSON, e.g. "ceiling.async_acked". */
  key: string;
  /** Human label for the table. */
  label: string;
  /** Group it belongs to (Ceiling, Agent, ...). */
  group: string;
  unit: Unit;
  /** The reported value (median of runs for throughput); undefined when skipped or failed. */
  value?: number;
  /** Every run's value, when measured more than once. */
  runs?: number[];
  /** Key of the ceiling figure this throughput is compared with (ratio column). */
  ceiling?: string;
  /** The target from issue 4, for the reader: e.g. ">= 0.8 x ceiling". */
  target?: string;
  /** Extra facts: stored counts, errors, flags used. */
  notes?: string[];
  /** Set when the figure could not be measured: the reason. */
  skipped?: string;
}

export function skippedFigure(base: Omit<Figure, "value" | "runs" | "skipped">, reason: string): Figure {
  return { ...base, skipped: reason };
}

/** A measurement failed or is unavailable: every figure it would give is marked with the reason. */
export function skipAll(figures: Array<Omit<Figure, "value" | "runs" | "skipped">>, reason: string): Figure[] {
  return figures.map((f) => skippedFigure(f, reason));
}

type FigureBase = Omit<Figure, "value" | "runs" | "skipped">;

/**
 * Runs a measurement; if it throws (a program died, stalled, or misbehaved), its figures are
 * reported as failed with the first line of the reason instead of ending the benchmark.
 */
export async function guarded(figures: FigureBase[], measure: () => Promise<Figure[]>, onError?: (err: Error) => void): Promise<Figure[]> {
  try {
    return await measure();
  } catch (err) {
    onError?.(err as Error);
    return skipAll(figures, `failed: ${(err as Error).message.split("\n")[0]}`);
  }
}
