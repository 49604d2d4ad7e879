/**
 * Ends one write: with nothing (or null) when it worked, with the error when it failed. Only its
 * first call counts.
 */
export type WriteDone = (error?: unknown) => void;

/** Writes one value, then calls done (at once or later). A throw counts as a failed write. */
export type WriteValue<T> = (value: T, done: WriteDone) => void;

/**
 * What a failed write does to the writer: "stop" writes nothing more, ever (a broken pipe);
 * "continue" goes on with the next value (a later write may work again).
 */
export type WriteFailurePolicy = "stop" | "continue";

/**
 * Writes values one at a time, the newest winning: while a write is in flight, later values
 * replace each other and only the newest is written after it. Never throws.
 */
export class NewestValueWriter<T> {
  private pending: { value: T } | undefined;
  private writing = false;
  private stopped = false;
  private closing: Promise<void> | undefined;
  private writeEnded: (() => void) | undefined;

  constructor(
    private readonly writeValue: WriteValue<T>,
    private readonly onFailure: WriteFailurePolicy,
  ) {}

  /** Written at once when no write is in flight, else after it (unless a newer value comes). */
  write(value: T): void {
    if (this.closing !== undefined) return;
    this.pending = { value };
    this.next();
  }

  /**
   * Takes no more values and drops the pending one; resolves once the write in flight (if any)
   * has ended, failed or not. Returns the same promise every time.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.pending = undefined;
      if (this.writing) this.writeEnded = resolve;
      else resolve();
    });
    return this.closing;
  }

  private next(): void {
    if (this.writing || this.stopped || this.closing !== undefined || this.pending === undefined) return;
    const { value } = this.pending;
    this.pending = undefined;
    this.writing = true;
    let ended = false;
    const done: WriteDone = (error) => {
      if (ended) return;
      ended = true;
      this.writing = false;
      if (error !== undefined && error !== null && this.onFailure === "stop") this.stopped = true;
      this.writeEnded?.();
      this.next();
    };
    try {
      this.writeValue(value, done);
    } catch (error) {
      done(error ?? new Error("write threw"));
    }
  }
}
