/** The bad-input corpus of AssignmentService: specs, plans, unknown paths, nodes and jobs. */
import {
  CancelReassignmentRequest,
  GetReassignmentRequest,
  Planner,
  PlanReassignmentRequest,
  StartReassignmentRequest,
  WatchReassignmentRequest,
} from "../../src/gen/sanpath/v1/assignment.js";
import { bytes, manual, type Case } from "./security-bad-input-support.js";

export const ASSIGNMENT_CASES: Case[] = [
  {
    what: "no spec",
    method: "PlanReassignment",
    body: bytes(PlanReassignmentRequest, {}),
    code: "INVALID_ARGUMENT",
    field: "spec",
  },
  {
    what: "unknown planner enum",
    method: "PlanReassignment",
    body: bytes(PlanReassignmentRequest, { spec: { auto: { planner: 99 } } }),
    code: "INVALID_ARGUMENT",
    field: "spec.auto.planner",
  },
  {
    what: "IP of no path",
    method: "PlanReassignment",
    body: manual(["198.51.100.249"]),
    code: "NOT_FOUND",
    reason: "PATH_NOT_FOUND",
  },
  {
    what: "not an IP",
    method: "PlanReassignment",
    body: manual(["../../etc"]),
    code: "INVALID_ARGUMENT",
    reason: "INVALID_FIELD",
    field: "ips[0]",
    says: "not an IPv4 address",
  },
  {
    what: "a move of IP garbage",
    method: "StartReassignment",
    body: bytes(StartReassignmentRequest, { spec: { manual: { ips: ["garbage"], targetNode: "auto" } } }),
    code: "INVALID_ARGUMENT",
    reason: "INVALID_FIELD",
    field: "ips[0]",
    says: "not an IPv4 address",
  },
  {
    what: "unknown target node",
    method: "PlanReassignment",
    body: manual(["198.51.100.10"], "nobody"),
    code: "NOT_FOUND",
    reason: "NODE_NOT_FOUND",
  },
  {
    what: "a stale plan",
    method: "StartReassignment",
    body: bytes(StartReassignmentRequest, {
      spec: { auto: { planner: Planner.PLANNER_AVERAGE } },
      stateIndex: 1,
    }),
    code: "ABORTED",
    reason: "PLAN_STALE",
  },
  {
    what: "parallelism 100000",
    method: "StartReassignment",
    body: bytes(StartReassignmentRequest, {
      spec: { auto: { planner: Planner.PLANNER_AVERAGE } },
      parallelism: 100_000,
    }),
    code: "INVALID_ARGUMENT",
    field: "parallelism",
  },
  {
    what: "path traversal job",
    method: "GetReassignment",
    body: bytes(GetReassignmentRequest, { id: "../../etc" }),
    code: "NOT_FOUND",
    reason: "JOB_NOT_FOUND",
  },
  {
    what: "unknown job",
    method: "CancelReassignment",
    body: bytes(CancelReassignmentRequest, { id: "nope" }),
    code: "NOT_FOUND",
    reason: "JOB_NOT_FOUND",
  },
  {
    what: "unknown job",
    method: "WatchReassignment",
    body: bytes(WatchReassignmentRequest, { id: "nope" }),
    code: "NOT_FOUND",
    reason: "JOB_NOT_FOUND",
  },
];
