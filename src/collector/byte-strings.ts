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
  private readonly keys: Buffer[] = [];
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
      if (this.hashes[n] === hash && same(this.keys[n]!, bytes, from, to)) return n;
    }
  }

  private add(slot: number, hash: number, bytes: Uint8Array, from: number, to: number): number {
    const n = this.texts.length;
    const key = Buffer.from(bytes.subarray(from, to)); // a copy: `bytes` is a read buffer
    this.keys.push(key);
    this.hashes.push(hash);
    this.texts.push(key.toString("utf8"));
    this.slots[slot] = n;
    if (2 * this.texts.length > this.slots.length) this.grow();
    return n;
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

function fnv1a(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

function same(key: Buffer, bytes: Uint8Array, from: number, to: number): boolean {
  if (key.length !== to - from) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== bytes[from + i]) return false;
  return true;
}
