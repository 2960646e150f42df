// How many followers may hold lines read and not yet handed to the publisher. Without a limit,
// an agent following a thousand files has every follower read a chunk while the publisher's window
// is full, and holds a thousand chunks (tens of MB); with a few turns, the others wait for one
// before reading, and their files stay the buffer.
//
// A follower takes its turn just before a read and keeps it until its lines are all published
// (the agent gives it back) or the read gave no complete line (the follower gives it back).

export const DEFAULT_READ_TURNS = 4;

export class ReadTurns {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max = DEFAULT_READ_TURNS) {}

  /** A follower's turn, to take and give back (both idempotent). */
  turn(): ReadTurn {
    return new ReadTurn(this);
  }

  /** Resolves with a turn taken; undefined when one was free at once (no await needed). */
  enter(): Promise<void> | undefined {
    if (this.active < this.max) {
      this.active++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next(); // the turn passes on as it is
    else this.active--;
  }
}

export class ReadTurn {
  private held = false;
  private taking?: Promise<void>;
  /** Given back while still waiting for it: passed on as soon as it arrives. */
  private givenWhileWaiting = false;

  constructor(private readonly turns: ReadTurns) {}

  /** Takes the turn unless it is held; undefined when that needs no waiting. */
  take(): Promise<void> | undefined {
    if (this.held) return undefined;
    this.givenWhileWaiting = false;
    if (this.taking) return this.taking;
    const wait = this.turns.enter();
    if (!wait) {
      this.held = true;
      return undefined;
    }
    this.taking = wait.then(() => {
      this.taking = undefined;
      if (this.givenWhileWaiting) this.turns.leave();
      else this.held = true;
    });
    return this.taking;
  }

  /** Gives the turn back (or gives up waiting for it). */
  give(): void {
    if (this.taking) this.givenWhileWaiting = true;
    if (!this.held) return;
    this.held = false;
    this.turns.leave();
  }
}
