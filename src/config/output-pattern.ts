// The collector's file name pattern (SHIPPER_OUTPUT): a strftime pattern, checked once at start.
// The original crashed on the second line of a host when the pattern was invalid.
import strftime from "strftime";
import { ConfigError } from "./errors.js";

/** Conversions the original's Go strftime knew; anything else is refused at start. */
const KNOWN_CONVERSIONS = new Set("AaBbCcDdeFHIjklMmnpRrSTtUuVvWwXxYyZz%".split(""));

export interface OutputPattern {
  readonly pattern: string;
  /** The file name for the day that holds `when` (local midnight). */
  fileNameFor(when: Date): string;
  /** True when a file name could have come from this pattern (used for the 7-day clean-up). */
  matches(fileName: string): boolean;
}

export function parseOutputPattern(setting: string, raw: string): OutputPattern {
  // The original appended a minute stamp when the pattern held no conversion at all.
  const pattern = raw.includes("%") ? raw : `${raw}-%Y%m%d%H%M`;
  if (pattern.includes("/") || pattern.includes("\0")) {
    throw new ConfigError(`${setting} is a file name inside each host's directory; "${raw}" must not hold "/"`);
  }
  const matcher: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch !== "%") {
      matcher.push(ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      continue;
    }
    const conv = pattern[i + 1];
    if (conv === undefined) {
      throw new ConfigError(`${setting} "${raw}" ends with a lone "%"; write "%%" for a percent sign`);
    }
    if (!KNOWN_CONVERSIONS.has(conv)) {
      throw new ConfigError(
        `${setting} "${raw}" has the unknown conversion "%${conv}"; use strftime conversions such as %Y %m %d %H %M`,
      );
    }
    matcher.push(conv === "%" ? "%" : "[^/]+?");
    i++;
  }
  const re = new RegExp(`^${matcher.join("")}$`, "s");
  const name = strftime(pattern, new Date(2020, 3, 2));
  if (name === "" || name === "." || name === "..") {
    throw new ConfigError(`${setting} "${raw}" gives the file name "${name}", which cannot be a file`);
  }
  // The name of the day last asked for: a collector asks for every host it writes, and formatting
  // the pattern each time cost more than the write at 10,000 hosts.
  let dayStart = 0;
  let dayEnd = 0;
  let dayName = "";
  return {
    pattern,
    fileNameFor(when: Date): string {
      const t = when.getTime();
      if (t >= dayStart && t < dayEnd) return dayName;
      const midnight = new Date(when.getFullYear(), when.getMonth(), when.getDate());
      // The next local midnight from the calendar, not +24 h: days around a DST change are 23 or 25 h.
      const next = new Date(when.getFullYear(), when.getMonth(), when.getDate() + 1);
      dayName = strftime(pattern, midnight);
      dayStart = midnight.getTime();
      dayEnd = next.getTime();
      return dayName;
    },
    matches: (fileName) => re.test(fileName),
  };
}
