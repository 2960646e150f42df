// The reply subjects of a batch's lines, kept from when the batch is routed until it is
// acknowledged, once the lines' own memory is reused (arrived-lines.ts). AckAll needs only the last
// reply, but "in progress" (+WPI) goes to every line, so all are kept.
//
// As bytes in blocks reused across batches: a string a line outlived the young generation (it is
// kept while the batch is made durable), and a fresh buffer a batch is memory outside the heap
// that V8 answers with full collections (one more every few batches, measured).

/** Bytes per block; a reply is never split across blocks. */
const BLOCK_BYTES = 32 * 1024;
/** Spare blocks kept for the whole process (1 MiB). */
const SPARE_BLOCKS = 32;
const spare: Buffer[] = [];
/** Each reply is stored after its length in two bytes. */
const LENGTH_BYTES = 2;

/** Where a line's reply bytes are, so they can be copied (PulledLine). */
export interface ReplySource {
  readonly replyLength: number;
  copyReply(target: Buffer, at: number): number;
}

export class BatchReplies {
  private blocks: Buffer[] = [];
  /** Bytes used in the last block. */
  private used = BLOCK_BYTES;
  private lastBlock = -1;
  private lastAt = 0;
  readonly count: number;

  constructor(lines: readonly ReplySource[]) {
    this.count = lines.length;
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k]!;
      const length = line.replyLength;
      if (length === 0 || length > 0xffff) throw new Error(`a delivered line's reply subject has ${length} bytes`); // the server's are 8 to a few hundred
      if (this.used + LENGTH_BYTES + length > BLOCK_BYTES) this.newBlock(LENGTH_BYTES + length);
      const block = this.blocks[this.blocks.length - 1]!;
      block.writeUInt16LE(length, this.used);
      this.lastBlock = this.blocks.length - 1;
      this.lastAt = this.used;
      this.used += LENGTH_BYTES + line.copyReply(block, this.used + LENGTH_BYTES);
    }
    this.closeBlock();
  }

  last(): string | undefined {
    return this.lastBlock < 0 ? undefined : read(this.blocks[this.lastBlock]!, this.lastAt);
  }

  each(send: (reply: string) => void): void {
    for (const block of this.blocks) {
      for (let at = 0; at + LENGTH_BYTES <= block.length; ) {
        const length = block.readUInt16LE(at);
        if (length === 0) break; // the end of what the block holds (a reply is never empty)
        send(read(block, at));
        at += LENGTH_BYTES + length;
      }
    }
  }

  /** The batch is acknowledged: its blocks take other batches' replies. */
  release(): void {
    for (const block of this.blocks) if (block.length === BLOCK_BYTES && spare.length < SPARE_BLOCKS) spare.push(block);
    this.blocks = [];
    this.lastBlock = -1;
  }

  private newBlock(need: number): void {
    this.closeBlock();
    const block = need <= BLOCK_BYTES ? (spare.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES)) : Buffer.allocUnsafeSlow(need + LENGTH_BYTES);
    this.blocks.push(block);
    this.used = 0;
  }

  /** Marks the end of the last block's replies (a zero length), when there is room for it. */
  private closeBlock(): void {
    const block = this.blocks[this.blocks.length - 1];
    if (block && this.used + LENGTH_BYTES <= block.length) block.writeUInt16LE(0, this.used);
  }
}

function read(block: Buffer, at: number): string {
  return block.toString("utf8", at + LENGTH_BYTES, at + LENGTH_BYTES + block.readUInt16LE(at));
}
