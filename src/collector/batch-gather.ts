// Turns a message iterator into batches: take one message (waiting if need be), then everything
// the client has already buffered, up to a bound. Under load a batch is as big as what arrived
// while the previous one was written; when idle it is a single message, so latency stays low.

/** The part of a nats.js QueuedIterator (subscription, consume()) that batching needs. */
export interface BufferedIterator<T> extends AsyncIterable<T> {
  /** Messages received and not yet taken from the iterator. */
  getPending(): number;
}

export async function* gatherBatches<T>(source: BufferedIterator<T>, maxBatch: number): AsyncGenerator<T[]> {
  const it = source[Symbol.asyncIterator]();
  try {
    while (true) {
      const first = await it.next();
      if (first.done) return;
      const batch: T[] = [first.value];
      while (batch.length < maxBatch && source.getPending() > 0) {
        const next = await it.next();
        if (next.done) {
          yield batch;
          return;
        }
        batch.push(next.value);
      }
      yield batch;
    }
  } finally {
    await it.return?.();
  }
}
