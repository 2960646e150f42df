// What `shipper dlq list` and `shipper dlq show` print: a table, the details of one entry, or
// JSON. Pure.
import Table from "cli-table3";
import { formatBytes } from "../streams/units.js";
import { originOf, type DeadLetterEntry } from "./entry.js";
import { DLQ_STREAM } from "./names.js";

function localTime(iso: string | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const PLAIN = { head: [] as string[], border: [] as string[], compact: true };

export function renderList(entries: readonly DeadLetterEntry[], total: number): string {
  if (total === 0) return `The dead-letter stream ${DLQ_STREAM} is empty.\n`;
  const table = new Table({
    head: ["DLQ #", "Dead-lettered", "Reason", "Origin", "Subject", "Deliveries", "Size"],
    colAligns: ["right", "left", "left", "left", "left", "right", "right"],
    style: PLAIN,
  });
  for (const e of entries) {
    table.push([
      e.seq,
      localTime(e.time),
      e.reason,
      originOf(e),
      e.subject ?? "-",
      e.deliveries ?? "-",
      e.lost !== undefined ? "LOST" : formatBytes(e.size),
    ]);
  }
  const lines = [table.toString()];
  const lost = entries.filter((e) => e.lost !== undefined).length;
  lines.push(
    `${entries.length} of ${total} dead letter${total === 1 ? "" : "s"} shown` +
      (lost > 0 ? `; ${lost} LOST: the original was gone before it could be copied (\`shipper dlq show <#>\`)` : "") +
      ".",
  );
  return lines.join("\n") + "\n";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The line as text when it is UTF-8, else undefined. */
function lineText(data: Uint8Array): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

export function renderEntry(e: DeadLetterEntry): string {
  const lines = [`Dead letter #${e.seq} in ${DLQ_STREAM}, stored ${localTime(e.time)} on ${e.dlqSubject}`];
  const field = (name: string, value: string | number | undefined) => {
    if (value !== undefined) lines.push(`  ${`${name}:`.padEnd(15)}${value}`);
  };
  field("reason", e.reason);
  field("origin", originOf(e));
  field("subject", e.subject);
  field("consumer", e.consumer);
  field("deliveries", e.deliveries);
  field("original time", e.originalTime ? localTime(e.originalTime) : undefined);
  field("given up at", e.advisoryTime ? localTime(e.advisoryTime) : undefined);
  field("message id", e.originalMsgId);
  field("part", e.part);
  field("batch", e.batch !== undefined ? `${e.batch} lines in one message` : undefined);
  field("LOST", e.lost);
  lines.push("Headers:");
  for (const [k, v] of e.headers) lines.push(`  ${k}: ${v}`);
  if (e.lost !== undefined) {
    lines.push("Line: none (the original was gone before it could be copied).");
  } else {
    const text = lineText(e.data);
    if (text !== undefined) lines.push(`Line (${e.size} bytes):`, text);
    else lines.push(`Line (${e.size} bytes, not UTF-8, as base64):`, Buffer.from(e.data).toString("base64"));
  }
  return lines.join("\n") + "\n";
}

/** An entry as JSON: every field; the line as text when it is UTF-8, always as base64. */
export function entryJson(e: DeadLetterEntry, withLine: boolean): Record<string, unknown> {
  const { data: _data, headers, ...fields } = e;
  const out: Record<string, unknown> = { ...fields, headers: Object.fromEntries(groupHeaders(headers)) };
  if (withLine) {
    out.line = e.lost !== undefined ? null : (lineText(e.data) ?? null);
    out.line_base64 = Buffer.from(e.data).toString("base64");
  }
  return out;
}

function groupHeaders(headers: Array<[string, string]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of headers) {
    const had = out.get(k);
    out.set(k, had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v]);
  }
  return out;
}
