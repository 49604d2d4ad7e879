import { isAborted } from "../util/abort.js";
import type { EventLog } from "../events/event-log.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { ActiveMoves } from "../assignment/active-moves.js";
import type { PathAssignment } from "../assignment/assignment-model.js";
import type { ClusterState, ClusterStateReader } from "../assignment/assignment-stats.js";
import type { JobStore } from "../assignment/job-store.js";
import type { NodeCallSlots } from "../assignment/node-call-slots.js";
import type { NodeRpc } from "../assignment/node-rpc.js";
import { placeFreePaths } from "../assignment/placement.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { MetricsRecorder, PlacementCause } from "../metrics/metrics-recorder.js";
import { placementView } from "./placement-view.js";
import { PathFirstSeen } from "./path-first-seen.js";
import {
  DEFAULT_RETRY_TUNING,
  nextRetry,
  type PathRetry,
  type Refusal,
  type RetryKind,
} from "./placement-retry.js";
import { UnplacedPathsLog } from "./unplaced-paths-log.js";

/** Deadline of the cluster-state read of one pass (ms). */
const READ_TIMEOUT_MS = 1500;
/** Pause after a failed pass (ms). */
const FAILED_PASS_PAUSE_MS = 200;

/** Why a placed path was free, for its event. */
const PLACEMENT_REASONS: Readonly<Record<PlacementCause, string>> = {
  failover: "its node lost its session",
  "handed-off": "its node let it go",
  new: "never served (a new or started disk)",
  "move-failed": "a job's move left it free",
};

/**
 * What placement needs of peer leases (liveness.mode peer-lease; src/node/peer-lease-keeper.ts).
 * Without it, placement relies on Consul's lock-delay as before.
 */
export interface PlacementLeases {
  /** The keeper's clock (ms); read before the state so that proofs come after what was read. */
  clock(): number;
  /** `node` provably held no lease at some instant at or after `notBefore`. */
  expiryProven(node: string, notBefore: number): boolean;
  /** `node` renewed its lease with this node within `withinMs` (it is alive and reachable). */
  renewedWithin(node: string, withinMs: number): boolean;
  /** How recent a renew makes a node count as reachable (its lease length). */
  readonly aliveWithinMs: number;
  /** How soon to look again at a path whose last holder is neither reachable nor proven gone. */
  readonly recheckMs: number;
  /** Releases a held path's lock if unchanged since it was read (releaseLockIfUnchanged). */
  releaseExpired(path: PathAssignment, signal: AbortSignal): Promise<boolean>;
}

export interface PlacementLoopOptions {
  /** Peer leases: a dead node's paths are placed on an expiry proof, not after a lock-delay. */
  lease?: PlacementLeases | undefined;
  /** Placements are counted and timed here (default: nowhere). */
  metrics?: MetricsRecorder;
  /** Each placement (a failover when the last holder lost its session) is recorded here. */
  events?: EventLog | undefined;
  /** The coordinator's node name: the actor of its placements. */
  nodeName?: string | undefined;
  reader: ClusterStateReader;
  store: JobStore;
  nodes: NodeRpc;
  epoch: number;
  /** The term: the loop ends when it aborts. */
  signal: AbortSignal;
  logger: Logger;
  /** What this coordinator's job runner is moving (left alone) and where to (counted there). */
  moves: ActiveMoves;
  /** Calls in flight per node, shared with the job runner. */
  slots: NodeCallSlots;
  /** The node sessions' lock-delay (ms): a path freed by an ended session is retried when it is over. */
  lockDelayMs: number;
  /** AcquirePath calls in flight at once (default 16). */
  parallelism?: number;
  /** Deadline of one AcquirePath, from when it has its node's call slot (default 20 s). */
  rpcTimeoutMs?: number;
  /** A node that failed to acquire a path is not chosen for it again for this long (default 30 s). */
  excludeForMs?: number;
  /**
   * A node that answers NODE_FENCED (no confirmed session yet, e.g. just restarted) is asked again
   * this many times before it is excluded like a failed one (default 3).
   */
  fencedRetries?: number;
  /** A full pass runs at least this often, changes or not (default 10 s). */
  resyncMs?: number;
  /** Passes start at most this often however fast Consul changes (default 200 ms). */
  minIntervalMs?: number;
  /** While free paths cannot be placed, a summary of them is logged this often (default 60 s). */
  unplacedSummaryMs?: number;
  /** Every try of a free path, as it ends (for tests and logs). */
  onAttempt?: (attempt: PlacementAttempt) => void;
}

/** One AcquirePath of a free path by the placement loop, and what comes next for the path. */
export interface PlacementAttempt {
  readonly ip: string;
  readonly node: string;
  readonly placed: boolean;
  readonly refusal?: Refusal | undefined;
  /** When the path is tried again and why (not placed only). */
  readonly retry?: { readonly kind: RetryKind; readonly inMs: number } | undefined;
}

/**
 * The coordinator's placement of free paths: whenever disks, locks or nodes change (the caller
 * pokes it) and every few seconds, every path of a running disk that nobody holds — a new or
 * started disk, a path given up by a dead node or by a failed move — gets a node from
 * placeFreePaths (eligible nodes: online, not cordoned, with the path's subnet; no second path of a
 * disk on a node while another has none; the unfinished moves of a job counted on their targets)
 * and an AcquirePath there. A node that fails is excluded for that path for a while and another
 * one is chosen. A path refused as held elsewhere — in its lock-delay after its holder's session
 * ended — is tried again when the lock-delay is over (placement-retry.ts); other failures back
 * off. AcquirePath calls run in the background, so a slow node does not hold up the next pass.
 * Paths a job is moving are left to the job.
 */
export class PlacementLoop {
  private readonly options: PlacementLoopOptions;
  private readonly excluded = new Map<string, Map<string, number>>();
  private readonly retries = new Map<string, PathRetry>();
  /** Each free path as the loop first noticed it free: when, why, and who held it last. */
  private readonly freed = new Map<string, FreedPath>();
  /** Paths a failed move left free, until they are noticed free. */
  private readonly moveFailed = new Set<string>();
  /** NODE_FENCED answers per path, per node, since the path was last placed. */
  private readonly fenced = new Map<string, Map<string, number>>();
  /** AcquirePath calls in flight: the node asked, and the call. */
  private readonly inFlight = new Map<string, { node: string; call: Promise<void> }>();
  private readonly unplacedLog: UnplacedPathsLog;
  /** Peer leases: paths whose last holder is neither reachable nor proven gone, until when they wait. */
  private readonly leaseWaits = new Map<string, number>();
  /** When to look again at held paths whose quiet holder is not proven expired yet (Date.now() ms). */
  private proofRecheckAt: number | undefined;
  /** Peer leases: paths whose last holder is alive and must let them go (CleanPath) before placement. */
  private readonly cleanFirst = new Map<string, { name: string; address: string }>();
  /**
   * Peer leases: paths whose last holder did not answer the CleanPath (a sanpathd just killed, a
   * node just powered off: it renewed a moment ago, so it looked alive), until when it is not asked
   * again; meanwhile the path waits for the holder's expiry proof. The target is not to blame.
   */
  private readonly holderSilent = new Map<string, number>();
  /** CleanPaths to a last holder in flight, by path IP: aborted once the holder's expiry is proven. */
  private readonly cleaning = new Map<string, AbortController>();
  /** Peer leases: when each path was first read in its present lock state (keeper's clock). */
  private readonly firstSeen = new PathFirstSeen();
  private wake: (() => void) | undefined;
  private poked = true;
  private freeCount: number | undefined;
  private nodeCounts: NodeCounts | undefined;
  /** The last poke before the pass that is about to read (ms since epoch). */
  private lastPoke: number | undefined;

  constructor(options: PlacementLoopOptions) {
    this.options = options;
    this.unplacedLog = new UnplacedPathsLog(options.logger, options.unplacedSummaryMs ?? 60_000);
  }

  /** Paths of running disks nobody served at the last pass; undefined before the first. */
  get unservedPaths(): number | undefined {
    return this.freeCount;
  }

  /** The nodes by state at the last pass (a node may be counted in several); undefined before the first. */
  get nodesByState(): NodeCounts | undefined {
    return this.nodeCounts;
  }

  /** Asks for a pass soon. */
  poke(): void {
    this.poked = true;
    this.lastPoke = Date.now();
    this.wake?.();
  }

  /** Asks for a pass soon for the loop's own reasons (not a change in Consul). */
  private passAgain(): void {
    this.poked = true;
    this.wake?.();
  }

  /** A move of `ip` failed on `node`: do not choose that node for it for a while, and place it now. */
  exclude(ip: string, node: string): void {
    if (node !== "") this.addExclusion(ip, node);
    this.moveFailed.add(ip);
    this.passAgain();
  }

  /** Runs passes until the term ends, then waits for the calls in flight. */
  async run(): Promise<void> {
    const { signal, logger } = this.options;
    const resyncMs = this.options.resyncMs ?? 10_000;
    let lastPass = 0;
    try {
      while (!signal.aborted) {
        if (!this.poked) await this.sleepUntilPoked(this.nextWakeIn(resyncMs));
        if (isAborted(signal)) return;
        // Let a burst of changes (a job moving many paths) settle into one pass.
        const settle = Math.max(20, lastPass + (this.options.minIntervalMs ?? 200) - Date.now());
        await sleep(settle, undefined, { signal }).catch(() => undefined);
        this.poked = false;
        lastPass = Date.now();
        const noticedAt = this.lastPoke ?? lastPass;
        this.lastPoke = undefined;
        try {
          await this.pass(noticedAt);
        } catch (error) {
          if (isAborted(signal)) return;
          logger.warn({ err: errorMessage(error) }, "placement pass failed; retrying");
          await sleep(FAILED_PASS_PAUSE_MS, undefined, { signal }).catch(() => undefined);
          this.poked = true;
        }
      }
    } finally {
      await Promise.all([...this.inFlight.values()].map((flight) => flight.call));
    }
  }

  private nextWakeIn(resyncMs: number): number {
    let soonest = resyncMs;
    const now = Date.now();
    for (const retry of this.retries.values()) soonest = Math.min(soonest, retry.retryAt - now);
    for (const until of this.leaseWaits.values()) soonest = Math.min(soonest, until - now);
    if (this.proofRecheckAt !== undefined) soonest = Math.min(soonest, this.proofRecheckAt - now);
    return Math.max(10, soonest);
  }

  private async sleepUntilPoked(ms: number): Promise<void> {
    const { signal } = this.options;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.wake = done;
    });
  }

  /** Targets of the running job's unfinished moves, and the paths its moves are working on. */
  private async jobView(): Promise<{
    targetOf: (ip: string) => string | undefined;
    isWorking: (ip: string) => boolean;
  }> {
    const { moves, store, signal } = this.options;
    if (moves.jobId !== undefined) {
      return { targetOf: (ip) => moves.targetOf(ip), isWorking: (ip) => moves.isWorking(ip) };
    }
    // A job this coordinator has not taken over yet (its runner is starting): its records say.
    const running = await store.readRunning({ signal });
    const targets = new Map<string, string>();
    const working = new Set<string>();
    for (const move of running?.moves ?? []) {
      if (move.status !== "pending" && move.status !== "moving") continue;
      targets.set(move.ip, move.targetNode);
      if (move.status === "moving") working.add(move.ip);
    }
    return { targetOf: (ip) => targets.get(ip), isWorking: (ip) => working.has(ip) || moves.isWorking(ip) };
  }

  private async pass(noticedAt: number): Promise<void> {
    const { reader, signal, lease } = this.options;
    // Bounded: during a Consul raft election a read hangs until a leader answers; asking again soon
    // finds the new leader sooner than waiting out a long deadline.
    const readOptions = { signal, timeoutMs: READ_TIMEOUT_MS };
    const read = await Promise.all([reader.read(readOptions), this.jobView()]);
    const job = read[1];
    let state = read[0];
    if (lease !== undefined) {
      // Proofs count only silences asked for after the path was read in its present state: a lock
      // the node took after a proof's instant is then never one acted on (peer-lease.ts).
      this.firstSeen.note(state.paths, lease.clock());
      const released = await this.releaseExpiredLocks(state, lease);
      if (released.size > 0) {
        // Not read again: each release succeeded only if the lock was unchanged since this read,
        // so those paths were free then; whoever locks one meanwhile makes its AcquirePath fail.
        // Not noted as newly seen either: the proof that freed a path (its holder without a lease
        // after the path was first read held) is the proof that the holder stopped serving it (a
        // fenced node never serves under its old locks again), so placing it waits for no newer one.
        state = withReleased(state, released);
      }
      state = withoutExpiredNodes(state, lease, this.options.nodeName);
      this.gateOnLeases(state, lease);
    }
    const now = Date.now();
    const {
      paths,
      toPlace: freeIps,
      free: stillFree,
    } = placementView(state.paths, {
      targetOf: (ip) => job.targetOf(ip),
      isWorking: (ip) => job.isWorking(ip),
      acquiringOn: (ip) => this.inFlight.get(ip)?.node,
      isWaiting: (ip) => (this.retries.get(ip)?.retryAt ?? 0) > now || (this.leaseWaits.get(ip) ?? 0) > now,
    });
    this.freeCount = stillFree.size;
    this.nodeCounts = countNodes(state.nodes);
    let pathsByIp: Map<string, PathAssignment> | undefined;
    for (const ip of stillFree) {
      if (this.freed.has(ip)) continue;
      pathsByIp ??= new Map(state.paths.map((path) => [path.ip, path]));
      const lastHolder = pathsByIp.get(ip)?.lastHolder;
      this.freed.set(ip, { since: noticedAt, cause: this.causeOf(ip, lastHolder, state), lastHolder });
    }
    for (const ip of this.retries.keys()) if (!stillFree.has(ip)) this.retries.delete(ip);
    for (const ip of this.leaseWaits.keys()) if (!stillFree.has(ip)) this.leaseWaits.delete(ip);
    for (const ip of this.holderSilent.keys()) if (!stillFree.has(ip)) this.holderSilent.delete(ip);
    // A path locked by the node an AcquirePath is still configuring reads as held: keep its timing.
    for (const ip of this.freed.keys()) {
      if (!stillFree.has(ip) && !this.inFlight.has(ip)) this.freed.delete(ip);
    }
    for (const ip of this.fenced.keys()) if (!stillFree.has(ip)) this.fenced.delete(ip);
    if (freeIps.size === 0) {
      this.unplacedLog.afterPass([], [], stillFree, now);
      return;
    }

    const exclude = this.activeExclusions(now);
    const { placements, unplaced } = placeFreePaths(paths, state.nodes, { exclude });
    const notPlaced = unplaced.filter((path) => freeIps.has(path.ip));
    for (const path of notPlaced) {
      // Every eligible node is excluded or none fits: start over with a clean slate after a pause.
      this.excluded.delete(path.ip);
      this.noteRetry(path.ip, "failed", now);
    }
    const placeable = placements.filter((placement) => freeIps.has(placement.ip)).map(({ ip }) => ip);
    this.unplacedLog.afterPass(notPlaced, placeable, stillFree, now);
    const limit = this.options.parallelism ?? 16;
    for (const placement of placements) {
      if (!freeIps.has(placement.ip)) continue;
      // The rest waits for the next pass: an acquire that ends asks for one.
      if (this.inFlight.size >= limit) break;
      const call = this.acquire(state, placement.ip, placement.diskId, placement.index, placement.node);
      this.inFlight.set(placement.ip, { node: placement.node, call });
      void call.finally(() => {
        this.inFlight.delete(placement.ip);
        this.passAgain();
      });
    }
  }

  private async acquire(
    state: ClusterState,
    ip: string,
    diskId: string,
    index: number,
    node: string,
  ): Promise<void> {
    const { nodes, epoch, signal, logger, slots } = this.options;
    const address = state.nodes.find((candidate) => candidate.name === node)?.address ?? "";
    try {
      await slots.take([node], signal);
    } catch {
      return;
    }
    try {
      const rpcSignal = AbortSignal.any([signal, AbortSignal.timeout(this.options.rpcTimeoutMs ?? 20_000)]);
      const holder = this.cleanFirst.get(ip);
      // Its last holder is alive: it may still serve the path (its Consul session ended under it).
      if (
        holder !== undefined &&
        holder.name !== node &&
        !(await this.letGo(holder, ip, diskId, index, rpcSignal))
      )
        return;
      this.cleanFirst.delete(ip);
      await nodes.acquirePath({ name: node, address }, { epoch, diskId, index }, rpcSignal);
      this.retries.delete(ip);
      this.excluded.delete(ip);
      this.fenced.delete(ip);
      this.options.onAttempt?.({ ip, node, placed: true });
      const freed = this.freed.get(ip);
      this.freed.delete(ip);
      const since = freed?.since;
      const cause = freed?.cause ?? "new";
      if (since !== undefined) this.options.metrics?.pathPlaced(cause, Date.now() - since);
      this.options.events?.record({
        kind: cause === "failover" ? "failover" : "placement",
        node,
        diskId,
        pathIndex: index,
        ip,
        from: freed?.lastHolder,
        to: node,
        durationMs: since === undefined ? undefined : Date.now() - since,
        reason: PLACEMENT_REASONS[cause],
        actor: this.options.nodeName,
        epoch,
      });
      logger.info({ ip, diskId, index, node }, "free path placed");
    } catch (error) {
      if (signal.aborted) return;
      const reason = error instanceof SanpathError ? error.reason : undefined;
      // Held elsewhere (taken meanwhile, or in its lock-delay after a dead holder): the node is fine.
      const refusal: Refusal = reason === "PATH_HELD_ELSEWHERE" ? "held-elsewhere" : "failed";
      if (refusal === "failed" && !(reason === "NODE_FENCED" && this.fencedAgain(ip, node)))
        this.addExclusion(ip, node);
      const retry = this.noteRetry(ip, refusal, Date.now());
      this.options.onAttempt?.({
        ip,
        node,
        placed: false,
        refusal,
        retry: { kind: retry.kind, inMs: retry.retryAt - Date.now() },
      });
      logger.info(
        { ip, diskId, index, node, retry: retry.kind, err: errorMessage(error) },
        "placing a free path failed",
      );
    } finally {
      slots.release(node);
    }
  }

  /**
   * Asks the path's live last holder to let it go (CleanPath). When it does not, the path waits
   * for the holder's expiry proof (looked at again every lease heartbeat) and the holder is not
   * asked again for a lease's length; false then, and the placement is not tried: a failure of
   * the holder's is not the target's. A holder proven over while the CleanPath waits (a powered-off
   * node answers nothing) ends the wait: true. (A CleanPath to a powered-off follower used to hang
   * ~9 s and then get the healthy targets excluded: bench/failover's ~12 s outliers.)
   */
  private async letGo(
    holder: { name: string; address: string },
    ip: string,
    diskId: string,
    index: number,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { nodes, epoch, logger, lease } = this.options;
    const proven = new AbortController();
    this.cleaning.set(ip, proven);
    try {
      await nodes.cleanPath(holder, { epoch, diskId, index }, AbortSignal.any([signal, proven.signal]));
      return true;
    } catch (error) {
      if (this.options.signal.aborted) return false;
      // Proven over meanwhile (a powered-off holder never answers): placed on the proof, as any
      // path of a holder proven over.
      if (proven.signal.aborted) {
        logger.info(
          { ip, holder: holder.name },
          "the path's last holder was proven over while asked to let it go",
        );
        return true;
      }
      const now = Date.now();
      this.cleanFirst.delete(ip);
      this.holderSilent.set(ip, now + (lease?.aliveWithinMs ?? 0));
      this.leaseWaits.set(ip, now + (lease?.recheckMs ?? 0));
      logger.info(
        { ip, diskId, index, holder: holder.name, err: errorMessage(error) },
        "the path's last holder did not let it go: waiting for its lease to be proven over",
      );
      return false;
    } finally {
      this.cleaning.delete(ip);
    }
  }

  /**
   * Peer leases: releases the locks still held by nodes whose lease provably ended after
   * `notBefore` (a killed sanpathd's session lives on until its TTL; a node cut off from its peers
   * but not from Consul keeps renewing it). Only a node with a node record: a PetaSAN node holds no
   * lease and keeps Consul's rules. Returns the IPs of the paths released.
   */
  private async releaseExpiredLocks(state: ClusterState, lease: PlacementLeases): Promise<Set<string>> {
    const { signal, logger, nodeName } = this.options;
    const members = new Set(state.nodes.filter((node) => node.address !== "").map((node) => node.name));
    const now = lease.clock();
    /** Locked by another sanpath node (one with a node record). */
    const heldByPeer = state.paths.filter(
      (path) =>
        path.node !== "" && path.node !== nodeName && path.lock !== undefined && members.has(path.node),
    );
    const toRelease = heldByPeer.filter((path) =>
      lease.expiryProven(path.node, this.firstSeen.since(path.ip, now)),
    );
    const released = await Promise.all(
      toRelease.map(async (path) => {
        try {
          return (await lease.releaseExpired(path, signal)) ? path : undefined;
        } catch (error) {
          logger.warn(
            { ip: path.ip, node: path.node, err: errorMessage(error) },
            "lock of an expired lease not released",
          );
          return undefined;
        }
      }),
    );
    // A held path whose holder has gone quiet (no renew within its lease) but is not proven
    // expired yet: look again soon, not at the next resync (a new coordinator's first pass comes
    // before any report asked after its first read, so no proof can be made in it).
    const awaitingProof = heldByPeer.some(
      (path) => !toRelease.includes(path) && !lease.renewedWithin(path.node, lease.aliveWithinMs),
    );
    this.proofRecheckAt = awaitingProof ? Date.now() + lease.recheckMs : undefined;
    const done = released.filter((path) => path !== undefined);
    if (done.length > 0) {
      logger.warn(
        { nodes: [...new Set(done.map((path) => path.node))], paths: done.map((path) => path.ip) },
        "released the path locks of nodes whose peer lease provably ended",
      );
    }
    return new Set(done.map((path) => path.ip));
  }

  /**
   * Peer leases: decides, for each free path, what must come before its placement. Its last holder
   * provably without a lease, or not a sanpath node: nothing. Alive and reachable: it lets the path
   * go first (CleanPath; it may still serve the path after Consul ended its session). Neither: the
   * path waits for the proof, looked at again soon.
   */
  private gateOnLeases(state: ClusterState, lease: PlacementLeases): void {
    const now = Date.now();
    const leaseNow = lease.clock();
    const records = new Map(
      state.nodes.filter((node) => node.address !== "").map((node) => [node.name, node]),
    );
    for (const path of state.paths) {
      if (path.node !== "") continue;
      const holder = path.lastHolder === undefined ? undefined : records.get(path.lastHolder);
      if (holder === undefined || (this.leaseWaits.get(path.ip) ?? 0) > now) continue;
      if (
        holder.name !== this.options.nodeName &&
        lease.expiryProven(holder.name, this.firstSeen.since(path.ip, leaseNow))
      ) {
        this.cleanFirst.delete(path.ip);
        this.cleaning.get(path.ip)?.abort();
        continue;
      }
      const silent = (this.holderSilent.get(path.ip) ?? 0) > now;
      if (
        holder.name === this.options.nodeName ||
        (!silent && lease.renewedWithin(holder.name, lease.aliveWithinMs))
      ) {
        this.cleanFirst.set(path.ip, { name: holder.name, address: holder.address });
        continue;
      }
      this.cleanFirst.delete(path.ip);
      this.leaseWaits.set(path.ip, now + lease.recheckMs);
    }
  }

  /** "failover" when the path's last holder has lost its session, "move-failed" after a failed move. */
  private causeOf(ip: string, lastHolder: string | undefined, state: ClusterState): PlacementCause {
    if (this.moveFailed.delete(ip)) return "move-failed";
    if (lastHolder === undefined) return "new";
    const holder = state.nodes.find((node) => node.name === lastHolder);
    return holder?.online === true ? "handed-off" : "failover";
  }

  /**
   * A node without a confirmed session yet (a restarting sanpathd between its old session's end
   * and its new one) is asked again a few times before it is excluded: excluding it at once would
   * give the path to another node, maybe one that holds another path of the disk already.
   */
  private fencedAgain(ip: string, node: string): boolean {
    let perNode = this.fenced.get(ip);
    if (perNode === undefined) {
      perNode = new Map();
      this.fenced.set(ip, perNode);
    }
    const count = (perNode.get(node) ?? 0) + 1;
    perNode.set(node, count);
    return count <= (this.options.fencedRetries ?? 3);
  }

  private noteRetry(ip: string, refusal: Refusal, now: number): PathRetry {
    const retry = nextRetry(this.retries.get(ip), refusal, now, this.freed.get(ip)?.since ?? now, {
      ...DEFAULT_RETRY_TUNING,
      lockDelayMs: this.options.lockDelayMs,
    });
    this.retries.set(ip, retry);
    return retry;
  }

  private addExclusion(ip: string, node: string): void {
    let nodes = this.excluded.get(ip);
    if (nodes === undefined) {
      nodes = new Map();
      this.excluded.set(ip, nodes);
    }
    nodes.set(node, Date.now() + (this.options.excludeForMs ?? 30_000));
  }

  private activeExclusions(now: number): Map<string, string[]> {
    const active = new Map<string, string[]>();
    for (const [ip, nodes] of this.excluded) {
      const names = [...nodes].filter(([, until]) => until > now).map(([name]) => name);
      if (names.length === 0) this.excluded.delete(ip);
      else active.set(ip, names);
    }
    return active;
  }
}

/** `state` with the paths at `releasedIps` free, their holder now their last holder. */
function withReleased(state: ClusterState, releasedIps: ReadonlySet<string>): ClusterState {
  const lost = new Map<string, number>();
  const paths = state.paths.map((path) => {
    if (!releasedIps.has(path.ip)) return path;
    lost.set(path.node, (lost.get(path.node) ?? 0) + 1);
    const { lock: _released, ...rest } = path;
    return { ...rest, node: "", lastHolder: path.node };
  });
  const nodes = state.nodes.map((node) => {
    const count = lost.get(node.name);
    return count === undefined ? node : { ...node, pathCount: node.pathCount - count };
  });
  return { ...state, paths, nodes };
}

/**
 * The state with nodes whose peer lease is proven over counted offline: not placement targets (a
 * choice of target, not a safety rule: any proof on record will do).
 */
function withoutExpiredNodes(
  state: ClusterState,
  lease: PlacementLeases,
  self: string | undefined,
): ClusterState {
  return {
    ...state,
    nodes: state.nodes.map((node) =>
      node.online && node.name !== self && node.address !== "" && lease.expiryProven(node.name, 0)
        ? { ...node, online: false }
        : node,
    ),
  };
}

/** Nodes by state: online or offline, and cordoned and degraded among them. */
export interface NodeCounts {
  readonly online: number;
  readonly offline: number;
  readonly cordoned: number;
  readonly degraded: number;
}

function countNodes(nodes: ClusterState["nodes"]): NodeCounts {
  let online = 0;
  let cordoned = 0;
  let degraded = 0;
  for (const node of nodes) {
    if (node.online) online++;
    if (node.cordoned) cordoned++;
    if (node.degraded) degraded++;
  }
  return { online, offline: nodes.length - online, cordoned, degraded };
}

/** A free path as the placement loop first noticed it. */
interface FreedPath {
  /** When (ms since epoch). */
  readonly since: number;
  /** Why it was free (metrics and events). */
  readonly cause: PlacementCause;
  /** The node that held it last, if any (events: where it came from). */
  readonly lastHolder: string | undefined;
}
