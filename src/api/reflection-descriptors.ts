import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/**
 * proto-loader (protobufjs) describes each package as one file, with relative type names, no
 * `dependency` list and map entries not named `<Field>Entry`. Strict reflection clients (buf curl,
 * grpcurl: Go's protodesc) refuse such files. This rewrites them the way protoc would: absolute
 * type names (".pkg.Msg"), the files they depend on, and protoc's map entry names.
 */
export function normalizeFileDescriptors(encoded: readonly Uint8Array[]): Buffer[] {
  const files = encoded.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  for (const file of files) for (const message of file.messageType) renameMapEntries(message);

  const fileOfSymbol = new Map<string, FileDescriptorProto>();
  for (const file of files) {
    const prefix = file.package === "" ? "" : `${file.package}.`;
    for (const message of file.messageType) indexMessage(message, prefix, file, fileOfSymbol);
    for (const enumType of file.enumType) fileOfSymbol.set(`${prefix}${enumType.name}`, file);
    for (const service of file.service) fileOfSymbol.set(`${prefix}${service.name}`, file);
  }

  for (const file of files) {
    const dependencies = new Set(file.dependency);
    const resolve = (reference: string, scope: string): string => {
      const found = resolveName(reference, scope, fileOfSymbol);
      if (found === undefined) return reference;
      const owner = fileOfSymbol.get(found);
      if (owner !== undefined && owner !== file) dependencies.add(owner.name);
      return `.${found}`;
    };
    const walk = (message: DescriptorProto, scope: string): void => {
      const name = scope === "" ? message.name : `${scope}.${message.name}`;
      for (const field of message.field) {
        const named =
          field.type === FieldDescriptorProto_Type.MESSAGE || field.type === FieldDescriptorProto_Type.ENUM;
        if (named && field.typeName !== "") field.typeName = resolve(field.typeName, name);
      }
      for (const nested of message.nestedType) walk(nested, name);
    };
    for (const message of file.messageType) walk(message, file.package);
    for (const service of file.service) {
      for (const method of service.method) {
        method.inputType = resolve(method.inputType, file.package);
        method.outputType = resolve(method.outputType, file.package);
      }
    }
    file.dependency = [...dependencies];
  }
  return files.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
}

function indexMessage(
  message: DescriptorProto,
  prefix: string,
  file: FileDescriptorProto,
  index: Map<string, FileDescriptorProto>,
): void {
  const name = `${prefix}${message.name}`;
  index.set(name, file);
  for (const nested of message.nestedType) indexMessage(nested, `${name}.`, file, index);
  for (const enumType of message.enumType) index.set(`${name}.${enumType.name}`, file);
}

/** protoc names the entry type of map field `foo_bar` "FooBarEntry". */
function renameMapEntries(message: DescriptorProto): void {
  for (const nested of message.nestedType) {
    renameMapEntries(nested);
    if (nested.options?.mapEntry !== true) continue;
    const field = message.field.find(
      (candidate) => candidate.typeName === nested.name || candidate.typeName.endsWith(`.${nested.name}`),
    );
    if (field === undefined) continue;
    const wanted = `${field.name
      .split("_")
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join("")}Entry`;
    field.typeName = wanted;
    nested.name = wanted;
  }
}

/** Protobuf scoping: a relative name is looked up in the scope, then in each enclosing one. */
function resolveName(
  reference: string,
  scope: string,
  known: ReadonlyMap<string, unknown>,
): string | undefined {
  if (reference.startsWith(".")) return known.has(reference.slice(1)) ? reference.slice(1) : undefined;
  let current = scope;
  for (;;) {
    const candidate = current === "" ? reference : `${current}.${reference}`;
    if (known.has(candidate)) return candidate;
    if (current === "") return undefined;
    const dot = current.lastIndexOf(".");
    current = dot === -1 ? "" : current.slice(0, dot);
  }
}
