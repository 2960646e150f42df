// Reads sequences a consumer skipped straight from the stream. After a SIGKILL, nats-server 2.9
// can restart with a consumer whose delivered pointer is past lines it never delivered (its state
// was flushed later than the stream's); those are never sent, and an AckAll of a later line
// acknowledges them silently. The collector knows the last sequence it wrote (partition-state.ts),
// so a delivered sequence beyond it + 1 shows the hole, and this fills it with `STREAM.MSG.GET`,
// which every 2.9 server answers (direct get needs allow_direct, which shipper does not set).
// With a filtered consumer (one stream for every partition) the hole also holds other partitions'
// lines: `next_by_subj` jumps to the next line of this partition, one request per line.
import type { NatsConnection } from "@nats-io/transport-node";
import { MSG_ID_HEADER } from "../protocol/headers.js";
import { PART_HEADER } from "../protocol/line-parts.js";
import { BATCH_HEADER } from "../protocol/batch.js";
import type { ReadMessage } from "./partition-reader.js";

export interface GapFill {
  /** Lines of this consumer found in the hole, in stream order. */
  messages: ReadMessage[];
  /** Ranges no longer in the stream (removed by its limits or max-age): lost, for the log and counters. */
  lost: { from: number; to: number; count?: number }[];
}

export interface StreamSource {
  /** Creation time of the stream: another value means it was made again, so old sequences mean nothing. */
  created(): Promise<string>;
  /** This consumer's lines with sequence in [from, before). */
  missing(from: number, before: number): Promise<GapFill>;
}

interface RawMessage {
  subject: string;
  seq: number;
  hdrs?: string;
  data?: string;
}

/** NATS subject matching with `*` and `>`. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== "*" && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** Header values from the NATS/1.0 block of a stored message. */
function headerValues(hdrs: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!hdrs) return out;
  const lines = Buffer.from(hdrs, "base64").toString("utf8").split("\r\n").slice(1);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) out.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}

export class JetStreamSource implements StreamSource {
  /** The creation time the reader just read, answered once without asking again. */
  private justRead?: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    /** The consumer's filter subject; empty when it reads the whole stream. */
    private readonly filter: string,
    private readonly jsPrefix = "$JS.API",
  ) {}

  async created(): Promise<string> {
    const known = this.justRead;
    this.justRead = undefined;
    if (known !== undefined) return known;
    const info = await this.api<{ created: string }>(`STREAM.INFO.${this.stream}`, {});
    return info.created;
  }

  /**
   * The reader read the creation time right before pulling: the check of the first batch uses it
   * instead of asking while the backlog pours in (a stream info request then took 100-200 ms).
   */
  readCreated(created: string): void {
    this.justRead = created;
  }

  async missing(from: number, before: number): Promise<GapFill> {
    const fill: GapFill = { messages: [], lost: [] };
    const info = await this.api<{ state: { first_seq: number } }>(`STREAM.INFO.${this.stream}`, {});
    const first = info.state.first_seq;
    if (from < first) {
      const to = Math.min(before, first) - 1;
      fill.lost.push({ from, to, ...(this.filter ? {} : { count: to - from + 1 }) });
      from = to + 1;
    }
    for (let seq = from; seq < before; ) {
      const request = this.filter ? { seq, next_by_subj: this.filter } : { seq };
      const reply = await this.get(request);
      if (reply === "missing") {
        if (this.filter) break; // nothing more of this partition
        fill.lost.push({ from: seq, to: seq, count: 1 }); // deleted from the stream
        seq++;
        continue;
      }
      if (reply.seq >= before) break;
      seq = reply.seq + 1;
      if (this.filter && !subjectMatches(this.filter, reply.subject)) continue;
      const headers = headerValues(reply.hdrs);
      const msgId = headers.get(MSG_ID_HEADER.toLowerCase());
      const part = headers.get(PART_HEADER.toLowerCase());
      const batch = headers.get(BATCH_HEADER.toLowerCase());
      fill.messages.push({
        subject: reply.subject,
        data: reply.data ? Buffer.from(reply.data, "base64") : new Uint8Array(0),
        stream: this.stream,
        sequence: reply.seq,
        deliveries: 0,
        ...(msgId ? { msgId } : {}),
        ...(part ? { part } : {}),
        ...(batch ? { batch } : {}),
      });
    }
    return fill;
  }

  private async get(request: object): Promise<RawMessage | "missing"> {
    try {
      return (await this.api<{ message: RawMessage }>(`STREAM.MSG.GET.${this.stream}`, request)).message;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return "missing";
      throw err;
    }
  }

  private async api<T>(what: string, body: object): Promise<T> {
    const msg = await this.nc.request(`${this.jsPrefix}.${what}`, JSON.stringify(body), { timeout: 5_000 });
    const reply = JSON.parse(Buffer.from(msg.data).toString("utf8")) as T & { error?: { code: number; description: string } };
    if (reply.error) {
      throw Object.assign(new Error(`${what}: ${reply.error.description}`), { code: reply.error.code });
    }
    return reply;
  }
}
