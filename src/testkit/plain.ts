// Saved state as plain data, for comparing with object literals: the collector keeps hosts and
// origins in records without a prototype (partition-state.ts dictionary()), which strict deep
// equality tells apart from `{}`.

export function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
