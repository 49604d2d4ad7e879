/**
 * One piece of work (a read, a write) shared by the callers who may share it: each call is answered
 * by a run that started after the call was made (a read sees everything done before the call, a
 * write holds every change made before it), and every call made while a run is under way joins
 * the next one. Runs never overlap, so a burst of N calls costs two runs, not N.
 */
export class CoalescedRun<T> {
  /** The run under way, if any. */
  private running: Promise<T> | undefined;
  /** The run after it, which every call made meanwhile joins. */
  private next: Promise<T> | undefined;

  constructor(private readonly work: () => Promise<T>) {}

  /** The outcome of a run that starts after this call. */
  request(): Promise<T> {
    if (this.next !== undefined) return this.next;
    const previous = (this.running ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    );
    const run: Promise<T> = previous.then(async () => {
      this.next = undefined;
      this.running = run;
      try {
        return await this.work();
      } finally {
        if (this.running === run) this.running = undefined;
      }
    });
    this.next = run;
    return run;
  }

  /** Resolves once the runs asked for so far (those not waited for, too) have ended, failed or not. */
  async settled(): Promise<void> {
    await (this.next ?? this.running)?.catch(() => undefined);
  }
}
