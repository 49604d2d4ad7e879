import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** A 64-bit integer field whose value a JavaScript number cannot hold exactly. */
export interface UnsafeIntegerField {
  /** The proto field path, e.g. "size_gib" or "spec.manual.limit[2]". */
  readonly field: string;
  readonly value: bigint;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function readInteger(reader: BinaryReader, scalar: ScalarType): bigint | undefined {
  switch (scalar) {
    case ScalarType.INT64:
      return BigInt(reader.int64());
    case ScalarType.UINT64:
      return BigInt(reader.uint64());
    case ScalarType.SINT64:
      return BigInt(reader.sint64());
    case ScalarType.FIXED64:
      return BigInt(reader.fixed64());
    case ScalarType.SFIXED64:
      return BigInt(reader.sfixed64());
    default:
      return undefined;
  }
}

function wireTypeOf(scalar: ScalarType): WireType | undefined {
  switch (scalar) {
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
      return WireType.Varint;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    default:
      return undefined;
  }
}

function scalarOf(field: DescField): ScalarType | undefined {
  if (field.fieldKind === "scalar") return field.scalar;
  if (field.fieldKind === "list" && field.listKind === "scalar") return field.scalar;
  return undefined;
}

function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  return undefined;
}

const unsafe = (value: bigint | undefined): value is bigint =>
  value !== undefined && (value > MAX_SAFE || value < MIN_SAFE);

/**
 * The first 64-bit integer field of `bytes` (a `schema` message, nested messages included) that
 * lies outside ±(2^53 − 1), or undefined. The generated decoders refuse such a value without
 * saying which field held it; this walks the wire again to name it. Throws on malformed bytes.
 */
export function findUnsafeIntegerField(
  schema: DescMessage,
  bytes: Uint8Array,
  prefix = "",
): UnsafeIntegerField | undefined {
  const reader = new BinaryReader(bytes);
  const seen = new Map<number, number>();
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    const field = schema.fields.find((candidate) => candidate.number === number);
    if (field === undefined) {
      reader.skip(wireType, number);
      continue;
    }
    const index = seen.get(number) ?? 0;
    seen.set(number, index + 1);
    const name = `${prefix}${field.name}${field.fieldKind === "list" ? `[${index}]` : ""}`;
    const scalar = scalarOf(field);
    const message = messageOf(field);
    if (scalar !== undefined && wireType === wireTypeOf(scalar)) {
      const value = readInteger(reader, scalar);
      if (unsafe(value)) return { field: name, value };
    } else if (
      scalar !== undefined &&
      wireType === WireType.LengthDelimited &&
      wireTypeOf(scalar) !== undefined
    ) {
      // A packed repeated field: the elements one after another in one length-delimited run.
      const packed = new BinaryReader(reader.bytes());
      for (let element = 0; packed.pos < packed.len; element++) {
        const value = readInteger(packed, scalar);
        if (unsafe(value)) return { field: `${prefix}${field.name}[${element}]`, value };
      }
    } else if (message !== undefined && wireType === WireType.LengthDelimited) {
      const found = findUnsafeIntegerField(message, reader.bytes(), `${name}.`);
      if (found !== undefined) return found;
    } else {
      reader.skip(wireType, number);
    }
  }
  return undefined;
}
