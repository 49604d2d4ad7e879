/**
 * The bad-input corpus of ClusterService against a real sanpathd with auth on: the cases are in
 * security-bad-input-cluster-cases.ts, the daemon and the check in
 * security-bad-input-support.ts.
 */
import { describe, it } from "vitest";
import { CLUSTER_CASES } from "./security-bad-input-cluster-cases.js";
import { useBadInputDaemon } from "./security-bad-input-support.js";

describe("bad-input corpus: ClusterService", () => {
  const daemon = useBadInputDaemon();

  it("answers each with the right code, naming the field, changes nothing and stays up", async () => {
    await daemon.expectEachAnswered(CLUSTER_CASES);
  });
});
