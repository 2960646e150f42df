// NATS subject matching with wildcards, as the server applies it to stream subjects: needed to
// tell which existing streams capture a prefix, and which would collide with a stream we add
// (the server refuses overlapping stream subjects).

function tokens(subject: string): string[] {
  return subject.split(".");
}

/** True when some concrete subject matches both filters (`*` one token, `>` one or more at the end). */
export function subjectsCollide(a: string, b: string): boolean {
  const ta = tokens(a);
  const tb = tokens(b);
  for (let i = 0; ; i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === undefined || y === undefined) return x === y;
    if (x === ">" || y === ">") return true;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
}

/** True when every subject `subject` can match is also matched by `filter`. */
export function filterCovers(filter: string, subject: string): boolean {
  const tf = tokens(filter);
  const ts = tokens(subject);
  for (let i = 0; ; i++) {
    const f = tf[i];
    const s = ts[i];
    if (f === undefined || s === undefined) return f === s;
    if (f === ">") return true;
    if (s === ">") return false;
    if (f === "*") continue;
    if (s === "*" || f !== s) return false;
  }
}
