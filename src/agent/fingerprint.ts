// A fingerprint of a file's content: FNV-1a of its first line (at most 4 KiB). Device and inode
// say which file a path names, but not whether its content was replaced: after a copytruncate,
// or a deleted file whose inode was reused, the new lines sit at the offsets of the old ones,
// and without the fingerprint their message ids would collide and the stream would drop them as
// duplicates. Log lines start with a timestamp, so a new first line nearly always differs.
import type { FileHandle } from "node:fs/promises";
import { fnv1a32 } from "../protocol/partition.js";

const FINGERPRINT_BYTES = 4096;

/** The fingerprint, or undefined while the file has neither a first newline nor 4 KiB. */
export async function fingerprintOf(fh: FileHandle): Promise<string | undefined> {
  const buf = Buffer.allocUnsafe(FINGERPRINT_BYTES);
  const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
  const nl = buf.subarray(0, bytesRead).indexOf(10);
  if (nl === -1 && bytesRead < FINGERPRINT_BYTES) return undefined;
  const end = nl === -1 ? FINGERPRINT_BYTES : nl + 1;
  return fnv1a32(buf.subarray(0, end)).toString(16).padStart(8, "0");
}
