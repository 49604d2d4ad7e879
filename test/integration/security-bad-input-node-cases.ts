/**
 * The bad-input corpus of NodeService, called as a cluster member: ids, indexes, targets and a
 * stale epoch.
 */
import { AcquirePathRequest, CleanPathRequest, StatusRequest } from "../../src/gen/sanpath/v1/node.js";
import { bytes, type Case } from "./security-bad-input-support.js";

/** The cases; `staleEpoch` gives the epoch one below the highest the node has seen. */
export const nodeCases = (staleEpoch: () => number): Case[] => [
  {
    what: "empty disk id",
    method: "AcquirePath",
    role: "node",
    body: bytes(AcquirePathRequest, { diskId: "", index: 1 }),
    code: "INVALID_ARGUMENT",
    field: "disk_id",
  },
  {
    what: "index 0",
    method: "AcquirePath",
    role: "node",
    body: bytes(AcquirePathRequest, { diskId: "00001", index: 0 }),
    code: "INVALID_ARGUMENT",
    field: "path_index",
  },
  {
    what: "path traversal disk id",
    method: "AcquirePath",
    role: "node",
    body: bytes(AcquirePathRequest, { diskId: "../../etc", index: 1 }),
    code: "INVALID_ARGUMENT",
    field: "disk_id",
  },
  {
    what: "a stale epoch",
    method: "AcquirePath",
    role: "node",
    body: () => bytes(AcquirePathRequest, { epoch: staleEpoch(), diskId: "00001", index: 1 }),
    code: "ABORTED",
    reason: "STALE_EPOCH",
  },
  {
    what: "a stale epoch",
    method: "CleanPath",
    role: "node",
    body: () => bytes(CleanPathRequest, { epoch: staleEpoch(), ip: "198.51.100.10" }),
    code: "ABORTED",
    reason: "STALE_EPOCH",
  },
  {
    what: "no target",
    method: "CleanPath",
    role: "node",
    body: bytes(CleanPathRequest, {}),
    code: "INVALID_ARGUMENT",
    field: "target",
  },
  {
    what: "not an IP",
    method: "CleanPath",
    role: "node",
    body: bytes(CleanPathRequest, { ip: "../../etc" }),
    code: "INVALID_ARGUMENT",
    field: "ip",
  },
  {
    what: "a stale epoch",
    method: "Status",
    role: "node",
    body: () => bytes(StatusRequest, { epoch: staleEpoch() }),
    code: "ABORTED",
    reason: "STALE_EPOCH",
  },
];
