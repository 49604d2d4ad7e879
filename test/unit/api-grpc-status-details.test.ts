import { status as Status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { MAX_DETAILS_LENGTH, toGrpcFailure } from "../../src/api/grpc-status.js";
import { invalidField, SanpathError } from "../../src/errors/sanpath-error.js";

describe("status messages", () => {
  it("are cut when a rule quotes a hostile 1 MB value (a trailer that big breaks the connection)", () => {
    const hostile = "x".repeat(1_000_000);
    const failure = toGrpcFailure(new SanpathError("not_found", `node: no node is named "${hostile}"`));
    expect(failure.code).toBe(Status.NOT_FOUND);
    expect(failure.details.length).toBeLessThanOrEqual(MAX_DETAILS_LENGTH);
    expect(failure.details).toMatch(/^node: no node is named "x+… \(message cut: \d+ characters\)$/);
  });

  it("keep the field trailer and leave a short message alone", () => {
    const failure = toGrpcFailure(invalidField("name", "must be 1..64 characters"));
    expect(failure.details).toBe("name: must be 1..64 characters");
    expect(failure.metadata.get("sanpath-field")).toEqual(["name"]);
  });
});
