/**
 * The bad-input corpus of raw bytes against a real sanpathd with auth on: the cases are in
 * security-bad-input-wire-cases.ts, the daemon and the check in
 * security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { WIRE_CASES } from "./security-bad-input-wire-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: raw bytes", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(WIRE_CASES);
  });
});
