// The partition function of the original shipper (SPEC.md §1): 32-bit FNV-1a of the host's
// UTF-8 bytes, modulo the partition count. Hand-written because it is six lines and must match
// the Go original bit for bit; the npm FNV packages add nothing but a dependency.

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

export function fnv1a32(input: string | Uint8Array): number {
  const bytes = typeof input === "string" ? utf8.encode(input) : input;
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash >>> 0;
}

/** The partition a host's lines go to; a count of 0 means "not partitioned" (partition 0). */
export function partitionOf(host: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 0) {
    throw new RangeError(`partition count must be a whole number >= 0, got ${partitions}`);
  }
  return partitions === 0 ? 0 : fnv1a32(host) % partitions;
}
