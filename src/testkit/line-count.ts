// Counts every line of a host's output against its source: missing, duplicated, out of order.
// Lines are compared as whole lines, so the source must hold distinct lines (tests number them).

export interface LineAudit {
  expected: number;
  received: number;
  missing: number;
  duplicated: number;
  outOfOrder: number;
}

export function auditLines(source: string, output: string): LineAudit {
  const want = source.split("\n");
  if (want[want.length - 1] === "") want.pop();
  const got = output.split("\n");
  if (got[got.length - 1] === "") got.pop();
  const position = new Map<string, number>();
  want.forEach((line, i) => position.set(line, i));
  const seen = new Set<string>();
  let duplicated = 0;
  let outOfOrder = 0;
  let last = -1;
  for (const line of got) {
    if (seen.has(line)) {
      duplicated++;
      continue;
    }
    seen.add(line);
    const at = position.get(line);
    if (at === undefined) continue;
    if (at < last) outOfOrder++;
    last = Math.max(last, at);
  }
  const missing = want.filter((line) => !seen.has(line)).length;
  return { expected: want.length, received: got.length, missing, duplicated, outOfOrder };
}
