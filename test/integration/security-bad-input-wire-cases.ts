/**
 * The bad-input corpus on the wire: raw bytes that are not the request they claim to be, and a
 * message over the 4 MiB limit.
 */
import { MAX_REQUEST_BYTES } from "../../src/server/grpc-server.js";
import { add, update, type Case } from "./security-bad-input-support.js";

export const WIRE_CASES: Case[] = [
  {
    what: "truncated bytes",
    method: "AddDisk",
    body: Buffer.from([0x0a, 0x10, 0x41]),
    code: "INVALID_ARGUMENT",
    field: "request",
  },
  {
    what: "name sent as a number",
    method: "AddDisk",
    body: Buffer.from([0x08, 0x01]),
    code: "INVALID_ARGUMENT",
    field: "name",
  },
  {
    what: "size sent as a string",
    method: "AddDisk",
    body: Buffer.concat([add({}).subarray(0, 8), Buffer.from([0x12, 0x03, 0x61, 0x62, 0x63])]),
    code: "INVALID_ARGUMENT",
    field: "size_gib",
  },
  {
    what: "size 2^54 GiB, beyond a JavaScript number",
    method: "AddDisk",
    body: add({ sizeGib: 2 ** 54 }),
    code: "INVALID_ARGUMENT",
    field: "size_gib",
    says: String(Number.MAX_SAFE_INTEGER),
  },
  {
    what: "size 2^64-1 GiB",
    method: "UpdateDisk",
    body: Buffer.concat([
      update({}),
      Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]),
    code: "INVALID_ARGUMENT",
    field: "size_gib",
    says: "18446744073709551615",
  },
  {
    what: "random bytes",
    method: "InitCluster",
    body: Buffer.from("ffffffffffffffffffffffffffffff0a", "hex"),
    code: "INVALID_ARGUMENT",
    field: "request",
  },
  {
    what: "a bad wire type",
    method: "GetDisk",
    body: Buffer.from([0x0f, 0x01]),
    code: "INVALID_ARGUMENT",
    field: "request",
  },
  {
    what: "invalid UTF-8 name",
    method: "AddDisk",
    body: Buffer.from([0x0a, 0x02, 0xc3, 0x28, 0x10, 0x01, 0x18, 0x01, 0x20, 0x01]),
    code: "INVALID_ARGUMENT",
    field: "name",
  },
  {
    what: "truncated bytes",
    method: "WatchReassignment",
    body: Buffer.from([0x0a, 0x7f]),
    code: "INVALID_ARGUMENT",
    field: "request",
  },
  {
    what: "truncated bytes",
    method: "CleanPath",
    role: "node",
    body: Buffer.from([0x12, 0x40, 0x0a]),
    code: "INVALID_ARGUMENT",
    field: "request",
  },
  {
    what: "a message over 4 MiB",
    method: "AddDisk",
    body: () => add({ name: "y".repeat(MAX_REQUEST_BYTES + 1) }),
    code: "RESOURCE_EXHAUSTED",
  },
];
