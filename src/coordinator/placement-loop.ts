import { isAborted } from "../consul/consul-client.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { PathAssignment } from "../assignment/assignment-model.js";
import type { ClusterState, ClusterStateReader } from "../assignment/assignment-stats.js";
import type { JobStore } from "../assignment/job-store.js";
import type { NodeRpc } from "../assignment/node-rpc.js";
import { placeFreePaths } from "../assignment/placement.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";

export interface PlacementLoopOptions {
  reader: ClusterStateReader;
  store: JobStore;
  nodes: NodeRpc;
  epoch: number;
  /** The term: the loop ends when it aborts. */
  signal: AbortSignal;
  logger: Logger;
  /** Paths a job is moving right now (the job runner's), left alone. */
  reserved: ReadonlySet<string>;
  /** AcquirePath calls in flight at once (default 16). */
  parallelism?: number;
  /** Deadline of one AcquirePath (default 20 s). */
  rpcTimeoutMs?: number;
  /** A node that failed to acquire a path is not chosen for it again for this long (default 30 s). */
  excludeForMs?: number;
  /** A full pass runs at least this often, changes or not (default 10 s). */
  resyncMs?: number;
  /** Passes start at most this often however fast Consul changes (default 200 ms). */
  minIntervalMs?: number;
}

interface Attempt {
  readonly failures: number;
  /** Not before this time (ms since epoch). */
  readonly retryAt: number;
}

/**
 * The coordinator's placement of free paths: whenever disks, locks or nodes change (the caller
 * pokes it) and every few seconds, every path of a running disk that nobody holds — a new or
 * started disk, a path given up by a dead node or by a failed move — gets a node from
 * placeFreePaths (eligible nodes: online, not cordoned, with the path's subnet; no second path of a
 * disk on a node while another has none) and an AcquirePath there. A node that fails is excluded
 * for that path for a while and another one is chosen; a path in its lock-delay is retried with
 * back-off. Paths a job is moving are left to the job.
 */
export class PlacementLoop {
  private readonly options: PlacementLoopOptions;
  private readonly excluded = new Map<string, Map<string, number>>();
  private readonly attempts = new Map<string, Attempt>();
  private readonly inFlight = new Set<string>();
  private wake: (() => void) | undefined;
  private poked = true;

  constructor(options: PlacementLoopOptions) {
    this.options = options;
  }

  /** Asks for a pass soon. */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /** A move of `ip` to `node` failed: do not choose that node for it for a while, and place it now. */
  exclude(ip: string, node: string): void {
    this.addExclusion(ip, node);
    this.poke();
  }

  /** Runs passes until the term ends. */
  async run(): Promise<void> {
    const { signal, logger } = this.options;
    const resyncMs = this.options.resyncMs ?? 10_000;
    let lastPass = 0;
    while (!signal.aborted) {
      if (!this.poked) await this.sleepUntilPoked(this.nextWakeIn(resyncMs));
      if (isAborted(signal)) return;
      // Let a burst of changes (a job moving many paths) settle into one pass.
      const settle = Math.max(20, lastPass + (this.options.minIntervalMs ?? 200) - Date.now());
      await sleep(settle, undefined, { signal }).catch(() => undefined);
      this.poked = false;
      lastPass = Date.now();
      try {
        await this.pass();
      } catch (error) {
        if (isAborted(signal)) return;
        logger.warn({ err: errorMessage(error) }, "placement pass failed; retrying");
        await sleep(500, undefined, { signal }).catch(() => undefined);
        this.poked = true;
      }
    }
  }

  private nextWakeIn(resyncMs: number): number {
    let soonest = resyncMs;
    const now = Date.now();
    for (const attempt of this.attempts.values()) soonest = Math.min(soonest, attempt.retryAt - now);
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

  private async pass(): Promise<void> {
    const { reader, store, signal, logger } = this.options;
    const [state, running] = await Promise.all([reader.read({ signal }), store.readRunning({ signal })]);
    const moving = new Map<string, string>();
    for (const move of running?.moves ?? [])
      if (move.status === "moving") moving.set(move.ip, move.targetNode);
    const now = Date.now();
    const paths: PathAssignment[] = [];
    const freeIps = new Set<string>();
    for (const path of state.paths) {
      if (path.node !== "") {
        paths.push(path);
        continue;
      }
      const reservedFor = moving.get(path.ip);
      if (this.options.reserved.has(path.ip) || reservedFor !== undefined) {
        // Counted on its target, so placement of other paths sees the load it is about to get.
        if (reservedFor !== undefined) paths.push({ ...path, node: reservedFor });
        continue;
      }
      if (this.inFlight.has(path.ip)) continue;
      const attempt = this.attempts.get(path.ip);
      if (attempt !== undefined && attempt.retryAt > now) {
        paths.push(path);
        continue;
      }
      paths.push(path);
      freeIps.add(path.ip);
    }
    const stillFree = new Set(state.paths.filter((path) => path.node === "").map((path) => path.ip));
    for (const ip of this.attempts.keys()) if (!stillFree.has(ip)) this.attempts.delete(ip);
    if (freeIps.size === 0) return;

    const exclude = this.activeExclusions(now);
    const { placements, unplaced } = placeFreePaths(paths, state.nodes, { exclude });
    for (const path of unplaced) {
      if (!freeIps.has(path.ip)) continue;
      // Every eligible node is excluded or none fits: start over with a clean slate after a pause.
      this.excluded.delete(path.ip);
      this.noteFailure(path.ip, now);
      logger.warn(
        { ip: path.ip, diskId: path.diskId, index: path.index, reason: path.reason },
        "free path not placed",
      );
    }
    const chosen = placements.filter((placement) => freeIps.has(placement.ip));
    const limit = this.options.parallelism ?? 16;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chosen.length && !signal.aborted) {
        const placement = chosen[next++];
        if (placement === undefined) return;
        await this.acquire(state, placement.ip, placement.diskId, placement.index, placement.node);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, chosen.length) }, worker));
  }

  private async acquire(
    state: ClusterState,
    ip: string,
    diskId: string,
    index: number,
    node: string,
  ): Promise<void> {
    const { nodes, epoch, signal, logger } = this.options;
    const address = state.nodes.find((candidate) => candidate.name === node)?.address ?? "";
    this.inFlight.add(ip);
    try {
      const rpcSignal = AbortSignal.any([signal, AbortSignal.timeout(this.options.rpcTimeoutMs ?? 20_000)]);
      await nodes.acquirePath({ name: node, address }, { epoch, diskId, index }, rpcSignal);
      this.attempts.delete(ip);
      this.excluded.delete(ip);
      logger.info({ ip, diskId, index, node }, "free path placed");
    } catch (error) {
      if (signal.aborted) return;
      const now = Date.now();
      this.noteFailure(ip, now);
      // Held elsewhere (taken meanwhile, or in its lock-delay after a dead holder): the node is fine.
      if (!(error instanceof SanpathError && error.reason === "PATH_HELD_ELSEWHERE"))
        this.addExclusion(ip, node);
      logger.info({ ip, diskId, index, node, err: errorMessage(error) }, "placing a free path failed");
    } finally {
      this.inFlight.delete(ip);
      this.poked = true;
    }
  }

  private noteFailure(ip: string, now: number): void {
    const failures = (this.attempts.get(ip)?.failures ?? 0) + 1;
    this.attempts.set(ip, { failures, retryAt: now + Math.min(2000, 100 * 2 ** Math.min(failures, 5)) });
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
