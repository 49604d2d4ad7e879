/** RaftLeaderChanges: listeners hear of a new raft leader only, not of the first one seen or of "none". */
import { describe, expect, it } from "vitest";
import { RaftLeaderChanges } from "../../src/server/raft-leader-changes.js";

describe("RaftLeaderChanges", () => {
  it("tells its listeners of a leader other than the last one named, and sums what they ended", () => {
    const changes = new RaftLeaderChanges();
    const heard: string[] = [];
    changes.subscribe((leader, previous) => {
      heard.push(`${previous}->${leader}`);
      return 2;
    });
    const unsubscribe = changes.subscribe(() => 1);
    expect(changes.observe("10.0.0.1:8300")).toBeUndefined();
    expect(changes.observe("10.0.0.1:8300")).toBeUndefined();
    // No leader for a while (an election) is not a change; the same leader after it is none either.
    expect(changes.observe("")).toBeUndefined();
    expect(changes.observe("10.0.0.1:8300")).toBeUndefined();
    expect(changes.observe("10.0.0.2:8300")).toBe(3);
    unsubscribe();
    expect(changes.observe("")).toBeUndefined();
    expect(changes.observe("10.0.0.3:8300")).toBe(2);
    expect(heard).toEqual(["10.0.0.1:8300->10.0.0.2:8300", "10.0.0.2:8300->10.0.0.3:8300"]);
  });
});
