/**
 * The bad-input corpus: malformed and hostile requests across every RPC (wrong wire types and
 * truncated bytes, 1 MB strings, path traversal in names, out-of-range sizes and counts, unknown
 * nodes and jobs, a stale epoch, malformed records planted in Consul and in an image's metadata,
 * a message over the 4 MiB limit) against a real sanpathd with auth on. Each gets the right code
 * and a message naming the field; the daemon stays SERVING; Consul and the image store are
 * byte-for-byte what they were before.
 *
 * The cases are split by service into security-bad-input-<group>-cases.ts (disk, cluster,
 * assignment, node, and raw bytes on the wire: wire), each group sent by
 * security-bad-input-<group>.test.ts to a daemon of its own (set up and checked in
 * security-bad-input-support.ts). This file checks the corpus as a whole.
 */
import { describe, expect, it } from "vitest";
import { ASSIGNMENT_CASES } from "./security-bad-input-assignment-cases.js";
import { CLUSTER_CASES } from "./security-bad-input-cluster-cases.js";
import { DISK_CASES } from "./security-bad-input-disk-cases.js";
import { nodeCases } from "./security-bad-input-node-cases.js";
import type { Case } from "./security-bad-input-support.js";
import { contractMethods } from "./security-support.js";
import { WIRE_CASES } from "./security-bad-input-wire-cases.js";
import { EVENT_CASES } from "./security-bad-input-event-cases.js";

describe("bad-input corpus", () => {
  const methods = contractMethods();
  const corpus: Case[] = [
    ...DISK_CASES,
    ...CLUSTER_CASES,
    ...ASSIGNMENT_CASES,
    ...nodeCases(() => 0),
    ...EVENT_CASES,
    ...WIRE_CASES,
  ];

  it("has at least 50 cases over every service", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    const services = new Set(
      corpus.map(
        (entry) => methods.find((method) => method.path.endsWith(`/${entry.method}`))?.path.split("/")[1],
      ),
    );
    expect([...services].sort()).toEqual([
      "sanpath.v1.AssignmentService",
      "sanpath.v1.ClusterService",
      "sanpath.v1.DiskService",
      "sanpath.v1.EventService",
      "sanpath.v1.NodeService",
    ]);
  });
});
