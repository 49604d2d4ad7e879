import { describe, expect, it } from "vitest";
import { renderImport } from "../../src/cli/commands/disk-render.js";
import { ImportOutcome, type ImportedDisk } from "../../src/gen/sanpath/v1/disk.js";

function row(id: string, outcome: ImportOutcome, extra: Partial<ImportedDisk> = {}): ImportedDisk {
  return {
    id,
    name: `disk-${id}`,
    pool: "rbd",
    ips: ["198.51.100.10"],
    sizeGib: 1,
    outcome,
    added: [],
    detail: "",
    field: "",
    running: false,
    ...extra,
  };
}

describe("sanpath disk import output", () => {
  it("shows each disk's result with what was added or why it was skipped, then the counts", () => {
    const text = renderImport({
      pool: "rbd",
      dryRun: false,
      disks: [
        row("00001", ImportOutcome.IMPORT_OUTCOME_IMPORTED, {
          added: ["reservations", "name"],
          running: true,
        }),
        row("00002", ImportOutcome.IMPORT_OUTCOME_SKIPPED, {
          field: "paths[0].ip",
          detail: "must be an IPv4 address",
        }),
        row("00003", ImportOutcome.IMPORT_OUTCOME_ALREADY_REGISTERED),
      ],
    });
    expect(text.split("\n")).toEqual([
      "pool rbd",
      "ID     NAME        PATHS          SERVED  RESULT              DETAIL",
      "00001  disk-00001  198.51.100.10  yes     imported            added reservations, name",
      "00002  disk-00002  198.51.100.10  no      skipped             paths[0].ip: must be an IPv4 address",
      "00003  disk-00003  198.51.100.10  no      already registered",
      "",
      "1 imported, 1 skipped, 1 already registered; imported disks that had no disk key are stopped: `sanpath disk start <disk>` serves them",
    ]);
  });

  it("says a dry run changed nothing, and names the pool when it holds no disk image", () => {
    const text = renderImport({ pool: "ssd", dryRun: true, disks: [] });
    expect(text).toContain("(no disk images in pool ssd)");
    expect(text).toContain("nothing found; dry run: nothing was changed");
  });
});
