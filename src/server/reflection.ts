import { dirname, resolve } from "node:path";
import type { Server } from "@grpc/grpc-js";
import {
  load,
  type AnyDefinition,
  type EnumTypeDefinition,
  type MessageTypeDefinition,
  type PackageDefinition,
} from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { normalizeFileDescriptors } from "../api/reflection-descriptors.js";
import { SANPATH_PROTO_FILES, sanpathProtoDir } from "../api/sanpath-protos.js";

/**
 * Server reflection (grpc.reflection.v1 and v1alpha) over the sanpath.v1 protos and
 * grpc.health.v1, so grpcurl and `buf curl` work without proto files. Google's well-known types
 * (Timestamp) come with proto-loader; every entry shares the same file descriptors.
 */
export async function addReflection(server: Pick<Server, "addService">): Promise<void> {
  // grpc-health-check ships proto/health/v1/health.proto; its include root is two folders up.
  const healthRoot = resolve(dirname(healthProtoPath), "..", "..");
  const definition = await load([...SANPATH_PROTO_FILES, "health/v1/health.proto"], {
    includeDirs: [sanpathProtoDir(), healthRoot],
    keepCase: true,
  });
  new ReflectionService(withNormalizedDescriptors(definition)).addToServer(server);
}

/** The same definitions, carrying descriptors strict clients accept (see normalizeFileDescriptors). */
function withNormalizedDescriptors(definition: PackageDefinition): PackageDefinition {
  let normalized: Buffer[] | undefined;
  const result: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    if (isTypeDefinition(entry)) {
      normalized ??= normalizeFileDescriptors(entry.fileDescriptorProtos);
      result[name] = { ...entry, fileDescriptorProtos: normalized };
    } else {
      result[name] = entry;
    }
  }
  return result;
}

function isTypeDefinition(
  entry: AnyDefinition,
): entry is MessageTypeDefinition<object, object> | EnumTypeDefinition {
  return typeof entry.format === "string" && Array.isArray(entry.fileDescriptorProtos);
}
