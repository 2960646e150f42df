// The `Nats-Msg-Id` header of line messages (format in src/protocol/msg-id.ts), encoded by hand:
// building a nats.js headers() object per line costs about a third of the publish rate
// (SPEC.md §8, issue 4). The prefix `<origin token>:` is encoded once per file version.
import { MsgHdrsImpl } from "@nats-io/transport-node";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { BATCH_HEADER } from "../protocol/batch.js";
import { originToken } from "../protocol/msg-id.js";

const TAIL = Buffer.from("\r\n\r\n", "latin1");

/** Encodes `NATS/1.0\r\nNats-Msg-Id: <prefix><offset>\r\n\r\n` with the prefix encoded once. */
export class MsgIdHeaderEncoder {
  private prefix: Buffer = Buffer.alloc(0);
  private prefixFor = "";

  /** Sets the id prefix (`<origin token>:`) for `host` and a file version (fileVersionKey); cheap when unchanged. */
  use(host: string, versionKey: string): void {
    const key = `${host}:${versionKey}`;
    if (key === this.prefixFor) return;
    this.prefixFor = key;
    this.prefix = Buffer.from(`NATS/1.0\r\n${MSG_ID_HEADER}: ${originToken(host, versionKey)}:`, "latin1"); // lineMsgId() without its offset
  }

  /** `NATS/1.0\r\nNats-Msg-Id: <origin token>:`, the header up to the offset (frame-encoder.ts writes the rest). */
  get prefixBytes(): Buffer {
    return this.prefix;
  }

  /** The header of one line ending at `offset`, or of a batch of `lines` lines whose last line ends there (src/protocol/batch.ts). */
  encode(offset: number, lines = 1): Buffer {
    const id = offset.toString(36);
    const rest = lines > 1 ? `${id}:b${lines}\r\n${BATCH_HEADER}: ${lines}` : id;
    const p = this.prefix.length;
    const buf = Buffer.allocUnsafe(p + rest.length + TAIL.length);
    this.prefix.copy(buf, 0);
    buf.write(rest, p, "latin1");
    TAIL.copy(buf, p + rest.length);
    return buf;
  }
}

/**
 * A header set whose wire bytes were prepared by MsgIdHeaderEncoder. nc.publish() only calls
 * encode() (synchronously), so one instance is reused for every line; it is for publishing only,
 * its get()/has() do not see the prepared id.
 */
export class PreparedHeaders extends MsgHdrsImpl {
  bytes: Uint8Array = new Uint8Array(0);

  override encode(): Uint8Array {
    return this.bytes;
  }
}

/** A whole header block with `fields` (rare messages: parts, dead letters), with its message id first. */
export function encodeHeaders(fields: [string, string][]): Buffer {
  let text = "NATS/1.0\r\n";
  for (const [name, value] of fields) text += `${name}: ${value.replace(/[\r\n]+/g, " ")}\r\n`;
  return Buffer.from(text + "\r\n", "utf8");
}
