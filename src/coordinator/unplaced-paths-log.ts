import type { Logger } from "../log/logger.js";

/** A free path no node could take in a pass, and why. */
export interface UnplacedPathNote {
  readonly ip: string;
  readonly diskId: string;
  readonly index: number;
  readonly reason: string;
}

/** The most IPs a summary lists; the count says how many there are. */
const SUMMARY_SAMPLE = 10;

/**
 * What the placement loop logs about free paths it cannot place. Passes run every few hundred ms
 * and retry such paths every 2 s, so a line per path per pass floods the log (3,200 lines a minute
 * with ~110 such paths). Instead: one line when a path becomes unplaceable or its reason changes,
 * one when a node can take it again, and every `summaryEveryMs` while any are left, one summary.
 */
export class UnplacedPathsLog {
  /** The reason each path was last logged unplaceable with, by IP. */
  private readonly unplaced = new Map<string, UnplacedPathNote>();
  private lastSummaryAt: number | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly summaryEveryMs: number,
  ) {}

  /**
   * After a pass: `unplaced` are the paths it tried and could not place, `placeable` those it
   * chose a node for, `free` every path still free (whether tried this pass or waiting).
   */
  afterPass(
    unplaced: readonly UnplacedPathNote[],
    placeable: readonly string[],
    free: ReadonlySet<string>,
    now: number,
  ): void {
    for (const path of unplaced) {
      const before = this.unplaced.get(path.ip);
      if (before?.reason === path.reason) continue;
      this.unplaced.set(path.ip, path);
      this.logger.warn(
        { ip: path.ip, diskId: path.diskId, index: path.index, reason: path.reason },
        "free path not placed",
      );
    }
    for (const ip of placeable) {
      const before = this.unplaced.get(ip);
      if (before === undefined) continue;
      this.unplaced.delete(ip);
      this.logger.info({ ip, diskId: before.diskId, index: before.index }, "free path can be placed again");
    }
    // Paths no longer free (placed by a job, or their disk stopped) are no longer anyone's worry.
    for (const ip of this.unplaced.keys()) if (!free.has(ip)) this.unplaced.delete(ip);
    this.summarise(now);
  }

  private summarise(now: number): void {
    if (this.unplaced.size === 0) {
      this.lastSummaryAt = undefined;
      return;
    }
    if (this.lastSummaryAt === undefined) {
      this.lastSummaryAt = now;
      return;
    }
    if (now - this.lastSummaryAt < this.summaryEveryMs) return;
    this.lastSummaryAt = now;
    const byReason: Record<string, number> = {};
    for (const path of this.unplaced.values()) byReason[path.reason] = (byReason[path.reason] ?? 0) + 1;
    const ips = [...this.unplaced.keys()].sort().slice(0, SUMMARY_SAMPLE);
    this.logger.warn({ count: this.unplaced.size, byReason, ips }, "free paths still not placed");
  }
}
