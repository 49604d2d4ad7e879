import { performance } from "node:perf_hooks";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { AddressChange, AddressWatch } from "../net/address-watch.js";
import { isAborted } from "../util/abort.js";
import { pause } from "../util/pause.js";
import type { LocalPath, PathJournal } from "./path-journal.js";
import { presenceOf, type PathSetup } from "./path-setup.js";

/** A served path that is not (fully) there. */
export interface DataPathDrift {
  readonly diskId: string;
  readonly index: number;
  readonly ip: string;
  readonly ipPresent: boolean;
  readonly portalEnabled: boolean;
}

/** What the last probe found. */
export interface DataPathHealth {
  /** When the last probe ended (undefined before the first). */
  readonly checkedAt: Date | undefined;
  /** The target daemon and the network answered the last probe. */
  readonly answering: boolean;
  readonly drifted: readonly DataPathDrift[];
  /** Probes that found drift and asked for a repair, since start. */
  readonly repairsAsked: number;
  readonly lastError: string | undefined;
  /** False once the data path has been in trouble (not answering, or drifted) for unhealthyAfterMs. */
  readonly healthy: boolean;
  /** Why it is not healthy ("" when it is). */
  readonly reason: string;
}

export interface DataPathProbeOptions {
  setup: PathSetup;
  journal: PathJournal;
  logger: Logger;
  intervalMs: number;
  /** A probe that takes longer counts as not answering (default max(1 s, 2 × interval)). */
  timeoutMs?: number;
  /** Served paths are not all there: repair them (a fresh reconcile pass). */
  onDrift: (drifted: readonly DataPathDrift[]) => void;
  /** How long trouble may last before the data path counts as unhealthy (default 3 s). */
  unhealthyAfterMs?: number;
  /** The verdict changed (health reporting). */
  onHealthChange?: (healthy: boolean, reason: string) => void;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /**
   * Address changes (netlink): one that may have taken a served path's IP away wakes the probe at
   * once instead of at its next interval.
   */
  addressWatch?: AddressWatch;
}

/**
 * Checks every `intervalMs` that each path the journal says is served is really there, as an
 * initiator needs it: its IP on the interface, its portal enabled on its target. It reads the node
 * afresh (not what the drivers believe, and not queued behind the drivers' operations), so an IP
 * deleted by hand, a portal unbound or a target removed behind sanpathd's back is seen within one
 * interval, and `onDrift` asks for the repair at once instead of at the next periodic reconcile.
 * With nothing served it still asks the target daemon and the network, so a node whose target
 * daemon is dead is judged unhealthy (and degraded, degraded-mode.ts) before anything is placed on
 * it.
 */
export class DataPathProbe {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private health: DataPathHealth = {
    checkedAt: undefined,
    answering: true,
    drifted: [],
    repairsAsked: 0,
    lastError: undefined,
    healthy: true,
    reason: "",
  };
  /** When the current trouble began (monotonic ms); undefined while the data path is fine. */
  private troubleSince: number | undefined;
  private readonly now: () => number;
  /** Aborted to end the current wait early (an address changed). */
  private wake = new AbortController();

  constructor(private readonly options: DataPathProbeOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get current(): DataPathHealth {
    return this.health;
  }

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.options.addressWatch?.stop();
    await this.loop;
  }

  /** One probe now; resolves with what it found. */
  async probe(): Promise<DataPathHealth> {
    const servedBefore = new Set(this.options.journal.served());
    const { intervalMs } = this.options;
    const timeoutMs = this.options.timeoutMs ?? Math.max(1000, 2 * intervalMs);
    try {
      const observed = await this.options.setup.observe(
        AbortSignal.any([this.stopping.signal, AbortSignal.timeout(timeoutMs)]),
        // Not behind the node's own operations in flight: under a drain of hundreds of paths they
        // queue for seconds, and a probe waiting for them judged a busy target daemon dead.
        "snapshot",
      );
      // Only paths served all along: one set up or torn down meanwhile may be caught half-way.
      const served = this.options.journal.served().filter((entry) => servedBefore.has(entry));
      const drifted = served.flatMap((entry) => driftOf(entry, presenceOf(entry, observed)));
      this.record(true, drifted, undefined);
    } catch (error) {
      if (this.stopping.signal.aborted) return this.health;
      this.record(false, [], errorMessage(error));
    }
    return this.health;
  }

  private record(answering: boolean, drifted: DataPathDrift[], lastError: string | undefined): void {
    const before = this.health;
    if (before.answering && !answering) {
      this.options.logger.warn(
        { err: lastError },
        "data path: the target daemon or the network does not answer",
      );
    } else if (!before.answering && answering) {
      this.options.logger.info("data path: answering again");
    }
    let repairsAsked = before.repairsAsked;
    if (drifted.length > 0) {
      repairsAsked += 1;
      if (before.drifted.length === 0) {
        this.options.logger.warn(
          { paths: drifted.map((drift) => `${drift.diskId}/${drift.index} ${drift.ip}`) },
          "data path: served paths are not all there; repairing",
        );
      }
      this.options.onDrift(drifted);
    } else if (before.drifted.length > 0 && answering) {
      this.options.logger.info("data path: every served path is there again");
    }
    this.health = { ...before, checkedAt: new Date(), answering, drifted, repairsAsked, lastError };
    this.judge();
  }

  /** Unhealthy once trouble has lasted unhealthyAfterMs; healthy again at the first clean probe. */
  private judge(): void {
    const { answering, drifted } = this.health;
    const trouble = !answering
      ? `the target daemon or the network does not answer (${this.health.lastError ?? "no answer"})`
      : drifted.length > 0
        ? `served paths not all there: ${drifted.map((drift) => drift.ip).join(", ")}`
        : "";
    if (trouble === "") this.troubleSince = undefined;
    else this.troubleSince ??= this.now();
    const unhealthy =
      this.troubleSince !== undefined &&
      this.now() - this.troubleSince >= (this.options.unhealthyAfterMs ?? 3000);
    const healthy = !unhealthy;
    const reason = healthy ? "" : trouble;
    const changed = healthy !== this.health.healthy;
    this.health = { ...this.health, healthy, reason };
    if (!changed) return;
    if (healthy) this.options.logger.info("data path healthy again");
    else this.options.logger.error({ reason }, "data path unhealthy");
    this.options.onHealthChange?.(healthy, reason);
  }

  private async run(): Promise<void> {
    this.options.addressWatch?.start((change) => {
      if (this.mayHaveDrifted(change)) this.wake.abort();
    });
    while (!this.stopping.signal.aborted) {
      await pause(this.options.intervalMs, AbortSignal.any([this.stopping.signal, this.wake.signal]));
      if (isAborted(this.stopping.signal)) return;
      // A change during the probe wakes the next wait at once: the probe may have read before it.
      this.wake = new AbortController();
      await this.probe();
    }
  }

  /**
   * Only a deletion of a served path's IP (or a change the watch could not name) can be drift. The
   * node's own changes are not: an IP it adds is not served yet, and one it removes is "cleaning"
   * first. Waking on those made a drain of a few hundred paths read the target daemon afresh, alone,
   * after every move's IP removal, and every path operation queued behind those reads.
   */
  private mayHaveDrifted(change: AddressChange | undefined): boolean {
    if (change === undefined) return true;
    return change.kind === "deleted" && this.options.journal.byIp(change.ip)?.state === "served";
  }
}

function driftOf(
  entry: LocalPath,
  presence: { ipPresent: boolean; portalEnabled: boolean },
): DataPathDrift[] {
  if (presence.ipPresent && presence.portalEnabled) return [];
  return [{ diskId: entry.diskId, index: entry.index, ip: entry.ip, ...presence }];
}
