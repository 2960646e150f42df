// How far the collector's JavaScript heap may grow between full collections. V8 starts the next
// full collection when the old generation has grown by a factor of what the last one left alive;
// the collector caps that factor (--heap-growth, 50% by default) so 10,000 hosts stay within
// 200 MB. But 50% of a small live heap is little: 1,000 hosts keep ~15 MB alive, so a full
// collection came every ~100 ms (20 in a 3-second drain, each with its marking on the other
// core), and V8's own growth was 13% cheaper in collector CPU once warm. So a heap under
// FLOOR_BYTES may always grow to it; the cap binds only where the heap is large, as with 10,000
// hosts (~30 MB alive, then 50% as before). Alternating runs at 1,000 hosts: collector CPU a line
// 4.4-5.5 -> 4.7-4.8 us whole, 3.4-4.0 -> 3.0-3.4 warm; at 10,000 hosts the peak was the same
// (182-186 MB against 181-186). A floor of 40 MB, or 16 MB over the live heap whatever its size,
// raised that peak by 6-10 MB: the heap at 10,000 hosts stays under 27 MB alive for seconds.
//
// V8 has no flag for such a floor, so it is steered by hand: after each full collection the
// growth percent is set again from the heap then in use (V8 reads the flag when it sets the next
// limit).

import { PerformanceObserver, constants, type PerformanceEntry } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";

/** A full collection need not start before the heap reaches this much. */
export const FLOOR_BYTES = 32 * 1024 * 1024;
/** V8's own factor stops at 4x (300%). */
const MOST_PERCENT = 300;

/** The growth percent for a live heap of `liveBytes`: `percent`, or more where that stops short of the floor. */
export function growthPercentFor(liveBytes: number, percent: number, floorBytes = FLOOR_BYTES): number {
  const live = Math.max(liveBytes, 1);
  const toFloor = Math.ceil((100 * (floorBytes - live)) / live);
  return Math.max(percent, Math.min(MOST_PERCENT, toFloor));
}

export interface HeapGrowthSteering {
  /** The percent set last. */
  readonly current: number;
  stop(): void;
}

/**
 * Caps V8's heap growth at `percent` (below FLOOR_BYTES, up to it) for the rest of the process;
 * 0 leaves V8's own growth alone.
 */
export function steerHeapGrowth(percent: number, floorBytes = FLOOR_BYTES): HeapGrowthSteering {
  let current = 0;
  let observer: PerformanceObserver | undefined;
  const set = (next: number) => {
    if (next === current) return;
    setFlagsFromString(`--heap-growing-percent=${next}`);
    current = next;
  };
  const steering = {
    get current() {
      return current;
    },
    stop: () => observer?.disconnect(),
  };
  if (percent <= 0) return steering;
  // Before the first full collection nothing is known: the cap, as before.
  set(percent);
  // Read just after a full collection (entries come a moment later, so a little of what was
  // allocated since counts as live: the percent errs low, on the side of less memory).
  observer = new PerformanceObserver((list) => {
    if (list.getEntries().some(isFullCollection)) set(growthPercentFor(getHeapStatistics().used_heap_size, percent, floorBytes));
  });
  observer.observe({ entryTypes: ["gc"] });
  return steering;
}

function isFullCollection(entry: PerformanceEntry): boolean {
  const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
  return detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}
