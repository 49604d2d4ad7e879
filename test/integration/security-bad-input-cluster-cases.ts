/**
 * The bad-input corpus of ClusterService: settings, and nodes that are unknown, damaged or far
 * too long.
 */
import {
  CordonNodeRequest,
  DrainNodeRequest,
  InitClusterRequest,
  UncordonNodeRequest,
} from "../../src/gen/sanpath/v1/cluster.js";
import { bytes, MB, settings, type Case } from "./security-bad-input-support.js";

export const CLUSTER_CASES: Case[] = [
  {
    what: "no settings",
    method: "InitCluster",
    body: bytes(InitClusterRequest, {}),
    code: "INVALID_ARGUMENT",
    field: "settings",
  },
  {
    what: "not a CIDR",
    method: "InitCluster",
    body: settings({ network: "not-a-cidr" }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.network",
  },
  {
    what: "VLAN 5000",
    method: "InitCluster",
    body: settings({ vlanId: 5000 }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.vlan_id",
  },
  {
    what: "1 MB IQN base",
    method: "InitCluster",
    body: settings({}, { iqnBase: MB }),
    code: "INVALID_ARGUMENT",
    field: "settings.iqn_base",
  },
  {
    what: "a multicast subnet",
    method: "InitCluster",
    body: settings({ network: "224.0.0.0/24", autoIpFrom: "224.0.0.10", autoIpTo: "224.0.0.20" }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.network",
    says: "multicast",
  },
  {
    what: "a loopback subnet on lo",
    method: "InitCluster",
    body: settings({
      network: "127.0.0.0/24",
      autoIpFrom: "127.0.0.10",
      autoIpTo: "127.0.0.20",
      interface: "lo",
    }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.network",
    says: "loopback",
  },
  {
    what: "the loopback interface",
    method: "InitCluster",
    body: settings({ interface: "lo" }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.interface",
    says: "loopback interface",
  },
  {
    what: "a bell and an escape sequence in the interface, echoed escaped",
    method: "InitCluster",
    body: settings({ interface: "e\u0007\u001b[2J" }),
    code: "INVALID_ARGUMENT",
    field: "settings.subnet1.interface",
    says: '"e\\u0007\\u001b[2J"',
  },
  {
    what: "subnets disks use",
    method: "InitCluster",
    body: settings({ network: "192.0.2.0/24", autoIpFrom: "192.0.2.10", autoIpTo: "192.0.2.20" }),
    code: "FAILED_PRECONDITION",
    reason: "SUBNET_IN_USE",
  },
  {
    what: "empty node",
    method: "CordonNode",
    body: bytes(CordonNodeRequest, { node: "" }),
    code: "INVALID_ARGUMENT",
    field: "node",
  },
  {
    what: "unknown node",
    method: "CordonNode",
    body: bytes(CordonNodeRequest, { node: "nobody" }),
    code: "NOT_FOUND",
    reason: "NODE_NOT_FOUND",
  },
  {
    what: "path traversal node",
    method: "UncordonNode",
    body: bytes(UncordonNodeRequest, { node: "../../etc" }),
    code: "NOT_FOUND",
    reason: "NODE_NOT_FOUND",
  },
  {
    what: "1 MB node",
    method: "UncordonNode",
    body: bytes(UncordonNodeRequest, { node: MB }),
    code: "NOT_FOUND",
    reason: "NODE_NOT_FOUND",
  },
  {
    what: "a node record that is not JSON",
    method: "CordonNode",
    body: bytes(CordonNodeRequest, { node: "ghost" }),
    code: "DATA_LOSS",
    reason: "METADATA_UNREADABLE",
  },
  {
    what: "unknown node",
    method: "DrainNode",
    body: bytes(DrainNodeRequest, { node: "nobody" }),
    code: "NOT_FOUND",
    reason: "NODE_NOT_FOUND",
  },
  {
    what: "parallelism 100000",
    method: "DrainNode",
    body: bytes(DrainNodeRequest, { node: "nobody", parallelism: 100_000 }),
    code: "INVALID_ARGUMENT",
    field: "parallelism",
  },
];
