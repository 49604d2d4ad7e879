import { SanpathError } from "../errors/sanpath-error.js";

export type CallKind = "unary" | "server-stream";

export interface ActiveCall {
  readonly kind: CallKind;
  /** "/package.Service/Method". */
  readonly method: string;
  /** Ends the call: its handler sees the reason on its AbortSignal, the client gets the mapped status. */
  abort(reason: unknown): void;
}

/** Why open streams end when sanpathd stops; clients see UNAVAILABLE and may retry elsewhere. */
export function shuttingDownError(): SanpathError {
  return new SanpathError("unavailable", "sanpathd is shutting down; retry on another node or later");
}

/**
 * Every call in flight, so that shutdown can end open streams at once (phase 1) and abort the
 * remaining calls when the grace period is over (phase 2). Streams opened after phase 1 end at once.
 */
export class ActiveCalls {
  private readonly calls = new Set<ActiveCall>();
  private readonly idleWaiters = new Set<() => void>();
  private streamsClosedBy: unknown = undefined;
  private streamsClosed = false;

  /** Tracks a call; returns the function that forgets it when the call is over. */
  register(call: ActiveCall): () => void {
    this.calls.add(call);
    if (this.streamsClosed && call.kind === "server-stream")
      queueMicrotask(() => call.abort(this.streamsClosedBy));
    return () => {
      this.calls.delete(call);
      if (this.calls.size === 0) for (const wake of [...this.idleWaiters]) wake();
    };
  }

  /** Resolves when no call is registered any more (handlers have returned), or after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(idle);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.add(wake);
    });
  }

  count(kind?: CallKind): number {
    let count = 0;
    for (const call of this.calls) if (kind === undefined || call.kind === kind) count++;
    return count;
  }

  /** Phase 1 of shutdown: ends every server stream, now and from now on. */
  endStreams(reason: unknown = shuttingDownError()): void {
    this.streamsClosed = true;
    this.streamsClosedBy = reason;
    for (const call of [...this.calls]) if (call.kind === "server-stream") call.abort(reason);
  }

  /** Phase 2 of shutdown: aborts whatever is still running. */
  abortAll(reason: unknown = shuttingDownError()): void {
    for (const call of [...this.calls]) call.abort(reason);
  }
}
