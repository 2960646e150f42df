// Parsers for single configuration values. Each throws a ConfigError naming the setting.
import { ConfigError } from "./errors.js";

/** A partition count: a whole number >= 0; empty or unset means 0 (the original's default). */
export function parsePartitionCount(setting: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  if (!/^[0-9]+$/.test(text)) {
    throw new ConfigError(`${setting} must be a whole number of partitions (0 or more), got "${raw}"`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > 100_000) {
    throw new ConfigError(`${setting} is too large (${raw}); use at most 100000 partitions`);
  }
  return n;
}

/**
 * A list of partition ids such as "0,1, 2" or "0-3,7". Spaces are tolerated (the original exited
 * on "0, 1"); every id must be a whole number below the partition count when that is known.
 */
export function parsePartitionList(setting: string, raw: string, partitions?: number): number[] {
  const ids = new Set<number>();
  for (const part of raw.split(",").map((p) => p.trim())) {
    if (part === "") {
      throw new ConfigError(`${setting} has an empty entry in "${raw}"; give ids like "0,1,2" or "0-3"`);
    }
    const range = /^([0-9]+)\s*-\s*([0-9]+)$/.exec(part);
    const [lo, hi] = range ? [Number(range[1]), Number(range[2])] : [Number(part), Number(part)];
    if (!/^[0-9]+$/.test(part) && !range) {
      throw new ConfigError(`${setting} has "${part}", which is not a partition id; give ids like "0,1,2" or "0-3"`);
    }
    if (lo > hi) throw new ConfigError(`${setting} has the backwards range "${part}"`);
    for (let id = lo; id <= hi; id++) {
      if (partitions !== undefined && partitions > 0 && id >= partitions) {
        throw new ConfigError(
          `${setting} names partition ${id}, but the deployment has ${partitions} partitions (0-${partitions - 1})`,
        );
      }
      ids.add(id);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as "30s", "1d", "500ms", "1h30m"; a bare number means seconds. */
export function parseDurationMs(setting: string, raw: string): number {
  const text = raw.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched += m[0].length;
  }
  if (matched === 0 || matched !== text.length) {
    throw new ConfigError(`${setting} must be a duration like 30s, 5m, 1h or 1d, got "${raw}"`);
  }
  return Math.round(total);
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** A size such as "1GiB", "512MB", "-1" (unlimited) or a plain number of bytes. */
export function parseBytes(setting: string, raw: string): number {
  const text = raw.trim().toLowerCase();
  if (text === "-1") return -1;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/.exec(text);
  const unit = m ? BYTE_UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(`${setting} must be a size like 512MB, 10GiB or -1 for unlimited, got "${raw}"`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** A whole number within bounds. */
export function parseInteger(setting: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = raw.trim();
  if (!/^-?[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new ConfigError(`${setting} must be a whole number ${range}, got "${raw}"`);
  }
  return Number(text);
}

/** The value of a required setting, or the original's one-line complaint. */
export function required(value: string | undefined, complaint: string): string {
  if (value === undefined || value.trim() === "") throw new ConfigError(complaint);
  return value;
}
