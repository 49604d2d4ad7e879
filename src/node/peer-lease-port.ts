import type { LeaseGrant, LeaseRenewal } from "../assignment/node-rpc.js";
import { invalidField } from "../errors/sanpath-error.js";
import type { LeaseStatus, LeaseTiming } from "./peer-lease-keeper.js";

/** The longest a restarting node's lease may be held for its successor (RenewLease hold_ms, ms). */
export const MAX_LEASE_HOLD_MS = 60_000;

/**
 * The rules of a RenewLease request, wherever it comes in (either listener's handler,
 * api/renew-lease-handler.ts, and NodeAgent.renewLease for callers in process): it names the
 * renewing node and holds the lease at most MAX_LEASE_HOLD_MS. Throws INVALID_ARGUMENT otherwise.
 */
export function checkLeaseRenewal(renewal: LeaseRenewal): void {
  if (renewal.node === "") throw invalidField("node", "must name the renewing node");
  if ((renewal.holdMs ?? 0) > MAX_LEASE_HOLD_MS)
    throw invalidField("hold_ms", `must be at most ${MAX_LEASE_HOLD_MS}`);
}

/**
 * This node's peer lease as the rest of sanpathd uses it (liveness.mode peer-lease): the node
 * session (when to fence), the node agent (RenewLease on the main port, Status), placement and the
 * election (expiry proofs). Two adapters: PeerLeaseKeeper renews on the thread that calls it (tests,
 * tools), LeaseWorker (src/lease-worker/) renews and grants on a worker thread with a listener of its
 * own, so that a busy main event loop never costs the node its lease. Every time is a reading of
 * `clock()` (ms).
 */
export interface PeerLease {
  readonly timing: LeaseTiming;
  /** When the tear-down must start for the lease held now; undefined without one. */
  fenceAt(): number | undefined;
  /** Whether this node may serve now: its lease holds for longer than the tear-down takes. */
  holds(now?: number): boolean;
  /** Calls `listener` whenever fenceAt() may have moved. Returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** A peer's renew that came to the main gRPC port: granted unless this node stopped. */
  answerRenew(node: string, holdMs: number): Promise<LeaseGrant>;
  /** A restart: asks every peer to hold the lease `holdMs` longer; resolves when all answered. */
  holdForHandover(holdMs: number): Promise<void>;
  /** Whether `subject` provably held no lease at some instant at or after `notBefore`. */
  expiryProven(subject: string, notBefore: number): boolean;
  /** Whether `subject` renewed with this node within `withinMs`. */
  renewedWithin(subject: string, withinMs: number): boolean;
  /** Calls `onExpiry` each heartbeat in which other members' leases are newly proven over. */
  watchExpiries(signal: AbortSignal, onExpiry: (nodes: readonly string[]) => void): void;
  /** Now, on the clock every time above is read from. */
  clock(): number;
  status(): LeaseStatus;
  /** Stops renewing and granting (a stopping node must not keep others' leases alive). */
  stop(): void;
}
