import { invalidField } from "../errors/sanpath-error.js";

/**
 * A disk id: exactly 5 decimal digits ("00001"), as PetaSAN numbers its images. A fixed width also
 * keeps one disk's key from being a prefix of another's.
 */
const DISK_ID = /^[0-9]{5}$/;
/** Paths of a disk are numbered 1..8. */
const MAX_PATHS = 8;
const NODE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export interface DiskPathRef {
  diskId: string;
  /** 1-based path number. */
  index: number;
}

/**
 * Every Consul key sanpath reads or writes, under one root (default "PetaSAN", the layout PetaSAN
 * itself uses for disks and paths). Methods ending in a plural name return a prefix that ends in
 * "/", ready for ConsulClient.list / watchPrefix.
 *
 *   <root>/Disks/<id>                      disk record (Flags 1 = stopped)
 *   <root>/Disks/<id>/<n>                  path n of the disk: holder node name, locked by its session
 *   <root>/Assignment                      the running reassignment job (its existence = busy)
 *   <root>/Assignment/<ip>                 one record per moving path of that job
 *   <root>/JobHistory/<job>                finished jobs
 *   <root>/JobEvents/<job>/<seq>           progress events of a job, seq zero-padded
 *   <root>/Events/Segments/<segment>       the event history: many events per key (events/event-segment.ts)
 *   <root>/Events/Head                     the newest segment's name: followers block on it
 * No other key starts with "<root>/Assignment", so a recursive delete of assignmentRoot() removes
 * exactly the running job (root record and per-path records) in one call.
 *   <root>/Services/Coordinator            coordinator lock (LockIndex = epoch)
 *   <root>/Nodes/<name>                    node record
 *   <root>/Config/cluster                  cluster settings
 *   <root>/Allocations/IPs/<ip>            reserved path IPs
 *   <root>/Allocations/DiskIds/<id>        reserved disk ids
 *   <root>/Allocations/DiskNames/<name>    reserved disk names (lower case, percent-encoded)
 */
export class ConsulKeys {
  readonly root: string;

  constructor(root = "PetaSAN") {
    checkRoot(root);
    this.root = root;
  }

  /** Prefix of every disk record and path key. */
  disks(): string {
    return `${this.root}/Disks/`;
  }

  disk(diskId: string): string {
    checkDiskId(diskId);
    return `${this.root}/Disks/${diskId}`;
  }

  /** Prefix of the path keys of one disk. */
  diskPaths(diskId: string): string {
    return `${this.disk(diskId)}/`;
  }

  diskPath(diskId: string, index: number): string {
    checkPathIndex(index);
    return `${this.disk(diskId)}/${index}`;
  }

  /** The disk id of a disk record key, undefined for any other key. */
  parseDisk(key: string): string | undefined {
    const rest = this.under(key, this.disks());
    return rest !== undefined && DISK_ID.test(rest) ? rest : undefined;
  }

  /** Disk id and path number of a path key, undefined for any other key. */
  parseDiskPath(key: string): DiskPathRef | undefined {
    const rest = this.under(key, this.disks());
    if (rest === undefined) return undefined;
    const parts = rest.split("/");
    if (parts.length !== 2) return undefined;
    const [diskId, indexText] = parts;
    if (diskId === undefined || indexText === undefined || !DISK_ID.test(diskId)) return undefined;
    if (!/^[1-9][0-9]*$/.test(indexText)) return undefined;
    const index = Number(indexText);
    return index <= MAX_PATHS ? { diskId, index } : undefined;
  }

  /** The key of the running reassignment job's root record; it exists while a job exists. */
  assignmentRoot(): string {
    return `${this.root}/Assignment`;
  }

  /** Prefix of the per-path records of the running job (deleting it recursively leaves the root). */
  assignmentPaths(): string {
    return `${this.root}/Assignment/`;
  }

  assignmentPath(ip: string): string {
    checkIpv4(ip);
    return `${this.root}/Assignment/${ip}`;
  }

  /** The IP of a per-path assignment record key, undefined for any other key. */
  parseAssignmentPath(key: string): string | undefined {
    const rest = this.under(key, this.assignmentPaths());
    return rest !== undefined && IPV4.test(rest) ? rest : undefined;
  }

  assignmentHistories(): string {
    return `${this.root}/JobHistory/`;
  }

  assignmentHistory(jobId: string): string {
    checkJobId(jobId);
    return `${this.root}/JobHistory/${jobId}`;
  }

  assignmentEvents(jobId: string): string {
    checkJobId(jobId);
    return `${this.root}/JobEvents/${jobId}/`;
  }

  /** Event `sequence` of a job; zero-padded so that key order is sequence order. */
  assignmentEvent(jobId: string, sequence: number): string {
    if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > 9_999_999_999) {
      throw invalidField("sequence", "must be a whole number in 0..9999999999");
    }
    return `${this.assignmentEvents(jobId)}${String(sequence).padStart(10, "0")}`;
  }

  /** The sequence number of an event key of that job, undefined for any other key. */
  parseAssignmentEvent(jobId: string, key: string): number | undefined {
    const rest = this.under(key, this.assignmentEvents(jobId));
    return rest !== undefined && /^[0-9]{10}$/.test(rest) ? Number(rest) : undefined;
  }

  /** Prefix of the event history's segments (src/events). */
  eventSegments(): string {
    return `${this.root}/Events/Segments/`;
  }

  /** One segment of the event history; `name` is one key segment (events/event-segment.ts). */
  eventSegment(name: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw invalidField("segment", "must be one key segment");
    return `${this.eventSegments()}${name}`;
  }

  /** The segment name of an event segment key, undefined for any other key. */
  parseEventSegment(key: string): string | undefined {
    const rest = this.under(key, this.eventSegments());
    return rest !== undefined && /^[A-Za-z0-9_.-]+$/.test(rest) ? rest : undefined;
  }

  /** Rewritten with every segment written: what followers of the history block on. */
  eventsHead(): string {
    return `${this.root}/Events/Head`;
  }

  services(): string {
    return `${this.root}/Services/`;
  }

  /** The coordinator election lock; its LockIndex is the coordinator's epoch. */
  coordinatorLock(): string {
    return `${this.root}/Services/Coordinator`;
  }

  nodes(): string {
    return `${this.root}/Nodes/`;
  }

  node(name: string): string {
    checkNodeName(name);
    return `${this.root}/Nodes/${name}`;
  }

  /** The node name of a node record key, undefined for any other key. */
  parseNode(key: string): string | undefined {
    const rest = this.under(key, this.nodes());
    return rest !== undefined && NODE_NAME.test(rest) ? rest : undefined;
  }

  /** Cluster settings (subnets, IQN base, ...). */
  settings(): string {
    return `${this.root}/Config/cluster`;
  }

  allocatedIps(): string {
    return `${this.root}/Allocations/IPs/`;
  }

  allocatedIp(ip: string): string {
    checkIpv4(ip);
    return `${this.allocatedIps()}${ip}`;
  }

  allocatedDiskIds(): string {
    return `${this.root}/Allocations/DiskIds/`;
  }

  allocatedDiskId(diskId: string): string {
    checkDiskId(diskId);
    return `${this.allocatedDiskIds()}${diskId}`;
  }

  diskNames(): string {
    return `${this.root}/Allocations/DiskNames/`;
  }

  /**
   * The reservation of a disk name. Names are unique without regard to case, so the key holds the
   * lower-cased name, percent-encoded ("/" and "." too) so that any name is one safe key segment.
   */
  diskName(name: string): string {
    if (name === "") throw invalidField("name", "must not be empty");
    return `${this.diskNames()}${encodeKeySegment(name.toLowerCase())}`;
  }

  /** The (lower-cased) disk name of a reservation key, undefined for any other key. */
  parseDiskName(key: string): string | undefined {
    const rest = this.under(key, this.diskNames());
    if (rest === undefined || rest === "" || rest.includes("/")) return undefined;
    try {
      return decodeURIComponent(rest);
    } catch {
      return undefined;
    }
  }

  private under(key: string, prefix: string): string | undefined {
    return key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
  }
}

/** encodeURIComponent plus ".", so that "." and ".." cannot become path segments. */
export function encodeKeySegment(text: string): string {
  return encodeURIComponent(text).replace(/\./g, "%2E");
}

function checkRoot(root: string): void {
  if (root === "") throw invalidField("consul.root", "must not be empty");
  if (root.startsWith("/") || root.endsWith("/")) {
    throw invalidField("consul.root", `must not start or end with "/", got "${root}"`);
  }
  for (const segment of root.split("/")) {
    if (segment === "") throw invalidField("consul.root", `must not contain empty segments, got "${root}"`);
    if (segment === "." || segment === "..") {
      throw invalidField("consul.root", `must not contain "." or ".." segments, got "${root}"`);
    }
    if (/\s/.test(segment)) throw invalidField("consul.root", `must not contain white space, got "${root}"`);
  }
}

function checkDiskId(diskId: string): void {
  if (!DISK_ID.test(diskId)) throw invalidField("disk_id", `must be 5 digits, got "${diskId}"`);
}

function checkPathIndex(index: number): void {
  if (!Number.isInteger(index) || index < 1 || index > MAX_PATHS) {
    throw invalidField("path_index", `must be a whole number in 1..${MAX_PATHS}, got ${index}`);
  }
}

function checkIpv4(ip: string): void {
  if (!IPV4.test(ip)) throw invalidField("ip", `must be a dotted IPv4 address, got "${ip}"`);
}

function checkNodeName(name: string): void {
  if (!NODE_NAME.test(name)) {
    throw invalidField(
      "node_name",
      `must be 1..253 letters, digits, ".", "_" or "-", starting with a letter or digit, got "${name}"`,
    );
  }
}

function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) {
    throw invalidField("job_id", `must be 1..128 letters, digits, "_" or "-", got "${jobId}"`);
  }
}
