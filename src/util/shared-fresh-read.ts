/**
 * A read shared by the callers who may share it: each call is answered by a read that started after
 * the call was made (so it sees everything done before the call), and every call made while a read
 * is under way joins the next one. Reads never overlap, so a burst of N calls costs two reads, not N.
 */
export class SharedFreshRead<T> {
  /** The read under way, if any. */
  private reading: Promise<T> | undefined;
  /** The read after it, which every call made meanwhile joins. */
  private next: Promise<T> | undefined;

  constructor(private readonly read: () => Promise<T>) {}

  /** The result of a read that starts after this call. */
  get(): Promise<T> {
    if (this.next !== undefined) return this.next;
    const previous = (this.reading ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    );
    const read: Promise<T> = previous.then(async () => {
      this.next = undefined;
      this.reading = read;
      try {
        return await this.read();
      } finally {
        if (this.reading === read) this.reading = undefined;
      }
    });
    this.next = read;
    return read;
  }
}
