import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BENCH_MAIN = fileURLToPath(new URL("../bench/main.js", import.meta.url));

interface Figure {
  key: string;
  unit: string;
  ceiling?: string;
  value?: number;
  skipped?: string;
  notes?: string[];
}

test("bench - the tiny size runs every measurement and writes the figures as JSON, with the ceiling measured", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shipper-bench-test-"));
  try {
    const json = join(dir, "results.json");
    const child = spawn(process.execPath, [BENCH_MAIN, "--size", "tiny", "--stall-seconds", "5", "--json", json], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    // A safety net so a broken benchmark never hangs the suite; not a timing assertion.
    // SIGTERM lets the benchmark stop its programs and its server; SIGKILL only if that hangs.
    const stopper = setTimeout(() => child.kill("SIGTERM"), 170_000);
    const killer = setTimeout(() => child.kill("SIGKILL"), 185_000);
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    clearTimeout(stopper);
    clearTimeout(killer);
    assert.equal(code, 0, output);

    const report = JSON.parse(readFileSync(json, "utf8")) as { machine: { cores: number; natsServer: string }; figures: Figure[]; ceiling: { linesPerSecond?: number; pipelineLinesPerSecond?: number } };
    assert.ok(report.machine.cores > 0);
    assert.match(report.machine.natsServer, /\d+\.\d+\.\d+/);
    for (const key of ["ceiling.core_publish", "ceiling.async_acked", "ceiling.async_acked_msgid", "ceiling.async_acked_one_host", "ceiling.js_publish_windows"]) {
      const figure = report.figures.find((f) => f.key === key);
      assert.ok(figure, `${key} is in the JSON`);
      assert.equal(figure.unit, "lines/s");
      assert.equal(figure.skipped, undefined, `${key} was measured`);
      assert.ok(typeof figure.value === "number" && figure.value > 0, `${key} has a positive value`);
    }
    assert.equal(report.ceiling.linesPerSecond, report.figures.find((f) => f.key === "ceiling.async_acked")!.value);
    // Every other measurement appears, measured or with the reason it was not.
    for (const group of ["agent.", "collector.", "end_to_end.", "latency.", "memory.", "scale."]) {
      const figures = report.figures.filter((f) => f.key.startsWith(group));
      assert.ok(figures.length > 0, `${group} figures are reported`);
      for (const f of figures) assert.ok(f.value !== undefined || (f.skipped ?? "").length > 0, `${f.key}: a value or a reason`);
    }
    // End to end is compared with a plain publisher and consumer run just before it, pair by pair.
    const pipeline = report.figures.find((f) => f.key === "ceiling.pipeline");
    assert.ok(pipeline && typeof pipeline.value === "number" && pipeline.value > 0, "the pipeline ceiling was measured");
    assert.equal(report.ceiling.pipelineLinesPerSecond, pipeline.value);
    const endToEnd = report.figures.find((f) => f.key === "end_to_end.throughput")!;
    assert.equal(endToEnd.ceiling, "ceiling.pipeline");
    assert.ok(endToEnd.notes?.some((n) => /of the ceiling run just before/.test(n)), "each run's ratio to its own ceiling run");
    // Batching is counted in lines (not stream messages), with its ratio to the one-host ceiling.
    for (const key of ["agent.batched_throughput", "end_to_end.batched_throughput"]) {
      const figure = report.figures.find((f) => f.key === key);
      assert.ok(figure, `${key} is in the JSON`);
      assert.equal(figure.unit, "lines/s");
      assert.equal(figure.skipped, undefined, `${key} was measured`);
      assert.ok(typeof figure.value === "number" && figure.value > 0, `${key} has a positive value`);
      assert.equal(figure.ceiling, "ceiling.async_acked_one_host");
    }
    assert.match(output, /agent with batching \(--batch-lines 1000\)/);
    assert.match(output, /x ceiling/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
