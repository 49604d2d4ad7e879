import { invalidField } from "../errors/sanpath-error.js";
import { staleEpoch } from "./node-errors.js";

/**
 * Coordinator epochs (the coordinator lock's LockIndex) as this node has seen them. A request with
 * an epoch below the highest seen comes from a coordinator that has been replaced: it is refused
 * (ABORTED, STALE_EPOCH). Epoch 0 marks a node-local action (an operator, the node's own reconcile):
 * it is never refused and never raises the highest epoch.
 *
 * The node agent starts the gate from the highest epoch recorded in its path journal and records
 * every higher one there before acting on the request, so a restarted node still refuses a
 * coordinator that was replaced before the restart.
 */
export class EpochGate {
  private highestSeen: number;
  private refused = 0;

  constructor(highestSeen = 0) {
    this.highestSeen = highestSeen;
  }

  get highest(): number {
    return this.highestSeen;
  }

  /** Requests refused for a stale epoch since start. */
  get refusedCount(): number {
    return this.refused;
  }

  /** Throws ABORTED / STALE_EPOCH for an epoch below the highest seen; records a higher one. */
  admit(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw invalidField("epoch", "must be a whole number ≥ 0");
    if (epoch === 0) return;
    if (epoch < this.highestSeen) {
      this.refused += 1;
      throw staleEpoch(epoch, this.highestSeen);
    }
    this.highestSeen = epoch;
  }
}
