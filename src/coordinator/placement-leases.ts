import type { PathAssignment } from "../assignment/assignment-model.js";
import type { ConsulKeys } from "../consul/keys.js";
import type { KvStore } from "../kv/kv-store.js";
import { releaseLockIfUnchanged } from "../kv/locks.js";
import type { PeerLease } from "../node/peer-lease-port.js";
import type { CoordinatorOptions } from "./coordinator.js";

/** Placement's view of this node's peer lease (liveness.mode peer-lease). */
export function placementLeasesOf(
  keeper: PeerLease,
  kv: KvStore,
  keys: ConsulKeys,
): NonNullable<CoordinatorOptions["lease"]> {
  return {
    clock: () => keeper.clock(),
    expiryProven: (node, notBefore) => keeper.expiryProven(node, notBefore),
    renewedWithin: (node, withinMs) => keeper.renewedWithin(node, withinMs),
    aliveWithinMs: keeper.timing.leaseMs,
    recheckMs: keeper.timing.heartbeatMs,
    releaseExpired: (path: PathAssignment, signal: AbortSignal) =>
      path.lock === undefined
        ? Promise.resolve(false)
        : releaseLockIfUnchanged(
            kv,
            keys.diskPath(path.diskId, path.index),
            path.lock.session,
            path.lock.modifyIndex,
            {
              signal,
              timeoutMs: 5000,
            },
          ),
    watchExpiries: (signal, onExpiry) => keeper.watchExpiries(signal, onExpiry),
  };
}

/**
 * Whether a node acting without a coordinator may take a free path: its last holder is this node,
 * not a node holding peer leases (a PetaSAN node, Consul's lock-delay rules), or provably without
 * a lease since `notBefore`.
 */
export function leaderlessMayTake(
  keeper: PeerLease,
  self: string,
): (path: PathAssignment, notBefore: number) => boolean {
  return (path, notBefore) => {
    const holder = path.lastHolder;
    if (holder === undefined || holder === self) return true;
    const member = keeper.status().peers.some((peer) => peer.node === holder);
    return !member || keeper.expiryProven(holder, notBefore);
  };
}
