// Human units for the admin commands (setup, report, tail): sizes in binary units like
// `nats stream report` prints them, and durations in the same shorthand the flags accept.

const SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 83968 -> "82 KiB"; -1 -> "unlimited". */
export function formatBytes(bytes: number): string {
  if (bytes < 0) return "unlimited";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < SIZE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(1).replace(/\.0$/, "");
  return `${text} ${SIZE_UNITS[unit]}`;
}

const DURATION_STEPS: Array<[string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/** 86400000 -> "1d", 5400000 -> "1h30m", 0 -> "0s" (a max-age of 0 means unlimited: say so). */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  const parts: string[] = [];
  for (const [unit, size] of DURATION_STEPS) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("") || `${ms}ms`;
}

export function nanosFromMs(ms: number): number {
  return Math.round(ms * 1_000_000);
}

export function msFromNanos(ns: number): number {
  return Math.round(ns / 1_000_000);
}

/** A whole number with thousands separators, as reports print counts. */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
