/**
 * The bad-input corpus of AssignmentService against a real sanpathd with auth on: the cases are in
 * security-bad-input-assignment-cases.ts, the daemon and the check in
 * security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { ASSIGNMENT_CASES } from "./security-bad-input-assignment-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: AssignmentService", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(ASSIGNMENT_CASES);
  });
});
