// The durability stage of one partition: batches already written to the host files wait here to
// be made durable (fsync, state save) and acknowledged, while the next batches are written. One
// step runs at a time and takes every batch waiting, in order (group commit: one fsync per file
// and one state save for all of them), so acknowledgements go out in delivery order and a batch
// is never acknowledged before the ones written before it. A step that fails (it was stopped
// while retrying) ends the queue: nothing after it is acknowledged.

export interface DurabilityQueueOptions<T> {
  /** Makes a group of written batches durable and acknowledges them in order; false when stopped first. */
  step: (group: T[], signal: AbortSignal) => Promise<boolean>;
  /**
   * How much written work (in `weight` units: lines) may wait while a step runs before add()
   * holds the writer back; bounds the memory of batches written and not yet acknowledged. 1: the
   * next batch is written while the one before is made durable, then waits for it.
   */
  maxWaiting: number;
  weight: (item: T) => number;
}

export class DurabilityQueue<T> {
  private waiting: T[] = [];
  private waitingWeight = 0;
  private running?: Promise<void>;
  private ended = false;
  private error?: unknown;
  private signal?: AbortSignal;
  /** Woken after every step. */
  private wakers: (() => void)[] = [];

  constructor(private readonly opts: DurabilityQueueOptions<T>) {}

  /**
   * Queues a written batch to be made durable; resolves once the writer may go on (less than
   * `maxWaiting` waits): true, or false when the queue ended (stopped mid-retry).
   */
  async add(item: T, signal: AbortSignal): Promise<boolean> {
    if (this.ended) return this.outcome();
    this.signal = signal;
    this.waiting.push(item);
    this.waitingWeight += this.opts.weight(item);
    this.kick();
    while (!this.ended && this.waiting.length > 0 && this.waitingWeight >= this.opts.maxWaiting) await this.nextStep();
    return this.ended ? this.outcome() : true;
  }

  /** Waits until everything queued is durable and acknowledged: true, or false when the queue ended first. */
  async settle(): Promise<boolean> {
    while (!this.ended && (this.running || this.waiting.length > 0)) await this.nextStep();
    return this.ended ? this.outcome() : true;
  }

  private kick(): void {
    if (this.running || this.ended || this.waiting.length === 0) return;
    const group = this.waiting;
    this.waiting = [];
    this.waitingWeight = 0;
    this.running = this.opts.step(group, this.signal!).then(
      (ok) => {
        if (!ok) this.ended = true;
      },
      (err: unknown) => {
        this.ended = true;
        this.error = err;
      },
    ).finally(() => {
      this.running = undefined;
      this.kick();
      const wakers = this.wakers;
      this.wakers = [];
      for (const wake of wakers) wake();
    });
  }

  private nextStep(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  private outcome(): boolean {
    if (this.error !== undefined) throw this.error;
    return false;
  }
}
