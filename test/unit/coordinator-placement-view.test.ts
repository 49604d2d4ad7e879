import { describe, expect, it } from "vitest";
import type { PathAssignment } from "../../src/assignment/assignment-model.js";
import { placeFreePaths } from "../../src/assignment/placement.js";
import { placementView, type PlacementContext } from "../../src/coordinator/placement-view.js";
import { node, path as fixturePath } from "../support/planner-fixtures.js";

/** Path `index` of disk `disk` on `on`: path 1 on subnet 1, the others on subnet 2. */
function path(disk: number, index: number, on: string): PathAssignment {
  return fixturePath(disk, index, on, index === 1 ? 1 : 2);
}

function context(overrides: Partial<PlacementContext> = {}): PlacementContext {
  return {
    targetOf: () => undefined,
    isWorking: () => false,
    acquiringOn: () => undefined,
    isWaiting: () => false,
    ...overrides,
  };
}

describe("placement view: what is under way counts where it is going", () => {
  // Disk 1: path 1 was on l (now dead: free), path 2 is on x (being drained) and the drain's
  // pending move takes it to w. w serves fewer paths than m.
  const nodes = [node("l", { online: false }), node("m"), node("w"), node("x", { cordoned: true })];
  const paths = [
    path(1, 1, ""),
    path(1, 2, "x"),
    path(2, 1, "m"),
    path(3, 1, "m"),
    path(4, 1, "m"),
    path(5, 1, "w"),
  ];
  const drainTarget = path(1, 2, "x").ip;

  it("a free path does not go to the node a pending job move is about to give another path of its disk", () => {
    // Without the job counted, w (fewest paths, none of disk 1 yet) gets it: two paths of disk 1
    // on w once the drain's move lands.
    expect(placeFreePaths(paths, nodes).placements.map((p) => `${p.ip}→${p.node}`)).toEqual([
      "198.51.100.11→w",
    ]);
    const view = placementView(paths, context({ targetOf: (ip) => (ip === drainTarget ? "w" : undefined) }));
    expect(view.paths.find((p) => p.ip === drainTarget)?.node).toBe("w");
    expect(placeFreePaths(view.paths, nodes).placements.map((p) => `${p.ip}→${p.node}`)).toEqual([
      "198.51.100.11→m",
    ]);
    expect([...view.toPlace]).toEqual(["198.51.100.11"]);
  });

  it("free paths a move works on, or an AcquirePath is asking for, are not placed again and count on their node", () => {
    const free = [path(1, 1, ""), path(2, 1, ""), path(3, 1, ""), path(4, 1, "m")];
    const view = placementView(
      free,
      context({
        isWorking: (ip) => ip === path(1, 1, "").ip,
        targetOf: (ip) => (ip === path(1, 1, "").ip ? "w" : undefined),
        acquiringOn: (ip) => (ip === path(2, 1, "").ip ? "m" : undefined),
        isWaiting: (ip) => ip === path(3, 1, "").ip,
      }),
    );
    expect(view.paths.map((p) => `${p.ip}@${p.node}`)).toEqual([
      "198.51.100.11@w",
      "198.51.100.21@m",
      "198.51.100.31@",
      "198.51.100.41@m",
    ]);
    // The waiting one is free (its retry comes) but not placed in this pass.
    expect([...view.toPlace]).toEqual([]);
    expect([...view.free].sort()).toEqual(["198.51.100.11", "198.51.100.21", "198.51.100.31"]);
  });
});
