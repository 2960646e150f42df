// Which file a path names at a moment: device and inode, as decimal strings (inodes can exceed
// 2^53, and strings survive JSON in the saved positions), and the file's birth time where the
// file system records it (ext4, xfs, btrfs): an inode reused for a new file has a new birth time.
import type { BigIntStats } from "node:fs";

export interface FileIdentity {
  readonly dev: string;
  readonly ino: string;
  /** Birth time in ns since the epoch, when known. */
  readonly born?: string;
}

export function identityOf(stats: BigIntStats): FileIdentity {
  const born = stats.birthtimeNs > 0n ? stats.birthtimeNs.toString() : undefined;
  return born ? { dev: stats.dev.toString(), ino: stats.ino.toString(), born } : { dev: stats.dev.toString(), ino: stats.ino.toString() };
}

/** Same device and inode, and the same birth time when both are known. */
export function sameFile(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined || a.dev !== b.dev || a.ino !== b.ino) return false;
  return a.born === undefined || b.born === undefined || a.born === b.born;
}

export function describeIdentity(id: FileIdentity): string {
  return `${id.dev}:${id.ino}`;
}
