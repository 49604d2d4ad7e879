/**
 * The iSCSI target as the node agent sees it: one target per disk IQN with one disk LUN, an
 * initiator ACL, optional CHAP, and one portal (IP:port) per path the node serves.
 *
 * Implementations: `TgtDriver` (user-space tgtd, src/iscsi/tgt-driver.ts) and `LioDriver`
 * (kernel LIO through targetcli, src/iscsi/lio-driver.ts). Every method is idempotent: ensuring
 * or enabling twice is harmless and never duplicates anything; disabling or dropping what is not
 * there is a no-op. Failures are SanpathErrors (reason DRIVER_FAILED for a failed command,
 * INVALID_FIELD for a bad request). Secrets never appear in errors or logs.
 *
 * AcquirePath: ensureTarget → enablePortal → (network) add the IP → gratuitous ARP.
 * CleanPath: disablePortal → (network) remove the IP → dropTarget when no path of the disk is left.
 */
import { isIPv4 } from "node:net";
import { invalidField } from "../errors/sanpath-error.js";

export type LunBacking =
  | { kind: "file"; path: string }
  /** `cephUser` is the client id without "client." (e.g. "admin"). */
  | { kind: "rbd"; pool: string; image: string; cephConf: string; cephUser: string };

export interface TargetAcl {
  /** Every initiator may log in (subject to CHAP); `initiatorIqns` is then ignored. */
  allInitiators: boolean;
  initiatorIqns: readonly string[];
}

export interface ChapCredentials {
  user: string;
  secret: string;
}

export interface TargetSpec {
  iqn: string;
  backing: LunBacking;
  acl: TargetAcl;
  chap?: ChapCredentials | undefined;
}

export interface PortalRef {
  iqn: string;
  ip: string;
  /** Default 3260. */
  port?: number;
}

export interface EnablePortalRequest extends PortalRef {
  /**
   * The path index (1-based). LIO uses it as the TPG tag, as PetaSAN does (TPG n = path n);
   * tgt has no portal groups and ignores it.
   */
  pathIndex?: number;
}

export interface ConfiguredLun {
  lun: number;
  /** A file path, or "pool/image" for rbd. */
  backing: string;
  backingType: string;
}

export interface ConfiguredPortal {
  ip: string;
  port: number;
  /** Initiators can log in to this target at this portal right now. */
  enabled: boolean;
  /** LIO: the TPG holding the portal. */
  tpgTag?: number;
}

export interface ConfiguredTarget {
  iqn: string;
  /** tgt's target id (LIO has none). */
  tid?: number;
  luns: ConfiguredLun[];
  portals: ConfiguredPortal[];
  acl: TargetAcl;
  chapUser?: string;
}

/** A portal the target service has set up, with the targets paired with it. */
export interface ServicePortal {
  ip: string;
  port: number;
  iqns: string[];
}

export interface DriverCallOptions {
  signal?: AbortSignal;
  /**
   * Listings: read the target service now instead of answering from what the driver believes it
   * configured (reconcile's periodic authoritative read; drivers without such a belief ignore it).
   */
  fresh?: boolean;
  /**
   * Listings: read the target service now, as `fresh` does, but without waiting for the driver's
   * operations in flight and without changing what it believes (the data-path probe and Status:
   * they judge whether the service answers and what it serves, which a queue of the driver's own
   * operations must not hide). Drivers whose listings always read the service (LIO) ignore it.
   */
  observe?: boolean;
}

export interface TargetDriver {
  readonly kind: "tgt" | "lio";
  /**
   * One-time set-up of the target service (tgt: stop listening on the wildcard portals; LIO:
   * targetcli preferences). Called by the other methods as needed; calling it directly is harmless.
   */
  prepare(options?: DriverCallOptions): Promise<void>;
  /** Creates the target, its LUN, ACL and CHAP, or brings an existing one in line with `spec`. */
  ensureTarget(spec: TargetSpec, options?: DriverCallOptions): Promise<void>;
  /** Lets initiators log in to the target at ip:port. The target must exist (ensureTarget). */
  enablePortal(request: EnablePortalRequest, options?: DriverCallOptions): Promise<void>;
  /** Stops logins at ip:port and closes the target's sessions there. */
  disablePortal(portal: PortalRef, options?: DriverCallOptions): Promise<void>;
  isPortalEnabled(portal: PortalRef, options?: DriverCallOptions): Promise<boolean>;
  /** Deletes the target (ending its sessions) and what belongs only to it (backstore, account). */
  dropTarget(iqn: string, options?: DriverCallOptions): Promise<void>;
  /** What is configured now, so that reconcile can diff it against what the node should serve. */
  listTargets(options?: DriverCallOptions): Promise<ConfiguredTarget[]>;
  /**
   * Every portal the service has set up, enabled or not (tgt: the addresses tgtd listens on, also
   * ones no target is known to be paired with, e.g. after a restart without a state file; LIO:
   * the portals of all TPGs). Reconcile can disable the ones whose IP this node does not hold.
   */
  listPortals(options?: DriverCallOptions): Promise<ServicePortal[]>;
}

export const DEFAULT_ISCSI_PORT = 3260;

const IQN_RULE =
  /^(iqn\.\d{4}-\d{2}\.[A-Za-z0-9][A-Za-z0-9.:_-]*|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;
/** No whitespace, quotes or backslashes: targetcli re-parses its command line. */
const CHAP_RULE = /^[^\s"'\\]{1,255}$/;
const CEPH_NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isValidIqn(iqn: string): boolean {
  return iqn.length <= 223 && IQN_RULE.test(iqn);
}

export function validateIqn(iqn: string, field = "iqn"): void {
  if (!isValidIqn(iqn)) {
    throw invalidField(
      field,
      "an iSCSI name: iqn.YYYY-MM.reversed.domain[:suffix], eui.<16 hex> or naa.<hex>",
    );
  }
}

export function validateTargetSpec(spec: TargetSpec): void {
  validateIqn(spec.iqn);
  const backing = spec.backing;
  if (backing.kind === "file") {
    if (!backing.path.startsWith("/") || /[\s;]/.test(backing.path)) {
      throw invalidField("backing.path", "an absolute path without whitespace or ';'");
    }
  } else {
    for (const [field, value] of [
      ["backing.pool", backing.pool],
      ["backing.image", backing.image],
      ["backing.cephUser", backing.cephUser],
    ] as const) {
      if (!CEPH_NAME_RULE.test(value)) throw invalidField(field, "letters, digits, '.', '_' and '-'");
    }
    if (backing.cephUser.startsWith("client.")) {
      throw invalidField("backing.cephUser", "the client id without the 'client.' prefix");
    }
    if (!backing.cephConf.startsWith("/") || /[\s;]/.test(backing.cephConf)) {
      throw invalidField("backing.cephConf", "an absolute path without whitespace or ';'");
    }
  }
  if (!spec.acl.allInitiators) {
    if (spec.acl.initiatorIqns.length === 0) {
      throw invalidField("acl.initiatorIqns", "at least one initiator when allInitiators is false");
    }
    spec.acl.initiatorIqns.forEach((iqn, index) => validateIqn(iqn, `acl.initiatorIqns[${index}]`));
  }
  if (spec.chap !== undefined) {
    if (!CHAP_RULE.test(spec.chap.user)) {
      throw invalidField("chap.user", "1 to 255 characters without whitespace, quotes or backslashes");
    }
    if (!CHAP_RULE.test(spec.chap.secret)) {
      throw invalidField("chap.secret", "1 to 255 characters without whitespace, quotes or backslashes");
    }
  }
}

export function validatePortal(portal: PortalRef): { iqn: string; ip: string; port: number } {
  validateIqn(portal.iqn);
  if (!isIPv4(portal.ip)) throw invalidField("ip", "an IPv4 address");
  const port = portal.port ?? DEFAULT_ISCSI_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw invalidField("port", "an integer in 1..65535");
  return { iqn: portal.iqn, ip: portal.ip, port };
}

/** The initiators named by an ACL, sorted and without duplicates (empty for "all"). */
export function aclInitiators(acl: TargetAcl): string[] {
  return acl.allInitiators ? [] : [...new Set(acl.initiatorIqns)].sort();
}

/** What a LUN's backing is called in listings: the path, or "pool/image". */
export function backingName(backing: LunBacking): string {
  return backing.kind === "file" ? backing.path : `${backing.pool}/${backing.image}`;
}
