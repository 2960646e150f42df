// Subjects of the wire protocol: `<prefix>.p<N>.<host>` (SPEC.md §1). The host usually holds dots,
// so everything after `<prefix>.p<N>.` is the host.

export interface LineAddress {
  partition: number;
  host: string;
}

/** A subject token may not be empty, nor hold white space or the wildcards. */
const BAD_TOKEN_CHARS = /[\s*>]/;

export function validatePrefix(prefix: string): string | undefined {
  if (prefix.length === 0) return "the subject prefix is empty";
  if (prefix.startsWith(".") || prefix.endsWith(".") || prefix.includes("..")) {
    return `the subject prefix "${prefix}" has an empty token (leading, trailing or double dot)`;
  }
  if (BAD_TOKEN_CHARS.test(prefix)) {
    return `the subject prefix "${prefix}" holds white space or a wildcard (* or >)`;
  }
  return undefined;
}

/** Why a host name cannot be put in a subject, or undefined when it can. */
export function validateHostForSubject(host: string): string | undefined {
  if (host.length === 0) return "the host name is empty";
  if (host.startsWith(".") || host.endsWith(".") || host.includes("..")) {
    return `the host name "${host}" has an empty subject token (leading, trailing or double dot)`;
  }
  if (BAD_TOKEN_CHARS.test(host)) {
    return `the host name "${host}" holds white space or a wildcard (* or >)`;
  }
  return undefined;
}

export function lineSubject(prefix: string, partition: number, host: string): string {
  return `${prefix}.p${partition}.${host}`;
}

/** The subject filter that captures one partition: `<prefix>.p<N>.>`. */
export function partitionFilter(prefix: string, partition: number): string {
  return `${prefix}.p${partition}.>`;
}

/** The subject filter that captures every partition: `<prefix>.>`. */
export function allPartitionsFilter(prefix: string): string {
  return `${prefix}.>`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Parses subjects of one prefix. The original cut the host out with an unanchored, unescaped
 * regular expression, so a prefix like `logs` also matched `xlogs.p1.h` and `.` matched anything;
 * this one is anchored and escaped.
 */
export class SubjectParser {
  private readonly pattern: RegExp;

  constructor(readonly prefix: string) {
    this.pattern = new RegExp(`^${escapeRegExp(prefix)}\\.p(0|[1-9][0-9]{0,8})\\.(.+)$`, "s");
  }

  parse(subject: string): LineAddress | undefined {
    const m = this.pattern.exec(subject);
    if (!m) return undefined;
    return { partition: Number(m[1]), host: m[2]! };
  }
}
