/**
 * The bad-input corpus of DiskService against a real sanpathd with auth on: the cases are in
 * security-bad-input-disk-cases.ts, the daemon and the check in
 * security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { DISK_CASES } from "./security-bad-input-disk-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: DiskService", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(DISK_CASES);
  });
});
