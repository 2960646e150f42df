// Whether a host name, taken from a subject, may be used as one directory name under the output
// root. The original joined it into a path unchecked, so `/etc` or `a/b` escaped or nested
// directories. Anything refused here is never turned into a path: its lines go to quarantine.
import { join, resolve, dirname } from "node:path";

/** The longest file name most Linux file systems accept (ext4, xfs, btrfs: 255 bytes). */
export const MAX_NAME_BYTES = 255;

/** C0 controls, DEL and C1 controls: terminals and tools misread them in names. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `host` cannot be a directory name, or undefined when it can. */
export function hostDirectoryProblem(host: string): string | undefined {
  if (host.length === 0) return "the host name is empty";
  if (host === "." || host === "..") return `the host name "${host}" is a path step, not a name`;
  if (host.startsWith(".")) return "the host name starts with \".\" (a hidden file, or a path step)";
  if (host.includes("/")) return "the host name holds \"/\", which would nest or escape directories";
  if (host.includes("\\")) return "the host name holds \"\\\", a path separator on other systems";
  if (CONTROL_CHARS.test(host)) return "the host name holds control characters (NUL, newline, escape...)";
  if (host.includes("\ufffd")) return "the host name holds bytes that are not valid UTF-8";
  if (host.trim() !== host) return "the host name starts or ends with white space";
  if (Buffer.byteLength(host, "utf8") > MAX_NAME_BYTES) {
    return `the host name is longer than ${MAX_NAME_BYTES} bytes, the longest file name a file system takes`;
  }
  return undefined;
}

/**
 * The directory of a host under `root`, or undefined when the name is unsafe. Besides the rules
 * above it checks that the joined path is exactly one level below the root.
 */
export function hostDirectory(root: string, host: string): string | undefined {
  if (hostDirectoryProblem(host) !== undefined) return undefined;
  const dir = join(root, host);
  return dirname(resolve(dir)) === resolve(root) ? dir : undefined;
}
