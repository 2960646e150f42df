// One agent per state directory: two agents saving positions in one place would overwrite each
// other's progress. The lock is a file created with O_EXCL holding the owner's pid and the
// process start time (from /proc, so a pid reused by another program after a crash is not taken
// for a live agent). A lock whose owner is gone is stale and taken over, with a log line.
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync, fsyncSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../config/errors.js";
import type { Logger } from "../../shared/log.js";

export const LOCK_FILE = "agent.lock";

interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), when known. */
  started?: string;
}

/** The start time of `pid` as /proc reports it, or undefined (no /proc, or no such process). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.substring(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    // EPERM: it exists but belongs to someone else
  }
  if (owner.started !== undefined) {
    const now = processStartTime(owner.pid);
    if (now !== undefined && now !== owner.started) return false; // the pid was reused
  }
  return true;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<LockOwner>;
    if (typeof parsed.pid === "number" && Number.isSafeInteger(parsed.pid) && parsed.pid > 0) {
      return { pid: parsed.pid, started: typeof parsed.started === "string" ? parsed.started : undefined };
    }
  } catch {
    // unreadable or half written: treated as stale below
  }
  return undefined;
}

export class StateLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly path: string,
  ) {}

  /** Takes the lock of `dir` (created if missing); a ConfigError names the pid holding it. */
  static acquire(dir: string, log: Logger): StateLock {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new ConfigError(
        `cannot create the state directory "${dir}" (${(err as Error).message}); set SHIPPER_STATE_DIR (--state-dir) to a writable directory`,
      );
    }
    const path = join(dir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, started: processStartTime(process.pid) };
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, "wx", 0o644);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EEXIST") {
          throw new ConfigError(
            `cannot create the lock "${path}" (${(err as Error).message}); set SHIPPER_STATE_DIR (--state-dir) to a writable directory`,
          );
        }
        const owner = readOwner(path);
        if (owner && owner.pid !== process.pid && isAlive(owner)) {
          throw new ConfigError(
            `the state directory "${dir}" is in use by another agent (pid ${owner.pid}); stop that agent, or give this one ` +
              `its own SHIPPER_STATE_DIR (--state-dir)`,
          );
        }
        log.warn(`taking over the stale lock "${path}"` + (owner ? ` of pid ${owner.pid}, which is no longer running` : " (unreadable)"));
        rmSync(path, { force: true });
        continue;
      }
      try {
        writeSync(fd, JSON.stringify(me) + "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return new StateLock(dir, path);
    }
    throw new ConfigError(`cannot take the lock "${path}": another agent keeps taking it; give each agent its own SHIPPER_STATE_DIR (--state-dir)`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const owner = readOwner(this.path);
    if (owner?.pid === process.pid) rmSync(this.path, { force: true });
  }
}
