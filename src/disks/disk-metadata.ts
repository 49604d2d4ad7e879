import { SanpathError } from "../errors/sanpath-error.js";
import { subnetContaining, type ClusterSettings, type SubnetNumber } from "./cluster-settings.js";
import { ALL_INITIATORS, type Disk, type DiskAcl, type DiskPath } from "./disk.js";
import { isDiskId } from "./disk-id.js";
import { formatIpv4, maskToPrefix, prefixToMask, tryParseIpv4 } from "./ipv4.js";

/**
 * The disk record stored in the image's metadata under PetaSAN's key, in PetaSAN's JSON shape
 * (DiskMeta.write_json: sorted keys, 4-space indent):
 *   id, disk_name, description, size (GiB), create_date ("YYYY-MM-DD"), acl ("" = all initiators,
 *   else IQNs joined by ","), user + password (CHAP; both "" = none), iqn, pool,
 *   paths: [{ ip, subnet_mask (dotted), eth, vlan_id ("" = none, else the number as text), locked_by }]
 * sanpath adds `create_time` (ISO 8601) and, per path, `subnet` (1 or 2); PetaSAN ignores both.
 * Top-level fields sanpath does not know (PetaSAN's wwn, data_pool, ...) are kept on rewrite.
 */

/** PetaSAN's image metadata key (sic). */
export const DISK_METADATA_KEY = "petasan-metada";

export interface DiskMetadataParseOptions {
  /** Names the image in error messages. */
  readonly image?: string;
  /** The pool the image was read from; used when the record names none. */
  readonly pool?: string;
  /** Gives a path its subnet when the record has no `subnet` (records written by PetaSAN). */
  readonly settings?: ClusterSettings;
}

export interface ParsedDiskMetadata {
  readonly disk: Disk;
  /** Top-level fields sanpath does not model, to write back unchanged. */
  readonly preserved: Readonly<Record<string, unknown>>;
}

const KNOWN_FIELDS = new Set([
  "id",
  "disk_name",
  "size",
  "create_date",
  "create_time",
  "acl",
  "user",
  "password",
  "iqn",
  "pool",
  "paths",
]);

const CREATE_DATE_PATTERN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const VLAN_TEXT_PATTERN = /^(?:0|[1-9][0-9]{0,3})$/;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class MetadataReader {
  constructor(private readonly options: DiskMetadataParseOptions) {}

  fail(field: string | undefined, rule: string, cause?: unknown): SanpathError {
    const where = this.options.image === undefined ? "disk metadata" : `metadata of ${this.options.image}`;
    const what = field === undefined ? rule : `${field} ${rule}`;
    return new SanpathError("data_loss", `${where} is unreadable: ${what}`, {
      reason: "METADATA_UNREADABLE",
      field,
      cause,
    });
  }

  string(record: JsonObject, key: string, field = key): string {
    const value = record[key];
    if (typeof value !== "string") throw this.fail(field, `must be a string, found ${describe(value)}`);
    return value;
  }

  optionalString(record: JsonObject, key: string, field = key): string | undefined {
    return record[key] === undefined ? undefined : this.string(record, key, field);
  }

  positiveInteger(record: JsonObject, key: string, field = key): number {
    const value = record[key];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw this.fail(field, `must be a positive whole number, found ${describe(value)}`);
    }
    return value;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${value}`;
  return typeof value === "object" ? "an object" : typeof value;
}

function readCreateTime(reader: MetadataReader, record: JsonObject): Date {
  const createTime = reader.optionalString(record, "create_time");
  if (createTime !== undefined) {
    const parsed = new Date(createTime);
    if (Number.isNaN(parsed.getTime())) throw reader.fail("create_time", "must be an ISO 8601 time");
    return parsed;
  }
  const createDate = reader.string(record, "create_date");
  const parsed = new Date(`${createDate}T00:00:00.000Z`);
  if (!CREATE_DATE_PATTERN.test(createDate) || Number.isNaN(parsed.getTime())) {
    throw reader.fail("create_date", `must be a date "YYYY-MM-DD", found ${describe(createDate)}`);
  }
  return parsed;
}

function readAcl(reader: MetadataReader, record: JsonObject): DiskAcl {
  const acl = reader.string(record, "acl").trim();
  if (acl === "" || acl === "all") return ALL_INITIATORS;
  const initiatorIqns = acl
    .split(",")
    .map((iqn) => iqn.trim())
    .filter((iqn) => iqn.length > 0);
  return initiatorIqns.length === 0 ? ALL_INITIATORS : { kind: "initiators", initiatorIqns };
}

function readVlanId(reader: MetadataReader, path: JsonObject, field: string): number {
  const value = path.vlan_id;
  if (value === undefined || value === "" || value === null) return 0;
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !VLAN_TEXT_PATTERN.test(text) || Number(text) > 4094) {
    throw reader.fail(field, `must be "" or a VLAN id 1..4094, found ${describe(value)}`);
  }
  return Number(text);
}

function readSubnet(
  reader: MetadataReader,
  path: JsonObject,
  address: number,
  field: string,
  settings: ClusterSettings | undefined,
): SubnetNumber {
  const value = path.subnet;
  if (value === 1 || value === 2) return value;
  if (value !== undefined) throw reader.fail(field, `must be 1 or 2, found ${describe(value)}`);
  const subnet = settings === undefined ? undefined : subnetContaining(settings, address);
  if (subnet === undefined) {
    throw reader.fail(field, "is missing and the address is in no configured iSCSI subnet");
  }
  return subnet.number;
}

function readPath(
  reader: MetadataReader,
  value: unknown,
  position: number,
  settings?: ClusterSettings,
): DiskPath {
  const field = `paths[${position}]`;
  if (!isObject(value)) throw reader.fail(field, `must be an object, found ${describe(value)}`);
  const ipText = reader.string(value, "ip", `${field}.ip`);
  const address = tryParseIpv4(ipText);
  if (address === undefined)
    throw reader.fail(`${field}.ip`, `must be an IPv4 address, found ${describe(ipText)}`);
  const maskText = reader.string(value, "subnet_mask", `${field}.subnet_mask`);
  const mask = tryParseIpv4(maskText);
  const prefixLength = mask === undefined ? undefined : maskToPrefix(mask);
  if (prefixLength === undefined) {
    throw reader.fail(`${field}.subnet_mask`, `must be a dotted netmask, found ${describe(maskText)}`);
  }
  const eth = reader.string(value, "eth", `${field}.eth`);
  if (eth.length === 0) throw reader.fail(`${field}.eth`, "must name an interface");
  return {
    index: position + 1,
    ip: ipText,
    prefixLength,
    interface: eth,
    vlanId: readVlanId(reader, value, `${field}.vlan_id`),
    subnet: readSubnet(reader, value, address, `${field}.subnet`, settings),
  };
}

/**
 * Reads a metadata record. Malformed JSON, a missing field or a field of the wrong type is
 * DATA_LOSS / METADATA_UNREADABLE naming the field ("paths[1].ip"). Field contents are checked only
 * as far as sanpath needs them (an old PetaSAN name with other characters is still read).
 */
export function parseDiskMetadata(text: string, options: DiskMetadataParseOptions = {}): ParsedDiskMetadata {
  const reader = new MetadataReader(options);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw reader.fail(undefined, "it is not JSON", error);
  }
  if (!isObject(root)) throw reader.fail(undefined, `it must be a JSON object, found ${describe(root)}`);

  const id = reader.string(root, "id");
  if (!isDiskId(id)) throw reader.fail("id", `must be a 5-digit disk id, found ${describe(id)}`);
  const name = reader.string(root, "disk_name");
  const sizeGib = reader.positiveInteger(root, "size");
  const createTime = readCreateTime(reader, root);
  const acl = readAcl(reader, root);
  const user = reader.optionalString(root, "user") ?? "";
  const secret = reader.optionalString(root, "password") ?? "";
  const iqn = reader.string(root, "iqn");
  if (iqn.length === 0) throw reader.fail("iqn", "must not be empty");
  const storedPool = reader.optionalString(root, "pool") ?? "";
  const pool = storedPool !== "" ? storedPool : (options.pool ?? "");
  if (pool === "") throw reader.fail("pool", "is empty and the image's pool is not known");
  const paths: unknown = root.paths;
  if (!Array.isArray(paths)) throw reader.fail("paths", `must be an array, found ${describe(paths)}`);
  const diskPaths = (paths as unknown[]).map((path, position) =>
    readPath(reader, path, position, options.settings),
  );

  const preserved: JsonObject = {};
  for (const [key, value] of Object.entries(root)) {
    if (!KNOWN_FIELDS.has(key)) preserved[key] = value;
  }
  return {
    disk: {
      id,
      name,
      sizeGib,
      createTime,
      iqn,
      pool,
      acl,
      // PetaSAN applies CHAP only when both are set; so does sanpath.
      chap: user !== "" && secret !== "" ? { user, secret } : undefined,
      paths: diskPaths,
    },
    preserved,
  };
}

function sortedKeys(record: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The record for `disk`, with `preserved` fields (from parseDiskMetadata) written back unchanged. */
export function serializeDiskMetadata(disk: Disk, preserved: Readonly<Record<string, unknown>> = {}): string {
  const paths = disk.paths.map((path) =>
    sortedKeys({
      eth: path.interface,
      ip: path.ip,
      locked_by: "",
      subnet: path.subnet,
      subnet_mask: formatIpv4(prefixToMask(path.prefixLength)),
      vlan_id: path.vlanId === 0 ? "" : String(path.vlanId),
    }),
  );
  const known: JsonObject = {
    acl: disk.acl.kind === "all" ? "" : disk.acl.initiatorIqns.join(","),
    create_date: disk.createTime.toISOString().slice(0, 10),
    create_time: disk.createTime.toISOString(),
    disk_name: disk.name,
    id: disk.id,
    iqn: disk.iqn,
    password: disk.chap?.secret ?? "",
    paths,
    pool: disk.pool,
    size: disk.sizeGib,
    user: disk.chap?.user ?? "",
  };
  return JSON.stringify(sortedKeys({ description: "", ...preserved, ...known }), null, 4);
}
