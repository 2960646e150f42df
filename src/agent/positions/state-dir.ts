// Where an agent keeps its saved positions: --state-dir / SHIPPER_STATE_DIR, else a directory
// per host name under the system's or the user's state directory, so several agents for different
// host names (the demo, tests) never share one by accident:
// - root, when /var/lib/shipper is (or can be made) writable: /var/lib/shipper/agent/<host>;
// - otherwise: $XDG_STATE_HOME/shipper/agent/<host> (default ~/.local/state/shipper/agent/<host>).
import { accessSync, constants, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const SYSTEM_STATE_ROOT = "/var/lib/shipper";

function writableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The default state directory for `host` (the directory itself is created by the lock). */
export function defaultStateDir(host: string, env: NodeJS.ProcessEnv = process.env): string {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && writableDir(SYSTEM_STATE_ROOT)) return join(SYSTEM_STATE_ROOT, "agent", safeName(host));
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith("/") ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
  return join(base, "shipper", "agent", safeName(host));
}

/** A host name as one path segment ("/" and the like percent-encoded). */
function safeName(host: string): string {
  return encodeURIComponent(host);
}
