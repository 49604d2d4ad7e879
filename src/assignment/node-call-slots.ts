import { DEFAULT_CALLS_PER_NODE } from "../config/reassignment-defaults.js";
import { SanpathError } from "../errors/sanpath-error.js";

export { DEFAULT_CALLS_PER_NODE };

interface Waiter {
  readonly nodes: readonly string[];
  readonly resolve: () => void;
}

/**
 * The coordinator's bound on NodeService calls in flight per node (CleanPath and AcquirePath,
 * from the job runner and the placement loop together). A node runs operations on different
 * targets side by side, but they share its CPU, tgtd and Consul agent: past a few in flight each
 * one only takes longer (the client's outage of every path moved grows), and with too many the
 * last ones pass their deadline. Calls past the bound wait here instead, where waiting costs
 * nothing: the deadline of a call starts when it gets its slot.
 *
 * A slot is taken on every node of a call at once (take/tryTake with several names), never one
 * after the other, so two callers can never each hold what the other waits for. Waiters are served
 * in arrival order among those whose nodes have room, before the release listeners (the job
 * runner's scheduler) hear of the free slot: a free path waiting to be placed goes before the next
 * move of a job.
 */
export class NodeCallSlots {
  private readonly inFlight = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(readonly perNode = DEFAULT_CALLS_PER_NODE) {
    if (!Number.isSafeInteger(perNode) || perNode < 1) {
      throw new SanpathError("invalid_argument", `callsPerNode must be a whole number ≥ 1, got ${perNode}`, {
        field: "callsPerNode",
      });
    }
  }

  /** Calls in flight on `node`. */
  count(node: string): number {
    return this.inFlight.get(node) ?? 0;
  }

  /** Every named node has a free slot ("" names no node and is ignored). */
  hasRoom(nodes: readonly string[]): boolean {
    return distinctNodes(nodes).every((node) => this.count(node) < this.perNode);
  }

  /** Takes a slot on every named node if each has one free; false (and nothing taken) otherwise. */
  tryTake(nodes: readonly string[]): boolean {
    const distinct = distinctNodes(nodes);
    if (!distinct.every((node) => this.count(node) < this.perNode)) return false;
    for (const node of distinct) this.inFlight.set(node, this.count(node) + 1);
    return true;
  }

  /** Waits until every named node has a free slot and takes them; rejects when `signal` aborts. */
  take(nodes: readonly string[], signal: AbortSignal): Promise<void> {
    const queuedBefore = this.waiters.some((waiter) => waiter.nodes.some((node) => nodes.includes(node)));
    if (!queuedBefore && this.tryTake(nodes)) return Promise.resolve();
    if (signal.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        nodes,
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(cancelled());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives back the slot a call held on `node`. */
  release(node: string): void {
    if (node === "") return;
    const count = this.count(node);
    if (count <= 1) this.inFlight.delete(node);
    else this.inFlight.set(node, count - 1);
    for (let at = 0; at < this.waiters.length;) {
      const waiter = this.waiters[at];
      if (waiter !== undefined && this.tryTake(waiter.nodes)) {
        this.waiters.splice(at, 1);
        waiter.resolve();
      } else {
        at++;
      }
    }
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` after every release; returns its removal. */
  onRelease(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * The slots one call (or one move: CleanPath on the source, then AcquirePath on the target) holds;
 * each is given back once, by release() or releaseAll().
 */
export class HeldSlots {
  private readonly held: string[];

  constructor(
    private readonly slots: NodeCallSlots,
    /** Nodes whose slots were already taken for this holder. */
    nodes: readonly string[],
  ) {
    this.held = distinctNodes(nodes);
  }

  has(node: string): boolean {
    return this.held.includes(node);
  }

  /**
   * Holds exactly `nodes` from now on. When that needs a slot not held yet, every slot is given
   * back first and all are taken again at once: waiting while holding could deadlock two holders.
   */
  async exchange(nodes: readonly string[], signal: AbortSignal): Promise<void> {
    const wanted = distinctNodes(nodes);
    if (wanted.every((node) => this.has(node))) {
      for (const node of [...this.held]) if (!wanted.includes(node)) this.release(node);
      return;
    }
    this.releaseAll();
    await this.slots.take(wanted, signal);
    this.held.push(...wanted);
  }

  release(node: string): void {
    const at = this.held.indexOf(node);
    if (at < 0) return;
    this.held.splice(at, 1);
    this.slots.release(node);
  }

  releaseAll(): void {
    for (const node of this.held.splice(0)) this.slots.release(node);
  }
}

function distinctNodes(nodes: readonly string[]): string[] {
  return [...new Set(nodes.filter((node) => node !== ""))];
}

function cancelled(): SanpathError {
  return new SanpathError("cancelled", "cancelled while waiting for a free call slot on the node");
}
