import type { LeaseMembers } from "./peer-lease-keeper.js";
import type { PeerLease } from "./peer-lease-port.js";

/**
 * Calls `onExpiry` each time another member's lease is newly proven over by `lease` (for placement
 * to act at once, with proofs of its own): looked at each time `wake` says new proof material came
 * (a peer's silence report), and every lease heartbeat besides, until `signal` aborts.
 */
export function watchLeaseExpiries(
  lease: Pick<PeerLease, "expiryProven" | "timing">,
  members: () => LeaseMembers,
  signal: AbortSignal,
  onExpiry: (nodes: readonly string[]) => void,
  wake?: (listener: () => void) => () => void,
): void {
  if (signal.aborted) return;
  let known = new Set<string>();
  const check = (): void => {
    if (signal.aborted) return;
    const proven = new Set(
      members()
        .peers.map((peer) => peer.name)
        .filter((name) => lease.expiryProven(name, 0)),
    );
    const fresh = [...proven].filter((name) => !known.has(name));
    known = proven;
    if (fresh.length > 0) onExpiry(fresh);
  };
  const timer = setInterval(check, lease.timing.heartbeatMs);
  timer.unref();
  const unsubscribe = wake?.(check);
  signal.addEventListener(
    "abort",
    () => {
      clearInterval(timer);
      unsubscribe?.();
    },
    { once: true },
  );
  check();
}
