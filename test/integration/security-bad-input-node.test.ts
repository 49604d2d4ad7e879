/**
 * The bad-input corpus of NodeService against a real sanpathd with auth on: the cases are in
 * security-bad-input-node-cases.ts, the daemon and the check in
 * security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { nodeCases } from "./security-bad-input-node-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: NodeService", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(nodeCases(daemon.staleEpoch));
  });
});
