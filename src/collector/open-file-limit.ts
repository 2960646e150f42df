// How many output files a collector keeps open by default: half of what the process may open, so
// sockets, journals, state files and a checkpoint's fsyncs always have room, at most 16,384. Node
// raises the soft RLIMIT_NOFILE to the hard one at start, so this is usually far above the 1,000
// files of before: with 10,000 hosts and uniform traffic, a bound of 1,000 made nearly every write
// an open, a stat and a close (35-41k lines/s; all files open: 59k). Where the limit was lower
// than ~1,100, the old bound risked EMFILE; half of it does not.
//
// Read from /proc/self/limits because Node has no API for getrlimit; elsewhere the old 1,000.
import { readFileSync } from "node:fs";
import { DEFAULT_MAX_OPEN_FILES } from "./file-sink.js";

/** Where the limit cannot be read: the file sink's own default. */
export const FALLBACK_MAX_OPEN_FILES = DEFAULT_MAX_OPEN_FILES;
export const MOST_OPEN_FILES = 16_384;
const LEAST_OPEN_FILES = 16;

/** The default bound for the process's open-file limit as /proc/self/limits states it. */
export function maxOpenFilesFor(limits: string | undefined): number {
  const line = limits?.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined) return FALLBACK_MAX_OPEN_FILES;
  if (soft === "unlimited") return MOST_OPEN_FILES;
  const n = Number(soft);
  if (!Number.isSafeInteger(n) || n <= 0) return FALLBACK_MAX_OPEN_FILES;
  return Math.max(LEAST_OPEN_FILES, Math.min(MOST_OPEN_FILES, Math.floor(n / 2)));
}

/** The default bound for this process. */
export function defaultMaxOpenFiles(): number {
  try {
    return maxOpenFilesFor(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    return FALLBACK_MAX_OPEN_FILES;
  }
}
