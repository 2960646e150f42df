// Prints the figures as a table (cli-table3) with each throughput's ratio to the async-acked
// ceiling, and writes everything as JSON.
import Table from "cli-table3";
import { writeFileSync } from "node:fs";
import type { Figure } from "./results.js";
import { machineLine, type Machine } from "./machine.js";
import { CEILING_KEY, ONE_HOST_CEILING_KEY, ONE_HOST_CPU_KEY } from "./ceiling.js";
import { CONSUME_CEILING_KEY } from "./consume-ceiling.js";
import { PIPELINE_CEILING_KEY } from "./pipeline-ceiling.js";
import type { BenchConfig } from "./options.js";

export interface BenchReport {
  version: 1;
  startedAt: string;
  seconds: number;
  machine: Machine;
  config: Omit<BenchConfig, "only"> & { only: string[] };
  /** The ceilings other figures are compared with, lines/s (median of runs). */
  ceiling: { linesPerSecond?: number; oneHostLinesPerSecond?: number; pipelineLinesPerSecond?: number };
  figures: Figure[];
}

function formatValue(f: Figure): string {
  if (f.value === undefined || Number.isNaN(f.value)) return "-";
  if (f.unit === "lines/s") return Math.round(f.value).toLocaleString("en-US");
  if (f.unit === "ms" || f.unit === "MB") return f.value.toFixed(1);
  if (f.unit === "us/line") return f.value.toFixed(2);
  return Math.round(f.value).toLocaleString("en-US");
}

export function ceilingValues(figures: Figure[]): BenchReport["ceiling"] {
  return {
    linesPerSecond: figures.find((f) => f.key === CEILING_KEY)?.value,
    oneHostLinesPerSecond: figures.find((f) => f.key === ONE_HOST_CEILING_KEY)?.value,
    pipelineLinesPerSecond: figures.find((f) => f.key === PIPELINE_CEILING_KEY)?.value,
  };
}

/** Short names of the ceilings that other figures are compared with. */
const CEILING_REFS: Record<string, string> = { [CEILING_KEY]: "C", [ONE_HOST_CEILING_KEY]: "C1", [ONE_HOST_CPU_KEY]: "C1cpu", [CONSUME_CEILING_KEY]: "Cc", [PIPELINE_CEILING_KEY]: "Ce" };

function ratioCell(f: Figure, figures: Figure[]): string {
  if (!f.ceiling || f.value === undefined || Number.isNaN(f.value)) return "";
  const ceiling = figures.find((c) => c.key === f.ceiling)?.value;
  return ceiling ? `${(f.value / ceiling).toFixed(2)} ${CEILING_REFS[f.ceiling] ?? f.ceiling}` : "";
}

function detailCell(f: Figure): string {
  if (f.skipped) return `skipped: ${f.skipped}`;
  const runs = f.runs && f.runs.length > 1 ? `runs ${f.runs.map((r) => (f.unit === "lines/s" ? Math.round(r) : r.toFixed(f.unit === "us/line" ? 2 : 1))).join(", ")}` : "";
  return [runs, ...(f.notes ?? [])].filter(Boolean).join("; ");
}

const LEGEND =
  "x ceiling: the figure divided by ceiling C (many hosts, every partition), C1 (one host: what one agent publishes), Cc (plain pull consume of the same stored lines, AckAll, nothing written: the collector's ceiling) or Ce (a plain publisher with ids and a plain pull consumer together on one host's partition, no files: the end-to-end ceiling); throughput is the median of the runs. " +
  "C1cpu: CPU per line (server + publisher) of C1; an agent CPU figure of 1.25 C1cpu means a saturated machine gives the agent 1/1.25 = 0.80 of C1's rate";

/** The same table in Markdown, for the README. */
export function renderMarkdown(figures: Figure[], machine: Machine, when: string): string {
  const cell = (text: string) => text.replace(/\|/g, "\\|");
  const rows = figures.map((f) => {
    const ref = CEILING_REFS[f.key];
    return `| ${f.group} | ${cell(ref ? `[${ref}] ${f.label}` : f.label)} | ${f.skipped ? "-" : formatValue(f)} | ${f.unit} | ${ratioCell(f, figures)} | ${cell(f.target ?? "")} | ${cell(detailCell(f))} |`;
  });
  return [
    `Machine: ${machineLine(machine)}; ${when}.`,
    "",
    "| measurement | figure | value | unit | x ceiling | target | runs / notes |",
    "|---|---|---:|---|---:|---|---|",
    ...rows,
    "",
    LEGEND,
    "",
  ].join("\n");
}

export function renderTable(figures: Figure[], machine: Machine): string {
  const table = new Table({
    head: ["measurement", "figure", "value", "unit", "x ceiling", "target", "runs / notes"],
    colWidths: [13, 48, 11, 9, 10, 16, 52],
    wordWrap: true,
    style: { head: [], border: [] },
  });
  for (const f of figures) {
    const detail = detailCell(f);
    const ref = CEILING_REFS[f.key];
    table.push([f.group, ref ? `[${ref}] ${f.label}` : f.label, f.skipped ? "-" : formatValue(f), f.unit, ratioCell(f, figures), f.target ?? "", detail]);
  }
  return `machine: ${machineLine(machine)}\n${table.toString()}\n${LEGEND}`;
}

export function writeJson(path: string, report: BenchReport): void {
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n");
}
