// Messages handed over by a subscription callback, taken out in batches: one wait for the first
// message, then everything that has arrived meanwhile, up to a bound. Under load a batch is as big
// as what arrived while the previous one was written; when idle it is a single message, so
// latency stays low. (nats.js iterators cannot say reliably how much they hold, so readers use
// callbacks and this queue.)
//
// With a linger, a small batch taken soon after the previous one (lines keep coming) waits a few
// milliseconds for more: every batch costs a write and an fsync per host and a state save, so at
// 100k lines/s batches of ~250 lines spent a fifth of the collector's CPU on them.

/** How a queue waits for a fuller batch: up to `ms`, until `lines` are queued. */
export interface Linger {
  ms: number;
  lines: number;
}

/** Where a queue keeps what arrived: an array of items, or arrived-lines.ts's compact chunks. */
export interface QueueStore<In, Out> {
  readonly size: number;
  add(item: In): void;
  /** The oldest items, at most `max`. */
  take(max: number): Out[];
  clear(): void;
}

class ArrayStore<T> implements QueueStore<T, T> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
  }

  take(max: number): T[] {
    if (this.items.length <= max) {
      const all = this.items;
      this.items = [];
      return all;
    }
    const some = this.items.slice(0, max);
    this.items = this.items.slice(max);
    return some;
  }

  clear(): void {
    this.items = [];
  }
}

/** Items of type `In` go in (push), batches of `T` come out; the same type unless a store says otherwise. */
export class MessageQueue<T, In = T> {
  private readonly store: QueueStore<In, T>;
  private ended = false;
  private error?: Error;
  private wake?: () => void;
  /** The queue size that wakes the waiting batches() (more while it lingers). */
  private wakeAt = 1;

  constructor(store?: QueueStore<In, T>) {
    this.store = store ?? (new ArrayStore<T>() as unknown as QueueStore<In, T>);
  }

  /** Called from the subscription callback. */
  push(item: In): void {
    if (this.ended) return;
    this.store.add(item);
    if (this.store.size >= this.wakeAt) this.wakeUp();
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
    this.store.clear();
  }

  get size(): number {
    return this.store.size;
  }

  /**
   * Takes everything queued (at most `max`), waiting for the first message; with `linger`, a batch
   * smaller than `linger.lines` taken within `4 * linger.ms` of the last waits up to `linger.ms`
   * for more (an idle queue hands out its first message at once).
   */
  async *batches(max: number, linger?: Linger): AsyncGenerator<T[]> {
    let lastTaken = 0;
    while (true) {
      while (this.store.size === 0) {
        if (this.ended) {
          if (this.error) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
      const enough = linger ? Math.min(max, linger.lines) : 0;
      if (linger && linger.ms > 0 && !this.ended && this.store.size < enough && Date.now() - lastTaken < 4 * linger.ms) {
        await this.lingerFor(linger.ms, enough);
        if (this.store.size === 0) continue; // cleared meanwhile
      }
      lastTaken = Date.now();
      yield this.store.take(max);
    }
  }

  private async lingerFor(ms: number, lines: number): Promise<void> {
    this.wakeAt = lines;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(() => this.wakeUp(), ms);
      });
    } finally {
      clearTimeout(timer);
      this.wakeAt = 1;
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
