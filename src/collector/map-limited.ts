// Runs an async operation over items with at most `limit` running at once, results in item order.
// The batch writer uses it so one batch's hosts are written side by side (the file system's
// thread pool overlaps them) without opening thousands of files at the same instant.

export async function mapLimited<T, R>(items: readonly T[], limit: number, op: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await op(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
