import { describe, expect, it } from "vitest";
import { formatSizeGib, parseSizeGib } from "../../src/cli/commands/disk-size.js";
import { UsageError } from "../../src/cli/errors.js";

describe("sanpath disk sizes", () => {
  it("reads GiB with binary units, any case, a bare number being GiB", () => {
    const cases: [string, number][] = [
      ["100G", 100],
      ["100g", 100],
      ["100GiB", 100],
      ["100GB", 100],
      ["512", 512],
      ["1T", 1024],
      ["1.5T", 1536],
      ["2tib", 2048],
      ["1P", 1_048_576],
      [" 7G ", 7],
    ];
    for (const [text, gib] of cases) expect({ text, gib: parseSizeGib(text) }).toEqual({ text, gib });
  });

  it("refuses what is not a positive whole number of GiB, naming the option", () => {
    for (const text of ["", "0", "0G", "10M", "1.5G", "-1G", "abc", "1e3", "1TT"]) {
      expect(() => parseSizeGib(text, "--size")).toThrow(UsageError);
      expect(() => parseSizeGib(text, "--size")).toThrow(/--size/);
    }
  });

  it("prints sizes in the largest whole unit", () => {
    expect([formatSizeGib(100), formatSizeGib(1024), formatSizeGib(1536), formatSizeGib(1_048_576)]).toEqual([
      "100G",
      "1T",
      "1536G",
      "1P",
    ]);
  });
});
