import { consulUnavailable } from "../consul/consul-client.js";

/**
 * The operation names the in-memory fakes check faults for: the same names the Consul adapters put
 * in their error messages ("consul kv.put: ...").
 */
export type ConsulOperation =
  | "kv.get"
  | "kv.list"
  | "kv.keys"
  | "kv.put"
  | "kv.delete"
  | "txn"
  | "kv.get (blocking)"
  | "kv.list (blocking)"
  | "lock.acquire"
  | "lock.release"
  | "session.create"
  | "session.renew"
  | "session.destroy"
  | "session.info"
  | "session.list";

export interface FailOptions {
  /** How many matching calls fail (default 1). */
  times?: number;
  /** The error to throw; default SanpathError "unavailable" / CONSUL_UNAVAILABLE, like the adapter. */
  error?: (operation: ConsulOperation) => Error;
}

interface FaultRule {
  matches: (operation: ConsulOperation) => boolean;
  remaining: number;
  error: (operation: ConsulOperation) => Error;
}

/**
 * Injected outages for the in-memory Consul: the whole store unreachable, or the next N calls of
 * some operations failing. A failed call changes nothing (it never "reached" the store).
 */
export class ConsulFaults {
  private down = false;
  private rules: FaultRule[] = [];
  private readonly listeners = new Set<() => void>();

  /** Every call fails with "unavailable" until set back to false; blocking queries in flight fail too. */
  setUnreachable(unreachable: boolean): void {
    this.down = unreachable;
    if (unreachable) for (const listener of [...this.listeners]) listener();
  }

  get unreachable(): boolean {
    return this.down;
  }

  /** The next `times` calls of `operation` (a name, a list of names, or a test) fail. */
  failNext(
    operation: ConsulOperation | readonly ConsulOperation[] | ((operation: ConsulOperation) => boolean),
    options: FailOptions = {},
  ): void {
    const matches =
      typeof operation === "function"
        ? operation
        : typeof operation === "string"
          ? (candidate: ConsulOperation) => candidate === operation
          : (candidate: ConsulOperation) => operation.includes(candidate);
    this.rules.push({
      matches,
      remaining: options.times ?? 1,
      error: options.error ?? ((name) => injectedUnavailable(name)),
    });
  }

  /** Forgets every rule and makes the store reachable again. */
  clear(): void {
    this.rules = [];
    this.down = false;
  }

  /** Throws the injected failure for `operation`, if any (called by the fakes before each call). */
  check(operation: ConsulOperation): void {
    if (this.down) throw consulUnavailable(operation, "unreachable: injected outage");
    const rule = this.rules.find((candidate) => candidate.remaining > 0 && candidate.matches(operation));
    if (rule === undefined) return;
    rule.remaining -= 1;
    this.rules = this.rules.filter((candidate) => candidate.remaining > 0);
    throw rule.error(operation);
  }

  /** Called when the store becomes unreachable (blocking queries in flight fail). */
  onOutage(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function injectedUnavailable(operation: string): Error {
  return consulUnavailable(operation, "unreachable: injected failure");
}
