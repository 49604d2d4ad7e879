import { Metadata, status as Status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  FIELD_METADATA_KEY,
  NotBuiltYetError,
  REASON_METADATA_KEY,
  toGrpcFailure,
  toServiceErrorObject,
} from "../../src/api/grpc-status.js";
import { invalidField, SanpathError, type ErrorKind } from "../../src/errors/sanpath-error.js";

function reasonOf(metadata: Metadata): unknown {
  return metadata.get(REASON_METADATA_KEY)[0];
}

function fieldOf(metadata: Metadata): unknown {
  return metadata.get(FIELD_METADATA_KEY)[0];
}

describe("toGrpcFailure", () => {
  it("escapes control characters a message echoes from the request", () => {
    const failure = toGrpcFailure(
      invalidField("settings.subnet1.interface", '"eth\u0007\u001b[2J\n" is not a valid interface name'),
    );
    expect(failure.details).toBe(
      'settings.subnet1.interface: "eth\\u0007\\u001b[2J\\u000a" is not a valid interface name',
    );
  });

  const kinds: [ErrorKind, Status][] = [
    ["invalid_argument", Status.INVALID_ARGUMENT],
    ["not_found", Status.NOT_FOUND],
    ["already_exists", Status.ALREADY_EXISTS],
    ["failed_precondition", Status.FAILED_PRECONDITION],
    ["aborted", Status.ABORTED],
    ["resource_exhausted", Status.RESOURCE_EXHAUSTED],
    ["unavailable", Status.UNAVAILABLE],
    ["deadline_exceeded", Status.DEADLINE_EXCEEDED],
    ["data_loss", Status.DATA_LOSS],
    ["unauthenticated", Status.UNAUTHENTICATED],
    ["permission_denied", Status.PERMISSION_DENIED],
    ["cancelled", Status.CANCELLED],
    ["internal", Status.INTERNAL],
  ];

  it.each(kinds)("maps SanpathError kind %s to its code", (kind, code) => {
    const failure = toGrpcFailure(new SanpathError(kind, `a ${kind} failure`));
    expect(failure.code).toBe(code);
    expect(failure.details).toBe(`a ${kind} failure`);
    expect(reasonOf(failure.metadata)).toBeUndefined();
  });

  it("sets sanpath-reason and sanpath-field trailing metadata", () => {
    const failure = toGrpcFailure(invalidField("manual_ips[1]", "must be in subnet 1"));
    expect(failure.code).toBe(Status.INVALID_ARGUMENT);
    expect(failure.details).toBe("manual_ips[1]: must be in subnet 1");
    expect(reasonOf(failure.metadata)).toBe("INVALID_FIELD");
    expect(fieldOf(failure.metadata)).toBe("manual_ips[1]");
    expect(failure.internal).toBe(false);

    const running = toGrpcFailure(
      new SanpathError("failed_precondition", "a reassignment is already running", {
        reason: "REASSIGNMENT_RUNNING",
      }),
    );
    expect(running.code).toBe(Status.FAILED_PRECONDITION);
    expect(reasonOf(running.metadata)).toBe("REASSIGNMENT_RUNNING");
    expect(fieldOf(running.metadata)).toBeUndefined();
  });

  it("maps NotBuiltYetError to UNIMPLEMENTED", () => {
    const failure = toGrpcFailure(new NotBuiltYetError("sanpath.v1.DiskService/AddDisk"));
    expect(failure.code).toBe(Status.UNIMPLEMENTED);
    expect(failure.details).toBe("sanpath.v1.DiskService/AddDisk is not built yet");
  });

  it("maps network errno errors, also wrapped as causes, to UNAVAILABLE", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8500"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 8500,
    });
    const direct = toGrpcFailure(refused);
    expect(direct.code).toBe(Status.UNAVAILABLE);
    expect(direct.details).toBe("a dependency is unreachable (ECONNREFUSED 127.0.0.1:8500)");
    const wrapped = toGrpcFailure(
      new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code: "EAI_AGAIN" }) }),
    );
    expect(wrapped.code).toBe(Status.UNAVAILABLE);
    expect(wrapped.details).toBe("a dependency is unreachable (EAI_AGAIN)");
  });

  it("maps anything else to INTERNAL without its message", () => {
    const failure = toGrpcFailure(new Error("password=hunter2 in a connection string"), "abcd1234");
    expect(failure.code).toBe(Status.INTERNAL);
    expect(failure.internal).toBe(true);
    expect(failure.details).not.toContain("hunter2");
    expect(failure.details).toContain("abcd1234");
    expect(toGrpcFailure("a thrown string").code).toBe(Status.INTERNAL);
    expect(toGrpcFailure(Object.assign(new Error("no such file"), { code: "ENOENT" })).code).toBe(
      Status.INTERNAL,
    );
  });

  it("maps AbortError and TimeoutError to CANCELLED and DEADLINE_EXCEEDED", () => {
    const controller = new AbortController();
    controller.abort();
    expect(toGrpcFailure(controller.signal.reason).code).toBe(Status.CANCELLED);
    expect(toGrpcFailure(new DOMException("timed out", "TimeoutError")).code).toBe(Status.DEADLINE_EXCEEDED);
  });

  it("passes on a peer's domain failure and its reason, and its UNAVAILABLE, but not other codes", () => {
    const peerMetadata = new Metadata();
    peerMetadata.set(REASON_METADATA_KEY, "STALE_EPOCH");
    const stale = Object.assign(new Error("5 ABORTED: stale epoch"), {
      code: Status.ABORTED,
      details: "epoch 3 is older than 4",
      metadata: peerMetadata,
    });
    const passed = toGrpcFailure(stale);
    expect(passed).toMatchObject({ code: Status.ABORTED, details: "epoch 3 is older than 4" });
    expect(reasonOf(passed.metadata)).toBe("STALE_EPOCH");

    const down = Object.assign(new Error("14 UNAVAILABLE"), {
      code: Status.UNAVAILABLE,
      details: "No connection established",
      metadata: new Metadata(),
    });
    expect(toGrpcFailure(down).code).toBe(Status.UNAVAILABLE);

    const notFound = Object.assign(new Error("5 NOT_FOUND"), {
      code: Status.NOT_FOUND,
      details: "x",
      metadata: new Metadata(),
    });
    expect(toGrpcFailure(notFound).code).toBe(Status.INTERNAL);
  });
});

describe("toServiceErrorObject", () => {
  it("carries code, details and metadata for grpc-js", () => {
    const failure = toGrpcFailure(
      new SanpathError("not_found", "disk 00007 not found", { reason: "DISK_NOT_FOUND" }),
    );
    const error = toServiceErrorObject(failure);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(Status.NOT_FOUND);
    expect(error.details).toBe("disk 00007 not found");
    expect(error.metadata?.get(REASON_METADATA_KEY)).toEqual(["DISK_NOT_FOUND"]);
  });
});
