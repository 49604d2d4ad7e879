import { describe, expect, it } from "vitest";
import { interleaveByDisk } from "../../src/assignment/move-order.js";

describe("move order: a job's moves start one path of each disk in turn", () => {
  it("takes one path of each disk per round, keeping disk order and each disk's path order", () => {
    const moves = [
      { diskId: "00001", index: 1 },
      { diskId: "00001", index: 2 },
      { diskId: "00001", index: 3 },
      { diskId: "00002", index: 1 },
      { diskId: "00003", index: 1 },
      { diskId: "00003", index: 2 },
    ];
    expect(interleaveByDisk(moves).map((move) => `${move.diskId}/${move.index}`)).toEqual([
      "00001/1",
      "00002/1",
      "00003/1",
      "00001/2",
      "00003/2",
      "00001/3",
    ]);
  });

  it("keeps every move exactly once (none, one, one disk)", () => {
    expect(interleaveByDisk([])).toEqual([]);
    const oneDisk = [1, 2, 3].map((index) => ({ diskId: "00009", index }));
    expect(interleaveByDisk(oneDisk)).toEqual(oneDisk);
  });
});
