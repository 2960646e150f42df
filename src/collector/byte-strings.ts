// Numbers for byte strings, and each one's text made once: the subject of every delivered line is
// one of a few thousand host subjects, read straight from the connection's buffer. Decoding it
// for every line, only to look it up, made a string a line (and most of the garbage of the receive
// path); here a line's subject costs a hash and a compare of its bytes.
//
// Written by hand: Map and the like key by string or object, and no package interns byte ranges.

/** Open addressing with linear probing; the table doubles when half full. */
export class ByteStrings {
  private slots = new Int32Array(1024).fill(-1);
  private readonly hashes: number[] = [];
  /** Every key's bytes, one after the other (a Buffer a key took ~100 bytes of heap more). */
  private keys = Buffer.allocUnsafeSlow(16 * 1024);
  private keysUsed = 0;
  private readonly keyStarts: number[] = [];
  /** The texts, by number (UTF-8 decoded). */
  readonly texts: string[] = [];

  get size(): number {
    return this.texts.length;
  }

  /** The number of `bytes[from, to)`, given the next one when new. */
  number(bytes: Uint8Array, from: number, to: number): number {
    const hash = fnv1a(bytes, from, to);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const n = this.slots[slot]!;
      if (n < 0) return this.add(slot, hash, bytes, from, to);
      if (this.hashes[n] === hash && this.same(n, bytes, from, to)) return n;
    }
  }

  private add(slot: number, hash: number, bytes: Uint8Array, from: number, to: number): number {
    const n = this.texts.length;
    const length = to - from;
    if (this.keysUsed + length > this.keys.length) {
      const keys = Buffer.allocUnsafeSlow(Math.max(2 * this.keys.length, this.keysUsed + length));
      this.keys.copy(keys, 0, 0, this.keysUsed);
      this.keys = keys;
    }
    const start = this.keysUsed;
    this.keys.set(bytes.subarray(from, to), start); // a copy: `bytes` is a read buffer
    this.keysUsed += length;
    this.keyStarts.push(start);
    this.hashes.push(hash);
    this.texts.push(this.keys.toString("utf8", start, start + length));
    this.slots[slot] = n;
    if (2 * this.texts.length > this.slots.length) this.grow();
    return n;
  }

  private same(n: number, bytes: Uint8Array, from: number, to: number): boolean {
    const start = this.keyStarts[n]!;
    const end = n + 1 < this.keyStarts.length ? this.keyStarts[n + 1]! : this.keysUsed;
    if (end - start !== to - from) return false;
    const keys = this.keys;
    for (let i = 0; i < end - start; i++) if (keys[start + i] !== bytes[from + i]) return false;
    return true;
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (let n = 0; n < this.hashes.length; n++) {
      let slot = this.hashes[n]! & mask;
      while (slots[slot]! >= 0) slot = (slot + 1) & mask;
      slots[slot] = n;
    }
    this.slots = slots;
  }
}

/**
 * FNV-1a, as a signed 32-bit number: V8 keeps those as small integers, while half of the unsigned
 * ones (`>>> 0`) were heap numbers, which changed the hashes array's kind and sent the code
 * that had filled it back from optimized.
 */
function fnv1a(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}


