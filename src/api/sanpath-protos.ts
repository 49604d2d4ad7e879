import { join } from "node:path";
import {
  create,
  createFileRegistry,
  fromBinary,
  type DescMessage,
  type FileRegistry,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { projectRoot } from "../util/project-root.js";
import { normalizeFileDescriptors } from "./reflection-descriptors.js";

/** The sanpath.v1 proto files, relative to `sanpathProtoDir()`. */
export const SANPATH_PROTO_FILES = [
  "sanpath/v1/assignment.proto",
  "sanpath/v1/cluster.proto",
  "sanpath/v1/common.proto",
  "sanpath/v1/disk.proto",
  "sanpath/v1/event.proto",
  "sanpath/v1/node.proto",
];

export function sanpathProtoDir(): string {
  return join(projectRoot(), "proto");
}

let registry: FileRegistry | undefined;

/** Descriptors of the sanpath.v1 messages, read from the proto files once, on first use. */
function sanpathRegistry(): FileRegistry {
  if (registry !== undefined) return registry;
  const definition = loadSync(SANPATH_PROTO_FILES, { includeDirs: [sanpathProtoDir()], keepCase: true });
  // proto-loader gives every type the descriptors of all the files loaded.
  const files = normalizeFileDescriptors(fileDescriptorsOf(definition)).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
  registry = createFileRegistry(create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }));
  return registry;
}

function fileDescriptorsOf(definition: PackageDefinition): Buffer[] {
  for (const entry of Object.values(definition)) {
    if ("format" in entry && typeof entry.format === "string") return entry.fileDescriptorProtos;
  }
  return [];
}

/** The files ordered so that each comes after the files it imports (as a registry needs them). */
function dependenciesFirst(files: readonly FileDescriptorProto[]): FileDescriptorProto[] {
  const ordered: FileDescriptorProto[] = [];
  const visit = (file: FileDescriptorProto): void => {
    if (ordered.includes(file)) return;
    for (const name of file.dependency) {
      const dependency = files.find((candidate) => candidate.name === name);
      if (dependency !== undefined) visit(dependency);
    }
    ordered.push(file);
  };
  files.forEach(visit);
  return ordered;
}

/** The request message of the RPC at `path` ("/sanpath.v1.DiskService/AddDisk"), if there is one. */
export function requestSchemaOf(path: string): DescMessage | undefined {
  const [, serviceName = "", methodName = ""] = path.split("/");
  const service = sanpathRegistry().getService(serviceName);
  return service?.methods.find((method) => method.name === methodName)?.input;
}
