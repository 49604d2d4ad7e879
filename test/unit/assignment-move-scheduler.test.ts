import { describe, expect, it } from "vitest";
import { MoveScheduler } from "../../src/assignment/move-scheduler.js";
import { HeldSlots, NodeCallSlots } from "../../src/assignment/node-call-slots.js";

interface Move {
  readonly id: number;
  readonly source: string;
  readonly target: string;
}

/** A move that ends when the test says so. */
interface Started {
  readonly move: Move;
  readonly held: HeldSlots;
  finish(): void;
}

function moves(count: number, source: string, targets: readonly string[], first = 0): Move[] {
  return Array.from({ length: count }, (_, i) => ({
    id: first + i,
    source,
    target: targets[i % targets.length] ?? "",
  }));
}

/** A scheduler whose moves wait for finish(); records the peak calls in flight per node. */
function harness(
  items: Move[],
  options: { parallelism: number; perNode: number; keep?: (move: Move) => boolean; signal?: AbortSignal },
) {
  const slots = new NodeCallSlots(options.perNode);
  const started: Started[] = [];
  const peak = new Map<string, number>();
  const notePeaks = (): void => {
    for (const node of ["x", "y", "z", "a", "b"]) {
      peak.set(node, Math.max(peak.get(node) ?? 0, slots.count(node)));
    }
  };
  const scheduler = new MoveScheduler(items, {
    parallelism: options.parallelism,
    slots,
    nodesOf: (move) => [move.source, move.target],
    keep: options.keep ?? (() => true),
    run: (move, held) =>
      new Promise<void>((resolve) => {
        notePeaks();
        started.push({ move, held, finish: resolve });
      }),
    signal: options.signal ?? new AbortController().signal,
  });
  const done = scheduler.run();
  const running = (): Started[] => started.filter((entry) => !finished.has(entry));
  const finished = new Set<Started>();
  const finishOne = async (entry: Started | undefined): Promise<void> => {
    if (entry === undefined) throw new Error("nothing running");
    finished.add(entry);
    entry.finish();
    await flush();
  };
  return { slots, started, peak, scheduler, done, running, finishOne };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe("MoveScheduler: a job's parallelism spread over the nodes' call slots", () => {
  it("a drain with parallelism 64 never has more calls on the source than its slots; every move runs once", async () => {
    const items = moves(40, "x", ["y", "z"]);
    const run = harness(items, { parallelism: 64, perNode: 4 });
    await flush();
    expect(run.running()).toHaveLength(4);
    while (run.running().length > 0) await run.finishOne(run.running()[0]);
    await run.done;
    expect(run.started.map((entry) => entry.move.id).sort((p, q) => p - q)).toEqual(items.map((m) => m.id));
    expect(run.peak.get("x")).toBe(4);
    expect(run.slots.count("x")).toBe(0);
    expect(run.slots.count("y") + run.slots.count("z")).toBe(0);
  });

  it("a move that gives its source slot back after CleanPath lets the next CleanPath start during its AcquirePath", async () => {
    const run = harness(moves(3, "x", ["y"]), { parallelism: 3, perNode: 1 });
    await flush();
    expect(run.running().map((entry) => entry.move.id)).toEqual([0]);
    run.running()[0]?.held.release("x");
    await flush();
    // Move 1 needs x (free now) and y (still held by move 0's AcquirePath): it waits for y.
    expect(run.running().map((entry) => entry.move.id)).toEqual([0]);
    await run.finishOne(run.running()[0]);
    expect(run.running().map((entry) => entry.move.id)).toEqual([1]);
  });

  it("moves between idle nodes are not held up behind a busy source", async () => {
    const items = [...moves(5, "x", ["y"]), ...moves(1, "a", ["b"], 100)];
    const run = harness(items, { parallelism: 8, perNode: 1 });
    await flush();
    expect(
      run
        .running()
        .map((entry) => entry.move.id)
        .sort((p, q) => p - q),
    ).toEqual([0, 100]);
  });

  it("the job's parallelism bounds the moves in flight over all nodes", async () => {
    const items = [...moves(4, "x", ["y"]), ...moves(4, "a", ["b"], 100)];
    const run = harness(items, { parallelism: 3, perNode: 8 });
    await flush();
    expect(run.running()).toHaveLength(3);
    await run.finishOne(run.running()[0]);
    expect(run.running()).toHaveLength(3);
  });

  it("slots held by others (the placement loop) are respected; a waiting placement call goes before the next move", async () => {
    const run = harness(moves(2, "x", ["y"]), { parallelism: 4, perNode: 1 });
    await flush();
    expect(run.running().map((entry) => entry.move.id)).toEqual([0]);
    let placed = false;
    const placement = run.slots.take(["y"], new AbortController().signal).then(() => {
      placed = true;
    });
    await run.finishOne(run.running()[0]);
    await placement;
    expect(placed).toBe(true);
    // y is the placement call's now: move 1 waits for it.
    expect(run.running()).toEqual([]);
    run.slots.release("y");
    await flush();
    expect(run.running().map((entry) => entry.move.id)).toEqual([1]);
    await run.finishOne(run.running()[0]);
    await run.done;
  });

  it("a cancel drops the moves not started (recheck), lets those in flight end, and then resolves", async () => {
    let cancelled = false;
    const run = harness(moves(10, "x", ["y"]), { parallelism: 10, perNode: 2, keep: () => !cancelled });
    await flush();
    expect(run.running()).toHaveLength(2);
    cancelled = true;
    run.scheduler.recheck();
    expect(run.scheduler.pending).toBe(0);
    await run.finishOne(run.running()[0]);
    await run.finishOne(run.running()[0]);
    await run.done;
    expect(run.started).toHaveLength(2);
  });

  it("an aborted term starts nothing more and resolves once the moves in flight end", async () => {
    const term = new AbortController();
    const run = harness(moves(10, "x", ["y"]), { parallelism: 10, perNode: 2, signal: term.signal });
    await flush();
    term.abort();
    let resolved = false;
    void run.done.then(() => {
      resolved = true;
    });
    await run.finishOne(run.running()[0]);
    expect(resolved).toBe(false);
    await run.finishOne(run.running()[0]);
    await run.done;
    expect(run.started).toHaveLength(2);
    expect(run.slots.count("x")).toBe(0);
  });
});

describe("NodeCallSlots", () => {
  it("takes a slot on every node of a call at once or on none", () => {
    const slots = new NodeCallSlots(1);
    expect(slots.tryTake(["x", "y"])).toBe(true);
    expect(slots.tryTake(["y", "z"])).toBe(false);
    expect(slots.count("z")).toBe(0);
    expect(slots.tryTake(["z", ""])).toBe(true);
    expect(slots.hasRoom(["x"])).toBe(false);
  });

  it("waiters get slots in arrival order as they free up; an aborted waiter is dropped", async () => {
    const slots = new NodeCallSlots(1);
    expect(slots.tryTake(["x"])).toBe(true);
    const order: string[] = [];
    const gone = new AbortController();
    const first = slots.take(["x"], new AbortController().signal).then(() => order.push("first"));
    const dropped = slots.take(["x"], gone.signal).catch((error: unknown) => {
      order.push(`dropped: ${(error as Error).message}`);
    });
    const third = slots.take(["x"], new AbortController().signal).then(() => order.push("third"));
    gone.abort();
    await dropped;
    slots.release("x");
    await first;
    slots.release("x");
    await third;
    expect(order).toEqual([
      "dropped: cancelled while waiting for a free call slot on the node",
      "first",
      "third",
    ]);
    expect(slots.count("x")).toBe(1);
  });

  it("exchange (the path is on another node than planned): holds exactly the new nodes, and nothing while it waits", async () => {
    const slots = new NodeCallSlots(1);
    const signal = new AbortController().signal;
    expect(slots.tryTake(["x", "t"])).toBe(true);
    const held = new HeldSlots(slots, ["x", "t"]);
    expect(slots.tryTake(["h"])).toBe(true);
    const exchanging = held.exchange(["h", "t"], signal);
    await flush();
    // Waiting for h while holding t could deadlock with a move holding h and waiting for t.
    expect([slots.count("x"), slots.count("t")]).toEqual([0, 0]);
    slots.release("h");
    await exchanging;
    expect([held.has("h"), held.has("t"), held.has("x")]).toEqual([true, true, false]);
    await held.exchange(["", "t"], signal);
    expect([slots.count("h"), slots.count("t")]).toEqual([0, 1]);
    held.releaseAll();
    expect(slots.count("t")).toBe(0);
  });

  it("refuses a bound below one", () => {
    expect(() => new NodeCallSlots(0)).toThrow(/callsPerNode/);
  });
});
