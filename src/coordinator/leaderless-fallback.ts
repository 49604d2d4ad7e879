import type { KvStore } from "../kv/kv-store.js";
import { isAborted } from "../util/abort.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClusterStateReader } from "../assignment/assignment-stats.js";
import { placeFreePaths } from "../assignment/placement.js";
import { isEligible, type PathAssignment } from "../assignment/assignment-model.js";
import { PathFirstSeen } from "./path-first-seen.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";

export interface LeaderlessFallbackOptions {
  kv: KvStore;
  keys: ConsulKeys;
  reader: ClusterStateReader;
  /** This node's name, as in its node record. */
  nodeName: string;
  /** How long the coordinator lock must stay free before this node acts (config reassignment.leaderlessGraceMs). */
  graceMs: number;
  /** Takes the path on this node: the node agent's own AcquirePath with epoch 0. */
  acquire: (diskId: string, index: number, signal: AbortSignal) => Promise<void>;
  logger: Logger;
  /** Pause between passes while no coordinator exists (default 2 s). */
  passEveryMs?: number;
  /** A path still free after this many passes may be taken by any eligible node (default 3). */
  anyNodeAfterPasses?: number;
  /**
   * Peer leases: whether this node may take a free path now (its last holder provably without a
   * lease, or this node, or not a sanpath node). Default: any free path (Consul's lock-delay rules).
   */
  mayTake?: (path: PathAssignment, notBefore: number) => boolean;
  /** The clock `mayTake`'s notBefore is read from, after the state (default Date.now). */
  clock?: () => number;
}

/**
 * Keeps paths served when no coordinator is elected (for example while Consul has no quorum for
 * sessions, or every sanpathd but this one is down). Runs on every node agent: once the coordinator
 * lock has been free for the grace period, each pass reads the free paths of running disks, computes
 * the same placement every node computes (placeFreePaths is deterministic) and acquires the paths
 * placed on this node. A path still free a few passes later (its chosen node did not take it) may
 * be taken by any eligible node; the path's Consul lock decides who gets it. Stops acting the moment
 * a coordinator is elected.
 *
 * The coordinator component runs one on every sanpathd, acquiring through the node's own
 * NodeService (epoch 0, not epoch-fenced), with config reassignment.leaderlessGraceMs.
 */
export class LeaderlessFallback {
  private readonly options: LeaderlessFallbackOptions;
  private readonly stopping = new AbortController();
  private readonly freePasses = new Map<string, number>();
  private readonly firstSeen = new PathFirstSeen();
  private loop: Promise<void> | undefined;

  constructor(options: LeaderlessFallbackOptions) {
    this.options = options;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { kv, keys, graceMs, logger } = this.options;
    const signal = this.stopping.signal;
    let index = 0;
    let leaderlessSince: number | undefined;
    while (!signal.aborted) {
      try {
        const remaining = leaderlessSince === undefined ? graceMs : leaderlessSince + graceMs - Date.now();
        const waitSeconds = Math.min(30, Math.max(1, Math.ceil(remaining / 1000)));
        const answer = await kv.getBlocking(keys.coordinatorLock(), { index, waitSeconds, signal });
        index = answer.index;
        if (answer.entry?.session !== undefined) {
          if (leaderlessSince !== undefined)
            logger.info("a coordinator is elected: leaderless fallback idle");
          leaderlessSince = undefined;
          this.freePasses.clear();
          continue;
        }
        leaderlessSince ??= Date.now();
        if (Date.now() - leaderlessSince < graceMs) continue;
        await this.pass();
        await sleep(this.options.passEveryMs ?? 2000, undefined, { signal }).catch(() => undefined);
        // Read the lock at once next time: a coordinator may have been elected meanwhile.
        index = 0;
      } catch (error) {
        if (isAborted(signal)) return;
        logger.warn({ err: errorMessage(error) }, "leaderless fallback: pass failed");
        index = 0;
        await sleep(1000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private async pass(): Promise<void> {
    const { reader, nodeName, logger } = this.options;
    const signal = this.stopping.signal;
    const state = await reader.read({ signal });
    const clock = this.options.clock ?? Date.now;
    this.firstSeen.note(state.paths, clock());
    const me = state.nodes.find((node) => node.name === nodeName);
    if (me === undefined || !isEligible(me)) return;
    const free = state.paths.filter((path) => path.node === "");
    const freeNow = new Set(free.map((path) => path.ip));
    for (const ip of this.freePasses.keys()) if (!freeNow.has(ip)) this.freePasses.delete(ip);
    if (free.length === 0) return;
    for (const path of free) this.freePasses.set(path.ip, (this.freePasses.get(path.ip) ?? 0) + 1);

    const { placements } = placeFreePaths(state.paths, state.nodes);
    const after = this.options.anyNodeAfterPasses ?? 3;
    const mine = placements.filter(
      (placement) =>
        placement.node === nodeName ||
        ((this.freePasses.get(placement.ip) ?? 0) > after && me.subnets.includes(placement.subnet)),
    );
    const mayTake = this.options.mayTake;
    const byIp = new Map(state.paths.map((path) => [path.ip, path]));
    for (const placement of mine) {
      if (signal.aborted) return;
      const path = byIp.get(placement.ip);
      if (
        mayTake !== undefined &&
        path !== undefined &&
        !mayTake(path, this.firstSeen.since(path.ip, clock()))
      )
        continue;
      try {
        await this.options.acquire(placement.diskId, placement.index, signal);
        logger.info(
          { diskId: placement.diskId, index: placement.index, ip: placement.ip },
          "no coordinator: took a free path",
        );
      } catch (error) {
        logger.info(
          { diskId: placement.diskId, index: placement.index, err: errorMessage(error) },
          "no coordinator: could not take a free path",
        );
      }
    }
  }
}
