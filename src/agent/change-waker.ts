// Waits for "something may have changed" at one path: fs.watch on its directory is only a hint
// (it misses events on some file systems and across renames), so a short poll is the truth.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";

export class ChangeWaker {
  private watcher?: FSWatcher;
  private wake?: () => void;
  private hinted = false;

  constructor(
    private readonly path: string,
    private readonly pollIntervalMs: number,
  ) {}

  /** Starts watching the directory; silently falls back to polling alone when that fails. */
  private ensureWatching(): void {
    if (this.watcher) return;
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name || String(file) === name) this.poke();
      });
      this.watcher.on("error", () => this.stopWatching());
    } catch {
      // directory missing or watch unsupported: the poll still finds every change
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Wakes a pending wait now (a watch event, or a stop request). */
  poke(): void {
    this.hinted = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves after the poll interval (or `ms`), or earlier on a hint: true when a hint woke it. */
  wait(ms = this.pollIntervalMs): Promise<boolean> {
    this.ensureWatching();
    if (this.hinted) {
      this.hinted = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.hinted = false;
        resolve(true);
      };
    });
  }

  close(): void {
    this.stopWatching();
    this.poke();
  }
}
