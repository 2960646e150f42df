// Messages handed over by a subscription callback, taken out in batches: one wait for the first
// message, then everything that has arrived meanwhile, up to a bound. Under load a batch is as big
// as what arrived while the previous one was written; when idle it is a single message, so
// latency stays low. (nats.js iterators cannot say reliably how much they hold, so readers use
// callbacks and this queue.)

export class MessageQueue<T> {
  private items: T[] = [];
  private ended = false;
  private error?: Error;
  private wake?: () => void;

  /** Called from the subscription callback. */
  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wakeUp();
  }

  /** No more messages: batches() ends once the queue is empty, or throws `error` then. */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.wakeUp();
  }

  /** Drops everything queued (messages after a delivery gap, which the server sends again). */
  clear(): void {
    this.items = [];
  }

  get size(): number {
    return this.items.length;
  }

  /** Takes everything queued (at most `max`), waiting for the first message. */
  async *batches(max: number): AsyncGenerator<T[]> {
    while (true) {
      while (this.items.length === 0) {
        if (this.ended) {
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
      let batch: T[];
      if (this.items.length <= max) {
        batch = this.items;
        this.items = [];
      } else {
        batch = this.items.slice(0, max);
        this.items = this.items.slice(max);
      }
      yield batch;
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
