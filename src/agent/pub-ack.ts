// Reads what came back on a publish's reply subject: a PubAck (`{"stream":..,"seq":..}`, maybe
// with `"duplicate":true`), a PubAck with an error, or the server's 503 "no responders" status
// (an empty message whose header line is `NATS/1.0 503`), which means no stream captures the
// subject. The common case is decided from a few bytes, without JSON.parse.
import type { Msg } from "@nats-io/transport-node";

/** The server stored the message (again, when `duplicate`). */
export type StoredAck = { kind: "stored"; duplicate: boolean };

export type AckResult =
  | StoredAck
  | { kind: "no-stream" }
  | { kind: "error"; description: string; code?: number; errCode?: number };

const STORED = { kind: "stored", duplicate: false } as const;
const DUPLICATE = { kind: "stored", duplicate: true } as const;
const NO_STREAM = { kind: "no-stream" } as const;
const OPEN_BRACE = 0x7b;
const QUOTE = 0x22;
const LOWER_S = 0x73;
// nats-server 2.9 writes `{"stream":"T", "seq":1,"duplicate": true}`; `duplicate` is the last
// field and the only one that can be `true`, so the ending tells.
const TRUE_TAIL = Buffer.from("true}", "latin1");

function endsWithTrue(data: Uint8Array, from: number, to: number): boolean {
  const n = TRUE_TAIL.length;
  if (to - from < n) return false;
  for (let i = 0; i < n; i++) if (data[to - n + i] !== TRUE_TAIL[i]) return false;
  return true;
}

/**
 * The common PubAck read from `data[from, to)` (a reply in the connection's read buffer):
 * stored, or stored as a duplicate; undefined for anything else (an error, a status), which
 * readPubAck() then reads whole.
 */
export function storedAckIn(data: Uint8Array, from: number, to: number): StoredAck | undefined {
  // The server writes the error field first, then stream, seq, domain, duplicate (in that order).
  if (to - from < 3 || data[from] !== OPEN_BRACE || data[from + 1] !== QUOTE || data[from + 2] !== LOWER_S) return undefined;
  return endsWithTrue(data, from, to) ? DUPLICATE : STORED;
}

export function readPubAck(msg: Msg): AckResult {
  const data = msg.data;
  if (data.length === 0) {
    const h = msg.headers;
    if (h?.code === 503) return NO_STREAM;
    return { kind: "error", description: h ? `status ${h.status}` : "an empty reply", code: h?.code };
  }
  const stored = storedAckIn(data, 0, data.length);
  if (stored) return stored;
  try {
    const body = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString("utf8")) as {
      error?: { code?: number; err_code?: number; description?: string };
      stream?: string;
      duplicate?: boolean;
    };
    if (body.error) {
      return {
        kind: "error",
        description: body.error.description ?? JSON.stringify(body.error),
        code: body.error.code,
        errCode: body.error.err_code,
      };
    }
    if (body.stream !== undefined) return body.duplicate ? DUPLICATE : STORED;
  } catch {
    // fall through
  }
  return { kind: "error", description: `an unexpected reply: ${Buffer.from(data).toString("utf8", 0, 200)}` };
}
