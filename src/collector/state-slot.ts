// The bytes of one partition-state slot file (partition-state.ts keeps two and alternates):
//
//   shipper-partition-state 2 <counter> <body length> <crc32 of counter and body, 8 hex>\n<body>
//
// The body is the state as JSON. A slot is overwritten in place, so a crash can leave it torn: its
// header, body and checksum then disagree, and it is recognised as torn rather than read as a guess.
// Bytes after the body are left over from a longer earlier save and ignored.
import * as zlib from "node:zlib";
import type { PartitionStateData } from "./partition-state.js";

export const SLOT_MAGIC = "shipper-partition-state";
export const SLOT_VERSION = 2;
const HEADER = /^shipper-partition-state (\d+) (\d+) (\d+) ([0-9a-f]{8})$/;
/** A header is far shorter than this; a first line longer is not a header. */
const MAX_HEADER = 128;

export type DecodedSlot = { ok: true; counter: number; body: string } | { ok: false; why: string };

export function encodeSlot(counter: number, body: string | Buffer): Buffer {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const header = `${SLOT_MAGIC} ${SLOT_VERSION} ${counter} ${bytes.length} ${checksum(counter, bytes)}\n`;
  return Buffer.concat([Buffer.from(header, "ascii"), bytes]);
}

/** The counter and body of a slot, or why it cannot be trusted (torn, or not a slot). */
export function decodeSlot(data: Buffer): DecodedSlot {
  const end = data.subarray(0, MAX_HEADER).indexOf(0x0a);
  if (end < 0) return { ok: false, why: "no header line" };
  const m = HEADER.exec(data.toString("ascii", 0, end));
  if (!m) return { ok: false, why: "the header is not a version 2 slot header" };
  if (Number(m[1]) !== SLOT_VERSION) return { ok: false, why: `slot version ${m[1]}` };
  const counter = Number(m[2]);
  const length = Number(m[3]);
  const body = data.subarray(end + 1, end + 1 + length);
  if (body.length !== length) return { ok: false, why: `${body.length} of ${length} body bytes` };
  if (checksum(counter, body) !== m[4]) return { ok: false, why: "the checksum does not match" };
  return { ok: true, counter, body: body.toString("utf8") };
}

function checksum(counter: number, body: Uint8Array): string {
  return (crc32(body, crc32(Buffer.from(`${counter}\n`, "ascii"))) >>> 0).toString(16).padStart(8, "0");
}

// zlib.crc32 is in Node from 20.15; older Node 20 releases get the same function in JS.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
let table: Int32Array | undefined;
export function crc32(data: Uint8Array, value = 0): number {
  if (nativeCrc32) return nativeCrc32(data, value);
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * The JSON of a partition state as bytes. (Reusing each unchanged host's bytes was tried: with
 * 10,000 hosts it saved at best a third of a save's CPU when few hosts changed, and cost three
 * times as much when a backlog changed them all, so the whole state is serialised each time.)
 */
export function encodeState(data: PartitionStateData): Buffer {
  const { stream, streamCreated, sequence, hosts } = data;
  return Buffer.from(JSON.stringify({ version: SLOT_VERSION, stream, streamCreated, sequence, hosts }), "utf8");
}
