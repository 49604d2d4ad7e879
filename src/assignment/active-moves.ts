import { isFinalJobPathStatus, type JobPathRecord } from "./job-record.js";

/**
 * What the coordinator's job runner is doing, shared with its placement loop (one per term):
 * the job it loaded, the paths a move is working on (placement leaves them alone), and the target
 * of every move not finished yet (placement counts the path there already, so that it does not
 * give the target another path of the same disk while the job is about to).
 */
export class ActiveMoves {
  private loaded: string | undefined;
  private readonly working = new Set<string>();
  private readonly targets = new Map<string, string>();

  /** The job whose moves are listed; undefined while this coordinator has loaded none. */
  get jobId(): string | undefined {
    return this.loaded;
  }

  /**
   * The runner took the job over. Moves a previous coordinator had under way count as worked on
   * from now: their path may be free between CleanPath and AcquirePath, and is the job's to place.
   */
  load(jobId: string, records: readonly JobPathRecord[]): void {
    this.unload();
    this.loaded = jobId;
    for (const record of records) {
      if (isFinalJobPathStatus(record.status)) continue;
      this.targets.set(record.ip, record.targetNode);
      if (record.status === "moving") this.working.add(record.ip);
    }
  }

  unload(): void {
    this.loaded = undefined;
    this.working.clear();
    this.targets.clear();
  }

  /** A move of `ip` starts. */
  begin(ip: string): void {
    this.working.add(ip);
  }

  /** The move of `ip` ended (succeeded, failed or dropped): placement may place the path again. */
  end(ip: string): void {
    this.working.delete(ip);
    this.targets.delete(ip);
  }

  /** The unfinished move of `ip` was re-planned to `node`. */
  retarget(ip: string, node: string): void {
    if (this.targets.has(ip)) this.targets.set(ip, node);
  }

  isWorking(ip: string): boolean {
    return this.working.has(ip);
  }

  /** Target of the unfinished move of `ip`, if any. */
  targetOf(ip: string): string | undefined {
    return this.targets.get(ip);
  }
}
