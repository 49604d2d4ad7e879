import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { KvEntry, KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import type { DiskSource } from "./disk-source.js";
import type { ActiveSession } from "./node-session.js";
import type { PathOperations } from "./path-operations.js";
import { pathKeyOf, type PathJournal } from "./path-journal.js";
import type { PathLocks, PathRef } from "./path-locks.js";
import type { PathQueue } from "./path-queue.js";
import { presenceOf, type LocalObservation, type PathSetup } from "./path-setup.js";
import { clusterViewOf, decidePath, planReconcile } from "./reconcile-plan.js";

export interface PathReconciliationOptions {
  kv: KvStore;
  keys: ConsulKeys;
  disks: DiskSource;
  setup: PathSetup;
  journal: PathJournal;
  locks: PathLocks;
  operations: PathOperations;
  queue: PathQueue;
  logger: Logger;
  /** The session the node may act with now; no pass runs without one. */
  currentSession: () => ActiveSession | undefined;
  /** The node is degraded (degraded-mode.ts): a held path is given up, not configured. */
  handingOff?: () => boolean;
  /** Each pass that ran to its end, how long it took and whether it read the daemons afresh. */
  onPassDone?: (fresh: boolean, seconds: number) => void;
}

/**
 * Makes the paths configured here exactly those this node's session holds locks on, of running
 * disks (the decisions are reconcile-plan.ts's): one pass plans from the disk keys and the local
 * state, then re-reads and fixes each path under its queue; path IPs of known disks that are here
 * without being served are removed.
 */
export class PathReconciliation {
  private passes = 0;
  private readonly log: Logger;

  constructor(private readonly options: PathReconciliationOptions) {
    this.log = options.logger;
  }

  /** Passes run so far. */
  get passCount(): number {
    return this.passes;
  }

  /** One pass; `entries` are the disk keys when a change of them triggered it (else read afresh). */
  async pass(entries: readonly KvEntry[] | undefined, signal: AbortSignal): Promise<void> {
    const session = this.options.currentSession();
    if (session === undefined) return;
    const started = performance.now();
    const passSignal = AbortSignal.any([signal, session.signal]);
    const { kv, keys, journal, setup, queue } = this.options;
    const view = clusterViewOf(keys, entries ?? (await kv.list(keys.disks(), { signal: passSignal })));
    let observed: LocalObservation | undefined;
    try {
      // A pass triggered by a change of the disk keys works from what the drivers believe (they
      // track their own changes); the periodic pass and a kick read the node's state afresh, which
      // is how changes made behind sanpathd's back are found.
      observed = await setup.observe(passSignal, entries === undefined ? "fresh" : "believed");
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, "reconcile: local state not readable");
    }
    const plan = planReconcile(view, session.id, journal.values(), observed);
    this.passes += 1;
    this.log.debug(
      { fresh: entries === undefined, actions: plan.map((item) => `${item.key} ${item.action}`) },
      "reconcile pass",
    );
    for (const item of plan) {
      if (passSignal.aborted) return;
      try {
        await queue.run(item.key, () => this.reconcilePath(item, passSignal));
      } catch (error) {
        if (!isAborted(passSignal)) {
          this.log.warn(
            { path: item.key, action: item.action, err: errorMessage(error) },
            "reconcile of a path failed",
          );
        }
      }
    }
    await this.removeStrayPathIps(passSignal);
    const durationMs = performance.now() - started;
    this.log.debug(
      { fresh: entries === undefined, paths: plan.length, durationMs: Math.round(durationMs) },
      "reconcile pass done",
    );
    this.options.onPassDone?.(entries === undefined, durationMs / 1000);
  }

  /** Re-reads one path under its queue and makes it right (see reconcile-plan.ts). */
  private async reconcilePath(path: PathRef, signal: AbortSignal): Promise<void> {
    const session = this.options.currentSession();
    if (session === undefined) return;
    const { journal, setup, operations } = this.options;
    const key = pathKeyOf(path.diskId, path.index);
    const [lock, disk] = await Promise.all([
      this.options.locks.state(path, { signal }),
      this.options.disks.runState(path.diskId, { signal }),
    ]);
    const local = journal.get(key);
    const presence = local === undefined ? undefined : presenceOf(local, await setup.observe(signal));
    const lockedByUs = lock?.session === session.id;
    const action = decidePath({ lockedByUs, disk, local, presence });
    switch (action) {
      case "none":
        return;
      case "configure":
        if (this.options.handingOff?.() === true) {
          this.log.warn({ path: key }, "reconcile: degraded, so a held path is given up, not configured");
          await operations.giveUp(path, local, session.id, signal);
          return;
        }
        await operations.configureHeld(path, session, signal);
        return;
      case "release":
        this.log.info({ path: key, disk, local: local?.state }, "reconcile: giving the path up");
        await operations.giveUp(path, local, session.id, signal);
        return;
      case "remove-local":
        this.log.warn({ path: key, ip: local?.ip }, "reconcile: configured here without the lock: removed");
        await operations.giveUp(path, local, undefined, signal);
        return;
    }
  }

  /**
   * Path IPs of known disks that are on this node although it does not serve them (a journal lost
   * with the data folder, an address added by hand) are removed.
   */
  private async removeStrayPathIps(signal: AbortSignal): Promise<void> {
    const { disks, setup, journal, queue } = this.options;
    const allocated = await disks.allocatedPathIps({ signal });
    if (allocated.size === 0) return;
    const addresses = await setup.addresses(signal);
    for (const address of addresses) {
      const owner = allocated.get(address.ip);
      if (owner === undefined || journal.byIp(address.ip) !== undefined) continue;
      await queue.run(pathKeyOf(owner.diskId, owner.index), async () => {
        if (journal.byIp(address.ip) !== undefined) return;
        this.log.warn(
          { ip: address.ip, device: address.interface },
          "a path IP is here but not served here: removed",
        );
        await setup.removeAddress(address.ip, signal);
      });
    }
  }
}
