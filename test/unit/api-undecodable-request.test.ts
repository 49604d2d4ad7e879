import { create, toBinary } from "@bufbuild/protobuf";
import { FieldOptionsSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { requestSchemaOf } from "../../src/api/sanpath-protos.js";
import {
  tolerantDefinition,
  UndecodableRequest,
  undecodableError,
} from "../../src/api/undecodable-request.js";
import { findUnsafeIntegerField } from "../../src/api/unsafe-integer-field.js";
import { AddDiskRequest, DiskServiceService, UpdateDiskRequest } from "../../src/gen/sanpath/v1/disk.js";
import { NodeServiceService, StatusRequest } from "../../src/gen/sanpath/v1/node.js";

const TWO_TO_54 = 2 ** 54;

function decoded(
  definition: Record<string, { requestDeserialize(bytes: Buffer): unknown }>,
  method: string,
  bytes: Uint8Array,
): unknown {
  const tolerant = tolerantDefinition(definition as never) as Record<
    string,
    { requestDeserialize(bytes: Buffer): unknown }
  >;
  const found = tolerant[method];
  if (found === undefined) throw new Error(`no method ${method}`);
  return found.requestDeserialize(Buffer.from(bytes));
}

function errorFor(path: string, request: unknown): ReturnType<typeof undecodableError> {
  if (!(request instanceof UndecodableRequest)) throw new Error("the request was decoded");
  return undecodableError(path, request);
}

describe("undecodable requests", () => {
  it("names size_gib and the limit when AddDisk's size is above 2^53 - 1", () => {
    const bytes = AddDiskRequest.encode(
      AddDiskRequest.fromPartial({ name: "d", sizeGib: TWO_TO_54 }),
    ).finish();
    const error = errorFor("/sanpath.v1.DiskService/AddDisk", decoded(DiskServiceService, "addDisk", bytes));
    expect(error).toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD", field: "size_gib" });
    expect(error.message).toBe(
      `size_gib: ${TWO_TO_54} is outside the integers this API takes: at most 2^53 - 1 (9007199254740991) in magnitude`,
    );
  });

  it("names the optional size_gib of UpdateDisk, and the epoch of a node call", () => {
    const update = UpdateDiskRequest.encode(
      UpdateDiskRequest.fromPartial({ disk: "d", sizeGib: TWO_TO_54 }),
    ).finish();
    expect(
      errorFor("/sanpath.v1.DiskService/UpdateDisk", decoded(DiskServiceService, "updateDisk", update)).field,
    ).toBe("size_gib");
    const status = StatusRequest.encode(StatusRequest.fromPartial({ epoch: TWO_TO_54 })).finish();
    expect(
      errorFor("/sanpath.v1.NodeService/Status", decoded(NodeServiceService, "status", status)).field,
    ).toBe("epoch");
  });

  it("still answers bytes that are not a message with the field 'request'", () => {
    const error = errorFor(
      "/sanpath.v1.DiskService/AddDisk",
      decoded(DiskServiceService, "addDisk", Uint8Array.from([0x0a, 0x10, 0x41])),
    );
    expect(error.field).toBe("request");
  });
});

describe("findUnsafeIntegerField", () => {
  it("finds a 64-bit integer in a repeated nested message, with its path", () => {
    const bytes = toBinary(
      FieldOptionsSchema,
      create(FieldOptionsSchema, {
        uninterpretedOption: [
          { positiveIntValue: 5n },
          { identifierValue: "x", positiveIntValue: 2n ** 60n },
        ],
      }),
    );
    expect(findUnsafeIntegerField(FieldOptionsSchema, bytes)).toEqual({
      field: "uninterpreted_option[1].positive_int_value",
      value: 2n ** 60n,
    });
  });

  it("finds nothing when every integer is safe", () => {
    const schema = requestSchemaOf("/sanpath.v1.NodeService/Status");
    if (schema === undefined) throw new Error("no schema");
    expect(findUnsafeIntegerField(schema, StatusRequest.encode({ epoch: 5 }).finish())).toBeUndefined();
  });
});
