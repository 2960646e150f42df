// Which file a path names at a moment: device and inode, as decimal strings (inodes can exceed
// 2^53, and strings survive JSON when issue 3 saves positions).
import type { BigIntStats } from "node:fs";

export interface FileIdentity {
  readonly dev: string;
  readonly ino: string;
}

export function identityOf(stats: BigIntStats): FileIdentity {
  return { dev: stats.dev.toString(), ino: stats.ino.toString() };
}

export function sameFile(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

export function describeIdentity(id: FileIdentity): string {
  return `${id.dev}:${id.ino}`;
}
