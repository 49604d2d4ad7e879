/**
 * Many shared sections at once, or one exclusive section alone. A waiting exclusive section goes
 * before shared sections asked for after it (a re-read of the whole state is never starved by a
 * steady stream of per-target work). Not re-entrant: a shared section must not ask for an
 * exclusive one (it would wait for itself).
 */
export class SharedExclusiveLock {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiting: { exclusive: boolean; wake: () => void }[] = [];

  async shared<T>(section: () => Promise<T>): Promise<T> {
    if (this.exclusiveHeld || this.waiting.length > 0) {
      await new Promise<void>((wake) => this.waiting.push({ exclusive: false, wake }));
    } else {
      this.sharedHolders += 1;
    }
    try {
      return await section();
    } finally {
      this.sharedHolders -= 1;
      this.wakeNext();
    }
  }

  async exclusive<T>(section: () => Promise<T>): Promise<T> {
    if (this.exclusiveHeld || this.sharedHolders > 0 || this.waiting.length > 0) {
      await new Promise<void>((wake) => this.waiting.push({ exclusive: true, wake }));
    } else {
      this.exclusiveHeld = true;
    }
    try {
      return await section();
    } finally {
      this.exclusiveHeld = false;
      this.wakeNext();
    }
  }

  /** Hands the lock to the next waiters: one exclusive, or every shared one up to the next exclusive. */
  private wakeNext(): void {
    if (this.exclusiveHeld || this.sharedHolders > 0) return;
    const first = this.waiting[0];
    if (first === undefined) return;
    if (first.exclusive) {
      this.waiting.shift();
      this.exclusiveHeld = true;
      first.wake();
      return;
    }
    while (this.waiting[0] !== undefined && !this.waiting[0].exclusive) {
      const next = this.waiting.shift();
      this.sharedHolders += 1;
      next?.wake();
    }
  }
}
