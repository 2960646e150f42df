// Which paths an agent follows: --file entries (repeatable, or comma-separated), each a path or a
// glob pattern (tinyglobby: `*`, `**`, `?`, `[...]`, `{a,b}`). A path is followed even before it
// exists; a pattern is expanded now and again on a timer, so files that appear later are picked up.
import { resolve } from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";

export interface FileSource {
  /** As given (after splitting a list). */
  readonly spec: string;
  /** Absolute. */
  readonly pattern: string;
  readonly isGlob: boolean;
}

/**
 * Splits `--file` values into entries: commas separate entries except inside `{...}` (brace
 * expansion), and `\,` is a literal comma.
 */
export function splitFileList(values: string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    let current = "";
    let depth = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value[i]!;
      if (c === "\\" && value[i + 1] === ",") {
        current += ",";
        i++;
      } else if (c === "," && depth === 0) {
        out.push(current);
        current = "";
      } else {
        if (c === "{") depth++;
        else if (c === "}" && depth > 0) depth--;
        current += c;
      }
    }
    out.push(current);
  }
  return out.map((s) => s.trim()).filter((s) => s !== "");
}

export function fileSources(specs: string[], cwd = process.cwd()): FileSource[] {
  const seen = new Set<string>();
  const sources: FileSource[] = [];
  for (const spec of specs) {
    const pattern = resolve(cwd, spec);
    if (seen.has(pattern)) continue;
    seen.add(pattern);
    sources.push({ spec, pattern, isGlob: isDynamicPattern(spec) });
  }
  return sources;
}

/** The paths the sources name now: every plain path, and every regular file a pattern matches. */
export async function expandSources(sources: FileSource[]): Promise<{ path: string; fromGlob: boolean }[]> {
  const out = new Map<string, boolean>();
  for (const s of sources) if (!s.isGlob) out.set(s.pattern, false);
  const globs = sources.filter((s) => s.isGlob).map((s) => s.pattern);
  if (globs.length > 0) {
    const matches = await glob(globs, { absolute: true, onlyFiles: true, dot: true, followSymbolicLinks: true, expandDirectories: false });
    for (const m of matches.sort()) if (!out.has(m)) out.set(m, true);
  }
  return [...out].map(([path, fromGlob]) => ({ path, fromGlob }));
}
