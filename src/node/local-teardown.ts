import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { SessionSettings } from "./node-session.js";
import { pathKeyOf, type LocalPath, type PathJournal } from "./path-journal.js";
import type { PathQueue } from "./path-queue.js";
import type { PathSetup } from "./path-setup.js";

export interface LocalTeardownOptions {
  journal: PathJournal;
  setup: PathSetup;
  queue: PathQueue;
  session: SessionSettings;
  /** A fence's whole tear-down budget (ms); default lockDelay − fenceDeadline (Consul fencing). */
  budgetMs?: number;
  logger: Logger;
}

/** fence: session lost; stop: sanpathd stops; hand-off: the data path failed (degraded-mode.ts). */
export type TeardownMode = "fence" | "stop" | "hand-off";

/** How long a tear-down step may take when stopping (no race with another node then). */
const STOP_STEP_MS = 15_000;
/** A hand-off's portal step: a target daemon that failed answers at once or not at all. */
const HAND_OFF_PORTAL_MS = 1000;
const HAND_OFF_IP_MS = 5000;
/**
 * A peer-lease fence's IP removal is not killed at the budget: a killed `ip` may or may not have
 * removed the address, and a loaded machine can need longer than the budget. It is given this
 * long; the budget is what the lease settings are chosen for (docs/DEPLOY.md).
 */
const LEASE_FENCE_IP_MS = 5000;

/**
 * Takes every path served here down locally: when the node fences (its session unconfirmed or
 * gone) and when sanpathd stops.
 *
 * The fence's part of the safety argument (node-session.ts has the whole of it): the node starts
 * fencing at t_c + fenceDeadline at the latest, where t_c is when the last renew Consul confirmed
 * was sent; another node can lock one of our paths at t_inv + lockDelay at the earliest, t_inv ≥
 * t_c. So every path IP must be gone within lockDelay − fenceDeadline of the fence starting (the
 * config requires fenceDeadline < lockDelay). Hence: all paths at once; the portal step gets half of
 * that budget and the IP removal the rest; the IP is removed even when the portal step fails (a
 * target daemon stuck on an unreachable Ceph must not delay it); targets stay (dropping an
 * rbd-backed LUN can block the target daemon); and operations in flight, aborted by the fence,
 * undo themselves, after which a second sweep removes whatever is still here.
 */
export class LocalTeardown {
  private readonly log: Logger;

  constructor(private readonly options: LocalTeardownOptions) {
    this.log = options.logger;
  }

  /** The fence: every path down within the budget, then a second sweep once operations settled. */
  async fence(reason: string): Promise<void> {
    const { journal, setup, queue } = this.options;
    await this.tearDownAll(`fenced: ${reason}`, "fence");
    await queue.settle(10_000);
    let present: Set<string> | undefined;
    try {
      present = new Set(
        (await setup.addresses(AbortSignal.timeout(STOP_STEP_MS), true)).map((address) => address.ip),
      );
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, "addresses not readable after the fence tear-down");
    }
    // An IP seen gone needs no second removal (removing an absent address fails): its entry is
    // only marked for the next reconcile, as the first sweep would have. Unreadable addresses:
    // every entry not yet cleaning is swept again.
    if (present !== undefined) {
      for (const entry of journal.values()) {
        if (entry.state === "cleaning" || present.has(entry.ip)) continue;
        await journal.setState(pathKeyOf(entry.diskId, entry.index), "cleaning").catch(() => undefined);
      }
    }
    const left = journal
      .values()
      .filter((entry) => (present === undefined ? entry.state !== "cleaning" : present.has(entry.ip)));
    if (left.length > 0) await this.tearDownAll("fenced: second sweep", "fence", left);
  }

  /**
   * Portal off (bounded), then the IP removed, for every path in the journal (or `only` those).
   * When stopping, the targets are dropped and the entries removed. When fencing or handing off,
   * targets stay and the entries become "cleaning": the next reconcile drops them. Returns the
   * entries whose IP is gone; never throws.
   */
  async tearDownAll(why: string, mode: TeardownMode, only?: readonly LocalPath[]): Promise<LocalPath[]> {
    const { journal, setup, session } = this.options;
    const entries = only ?? journal.values();
    if (entries.length === 0) return [];
    const leaseBudgetMs = this.options.budgetMs;
    const budgetMs = leaseBudgetMs ?? session.lockDelaySeconds * 1000 - session.fenceDeadlineMs;
    const [portalBudgetMs, ipBudgetMs] =
      mode === "fence"
        ? leaseBudgetMs !== undefined
          ? [leaseBudgetMs / 2, leaseBudgetMs / 2]
          : [Math.max(500, budgetMs / 2), Math.max(1000, budgetMs / 2)]
        : mode === "hand-off"
          ? [HAND_OFF_PORTAL_MS, HAND_OFF_IP_MS]
          : [STOP_STEP_MS, STOP_STEP_MS];
    const disablePortal = async (entry: LocalPath): Promise<void> => {
      try {
        await setup.disablePortal(entry.iqn, entry.ip, AbortSignal.timeout(portalBudgetMs));
      } catch (error) {
        this.log.warn(
          { ip: entry.ip, err: errorMessage(error) },
          "portal not disabled in time; removing the IP anyway",
        );
      }
    };
    const removeAddress = async (entry: LocalPath, limitMs: number): Promise<LocalPath | undefined> => {
      try {
        await setup.removeAddress(entry.ip, AbortSignal.timeout(limitMs), entry.interface, entry.vlanId);
        return entry;
      } catch (error) {
        this.log.error({ ip: entry.ip, err: errorMessage(error) }, "path IP could not be removed");
        return undefined;
      }
    };
    // A peer-lease fence races the lease's end: the IP goes at once, alongside the portal (the IP
    // on two nodes is the danger; a portal without its IP answers nobody).
    const leaseFence = mode === "fence" && leaseBudgetMs !== undefined;
    const removed = await Promise.all(
      entries.map(async (entry) => {
        if (leaseFence) {
          const [, gone] = await Promise.all([disablePortal(entry), removeAddress(entry, LEASE_FENCE_IP_MS)]);
          return gone;
        }
        await disablePortal(entry);
        return await removeAddress(entry, ipBudgetMs);
      }),
    );
    const done = removed.filter((entry) => entry !== undefined);
    this.log.warn(
      { why, paths: done.map((entry) => entry.ip), failed: entries.length - done.length },
      "paths torn down",
    );
    if (mode !== "stop") {
      for (const entry of done) {
        await journal.setState(pathKeyOf(entry.diskId, entry.index), "cleaning").catch(() => undefined);
      }
      return done;
    }
    for (const iqn of new Set(done.map((entry) => entry.iqn))) {
      if (entries.some((entry) => entry.iqn === iqn && !done.includes(entry))) continue;
      await setup.dropTarget(iqn, AbortSignal.timeout(STOP_STEP_MS)).catch((error: unknown) => {
        this.log.warn({ iqn, err: errorMessage(error) }, "target not dropped");
      });
    }
    for (const entry of done) {
      await journal.remove(pathKeyOf(entry.diskId, entry.index)).catch(() => undefined);
    }
    return done;
  }
}
