import { HeldSlots, type NodeCallSlots } from "./node-call-slots.js";

export interface MoveSchedulerOptions<T> {
  /** Moves in flight at once (the job's parallelism). */
  readonly parallelism: number;
  readonly slots: NodeCallSlots;
  /** The nodes a move calls: its source (CleanPath) and its target (AcquirePath); "" for none. */
  nodesOf(item: T): readonly [source: string, target: string];
  /** False: the move is dropped without starting (a cancel drops pending moves). */
  keep(item: T): boolean;
  /**
   * Runs one move with a slot taken on its source and its target. It may give a slot back early
   * (the source's after CleanPath) or take another (the path is somewhere else now); whatever it
   * still holds is given back when it ends.
   */
  run(item: T, held: HeldSlots): Promise<void>;
  /** Aborted: nothing more starts; run() resolves once the moves in flight have ended. */
  readonly signal: AbortSignal;
}

/**
 * Starts a job's moves up to its parallelism, each only when its source and its target both have
 * a free call slot (NodeCallSlots), so the parallelism spreads over the nodes instead of piling up
 * on one. Moves of one (source, target) pair start in their order; a pair whose nodes are busy
 * does not hold up other pairs. The moves given first (a previous coordinator's moves under way)
 * are considered first.
 */
export class MoveScheduler<T> {
  private readonly options: MoveSchedulerOptions<T>;
  /** Per "source→target", the moves not started yet, in order. */
  private readonly pairs = new Map<string, T[]>();
  private waiting = 0;
  private running = 0;
  private pumping = false;
  private pumpAgain = false;
  private finish: (() => void) | undefined;

  constructor(items: Iterable<T>, options: MoveSchedulerOptions<T>) {
    this.options = options;
    for (const item of items) {
      const [source, target] = options.nodesOf(item);
      const key = `${source}→${target}`;
      let queue = this.pairs.get(key);
      if (queue === undefined) {
        queue = [];
        this.pairs.set(key, queue);
      }
      queue.push(item);
      this.waiting++;
    }
  }

  /** Moves not started yet. */
  get pending(): number {
    return this.waiting;
  }

  /** Runs every move; resolves when none is left to start and none is in flight. */
  run(): Promise<void> {
    const { slots, signal } = this.options;
    return new Promise<void>((resolve) => {
      const stopListening = slots.onRelease(() => {
        this.pump();
      });
      const onAbort = (): void => {
        this.pump();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.finish = () => {
        stopListening();
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      this.pump();
    });
  }

  /** Looks again at the moves not started (after keep() may have changed its answers). */
  recheck(): void {
    for (const [key, queue] of this.pairs) {
      const kept = queue.filter((item) => this.options.keep(item));
      this.waiting -= queue.length - kept.length;
      if (kept.length === 0) this.pairs.delete(key);
      else this.pairs.set(key, kept);
    }
    this.pump();
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      let again = true;
      while (again) {
        this.pumpAgain = false;
        this.startWhatFits();
        again = this.wasPokedMeanwhile();
      }
    } finally {
      this.pumping = false;
    }
    if (this.running === 0 && (this.waiting === 0 || this.options.signal.aborted)) {
      const finish = this.finish;
      this.finish = undefined;
      finish?.();
    }
  }

  /** A release came in while starting moves (pump() re-entered). */
  private wasPokedMeanwhile(): boolean {
    return this.pumpAgain;
  }

  private startWhatFits(): void {
    const { parallelism, slots, signal } = this.options;
    if (signal.aborted) return;
    for (const [key, queue] of this.pairs) {
      if (this.running >= parallelism) return;
      for (;;) {
        const item = queue[0];
        if (item === undefined) break;
        if (!this.options.keep(item)) {
          queue.shift();
          this.waiting--;
          continue;
        }
        if (this.running >= parallelism) return;
        const nodes = this.options.nodesOf(item);
        if (!slots.tryTake(nodes)) break;
        queue.shift();
        this.waiting--;
        this.start(item, new HeldSlots(slots, nodes));
      }
      if (queue.length === 0) this.pairs.delete(key);
    }
  }

  private start(item: T, held: HeldSlots): void {
    this.running++;
    const ended = (): void => {
      this.running--;
      held.releaseAll();
      this.pump();
    };
    let running: Promise<void>;
    try {
      running = this.options.run(item, held);
    } catch {
      running = Promise.resolve();
    }
    running.then(ended, ended);
  }
}
