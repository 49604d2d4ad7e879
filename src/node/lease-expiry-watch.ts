import type { LeaseMembers } from "./peer-lease-keeper.js";

export interface LeaseExpiryWatchOptions {
  readonly members: () => LeaseMembers;
  /** Whether `node` provably held no lease at some instant at or after `notBefore` (0: any). */
  readonly expiryProven: (node: string, notBefore: number) => boolean;
  /** How often to look (the lease heartbeat). */
  readonly everyMs: number;
}

/**
 * Calls `onExpiry` each time another member's lease is newly proven over (for placement to act at
 * once, with proofs of its own), looking every `everyMs` until `signal` aborts.
 */
export function watchLeaseExpiries(
  options: LeaseExpiryWatchOptions,
  signal: AbortSignal,
  onExpiry: (nodes: readonly string[]) => void,
): void {
  let known = new Set<string>();
  const check = (): void => {
    if (signal.aborted) return;
    const proven = new Set(
      options
        .members()
        .peers.map((peer) => peer.name)
        .filter((name) => options.expiryProven(name, 0)),
    );
    const fresh = [...proven].filter((name) => !known.has(name));
    known = proven;
    if (fresh.length > 0) onExpiry(fresh);
    setTimeout(check, options.everyMs).unref();
  };
  check();
}
