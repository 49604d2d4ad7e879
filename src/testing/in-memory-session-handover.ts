import type { ClaimedHandover, SessionHandover } from "../kv/session-handover.js";

/**
 * SessionHandover in memory, on a clock the test moves (default Date.now): one record, claimed by
 * whoever asks first. `reboot()` stands for a machine restart (the record's time is up).
 */
export class InMemorySessionHandover implements SessionHandover {
  private record: { sessionId: string; deadlineMs: number; boot: number } | undefined;
  private boot = 0;

  constructor(private readonly now: () => number = () => Date.now()) {}

  leave(sessionId: string, validForMs: number): Promise<void> {
    this.record = { sessionId, deadlineMs: this.now() + validForMs, boot: this.boot };
    return Promise.resolve();
  }

  claim(): Promise<ClaimedHandover | undefined> {
    const claimed = this.view();
    this.record = undefined;
    return Promise.resolve(claimed);
  }

  peek(): Promise<ClaimedHandover | undefined> {
    return Promise.resolve(this.view());
  }

  reboot(): void {
    this.boot += 1;
  }

  private view(): ClaimedHandover | undefined {
    const record = this.record;
    if (record === undefined) return undefined;
    const remainingMs = record.boot === this.boot ? record.deadlineMs - this.now() : 0;
    return { sessionId: record.sessionId, remainingMs };
  }
}
