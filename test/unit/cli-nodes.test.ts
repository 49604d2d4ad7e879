/** `sanpath nodes` (and `cluster info`): the table an operator reads, degraded nodes with the reason. */
import { describe, expect, it } from "vitest";
import { renderNodes } from "../../src/cli/commands/nodes.js";
import type { NodeSummary } from "../../src/gen/sanpath/v1/common.js";

const summary = (name: string, overrides: Partial<NodeSummary> = {}): NodeSummary => ({
  name,
  address: `192.0.2.1${name.length}:7410`,
  online: true,
  cordoned: false,
  pathCount: 3,
  subnets: [1, 2],
  version: "0.1.0",
  leader: false,
  degraded: false,
  degradedReason: "",
  ...overrides,
});

describe("renderNodes", () => {
  it("shows a degraded column and, under the table, why each degraded node is degraded", () => {
    const text = renderNodes([
      summary("a", { leader: true }),
      summary("b", { degraded: true, degradedReason: "the target daemon does not answer", pathCount: 0 }),
    ]);
    const [header, rowA, rowB, ...rest] = text.split("\n");
    expect(header?.split(/\s+/)).toContain("DEGRADED");
    expect(rowA).toMatch(/^a\s.*\bno\b/);
    expect(rowB?.split(/\s+/).slice(0, 6)).toEqual(["b", "192.0.2.11:7410", "yes", "no", "yes", "0"]);
    expect(rest).toEqual([
      "b is degraded (takes no paths until it recovers): the target daemon does not answer",
    ]);
  });

  it("adds nothing under the table when no node is degraded", () => {
    expect(renderNodes([summary("a")]).split("\n")).toHaveLength(2);
  });
});
