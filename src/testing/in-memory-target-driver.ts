/**
 * A TargetDriver (kind "tgt") over an in-memory target service, with the observable semantics of
 * TgtDriver (src/iscsi/tgt-driver.ts), checked by the same contract suite
 * (test/contract/target-driver.contract.ts):
 *
 * - Targets get tids (highest + 1), LUN 1 over the backing ("rdwr" for a file, "rbd" for an
 *   image), an ACL ("all initiators", or the sorted initiator names) and optionally a CHAP user.
 *   A LUN backed by something else is refused (FAILED_PRECONDITION: drop the target first); one
 *   CHAP user has one secret on the node (another secret for a user bound to another target is
 *   refused, field "chap.secret"). Secrets never show in listings or errors.
 * - Portals: enabling needs the target (FAILED_PRECONDITION otherwise); the service listens on a
 *   portal while some target is paired with it; a target without an enabled portal is offline.
 *   Disabling or dropping what is not there is a no-op. dropTarget forgets the target's pairings,
 *   its CHAP accounts no other target uses and the listeners no other target is paired with.
 * - Listings answer from what the driver believes (its own changes); `{ fresh: true }` reads the
 *   service. Changes made behind its back with `external` show after a fresh read, or are found
 *   (and the belief re-read) by the driver's next operation on the same target or portal.
 * - Faults and the call record: `faults` (see DriverFaults). A call whose signal aborts while it
 *   waits (or was aborted already) rejects with CANCELLED / DEADLINE_EXCEEDED, DRIVER_FAILED.
 */
import { SanpathError } from "../errors/sanpath-error.js";
import {
  aclInitiators,
  backingName,
  DEFAULT_ISCSI_PORT,
  validateIqn,
  validatePortal,
  validateTargetSpec,
  type ConfiguredTarget,
  type DriverCallOptions,
  type EnablePortalRequest,
  type PortalRef,
  type ServicePortal,
  type TargetDriver,
  type TargetSpec,
} from "../iscsi/target-driver.js";
import { givenUp } from "../iscsi/tgt-operation-order.js";
import { DriverFaults } from "./driver-faults.js";

export type TargetMethod =
  | "prepare"
  | "ensureTarget"
  | "enablePortal"
  | "disablePortal"
  | "isPortalEnabled"
  | "dropTarget"
  | "listTargets"
  | "listPortals";

interface ServiceTarget {
  tid: number;
  iqn: string;
  ready: boolean;
  lun: { backing: string; backingType: string } | undefined;
  allInitiators: boolean;
  initiatorIqns: string[];
  accounts: string[];
}

/** What the target service holds (and, as a copy, what the driver believes it holds). */
interface ServiceState {
  targets: Map<string, ServiceTarget>;
  listening: Set<string>;
  /** CHAP user → secret. */
  accounts: Map<string, string>;
}

export class InMemoryTargetDriver implements TargetDriver {
  readonly kind = "tgt" as const;
  readonly faults = new DriverFaults<TargetMethod>(givenUp);
  private service: ServiceState = { targets: new Map(), listening: new Set(), accounts: new Map() };
  private belief: ServiceState | undefined;
  /** Which portals (ip:port) are enabled for which target: the driver's own (tgt has no such notion). */
  private readonly pairings = new Map<string, Set<string>>();
  /** The target daemon is not running: every call that reaches it fails. */
  private down = false;

  /** Changes behind the driver's back (an administrator with tgtadm, a restarted daemon). */
  readonly external = {
    deleteTarget: (iqn: string): void => {
      this.service.targets.delete(iqn);
    },
    stopListening: (ip: string, port = DEFAULT_ISCSI_PORT): void => {
      this.service.listening.delete(portalKey(ip, port));
    },
    /** The target daemon restarted: no target, listener or account is left (the pairings are). */
    restartService: (): void => {
      this.service = { targets: new Map(), listening: new Set(), accounts: new Map() };
    },
    /** The target daemon died (kill -9): nothing is served, calls that reach it fail until startService(). */
    stopService: (): void => {
      this.external.restartService();
      this.down = true;
    },
    /** A new target daemon: running again, empty. */
    startService: (): void => {
      this.external.restartService();
      this.down = false;
    },
  };

  /** The service as it really is: listed as a fresh read would list it, without changing the belief. */
  serviceTargets(): ConfiguredTarget[] {
    return this.render(this.service);
  }

  async prepare(options: DriverCallOptions = {}): Promise<void> {
    await this.faults.enter("prepare", [], options.signal);
    this.reach();
    this.read({ fresh: true });
  }

  async ensureTarget(spec: TargetSpec, options: DriverCallOptions = {}): Promise<void> {
    validateTargetSpec(spec);
    await this.faults.enter("ensureTarget", [spec], options.signal);
    this.reach();
    this.align(spec.iqn, []);
    try {
      let target = this.service.targets.get(spec.iqn);
      if (target === undefined) {
        const tid = Math.max(0, ...[...this.service.targets.values()].map((known) => known.tid)) + 1;
        target = {
          tid,
          iqn: spec.iqn,
          ready: false,
          lun: undefined,
          allInitiators: false,
          initiatorIqns: [],
          accounts: [],
        };
        this.service.targets.set(spec.iqn, target);
      }
      target.ready = this.portalsOf(spec.iqn).length > 0;
      const wanted = backingName(spec.backing);
      if (target.lun !== undefined && target.lun.backing !== wanted) {
        throw new SanpathError(
          "failed_precondition",
          `LUN 1 of ${spec.iqn} is backed by ${target.lun.backing}, not ${wanted}: drop the target first`,
          { reason: "DRIVER_FAILED" },
        );
      }
      target.lun ??= { backing: wanted, backingType: spec.backing.kind === "file" ? "rdwr" : "rbd" };
      target.allInitiators = spec.acl.allInitiators;
      target.initiatorIqns = aclInitiators(spec.acl);
      this.applyChap(target, spec.chap);
    } finally {
      this.believeTarget(spec.iqn);
    }
  }

  async enablePortal(request: EnablePortalRequest, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(request);
    await this.faults.enter("enablePortal", [request], options.signal);
    this.reach();
    const key = portalKey(ip, port);
    this.align(iqn, [key]);
    const target = this.service.targets.get(iqn);
    if (target === undefined) {
      throw new SanpathError("failed_precondition", `target ${iqn} is not configured: ensureTarget first`, {
        reason: "DRIVER_FAILED",
      });
    }
    this.service.listening.add(key);
    const keys = this.pairings.get(iqn) ?? new Set<string>();
    keys.add(key);
    this.pairings.set(iqn, keys);
    target.ready = true;
    this.believeTarget(iqn, [key]);
  }

  async disablePortal(portal: PortalRef, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(portal);
    await this.faults.enter("disablePortal", [portal], options.signal);
    this.reach();
    const key = portalKey(ip, port);
    this.align(iqn, [key]);
    const keys = this.pairings.get(iqn);
    keys?.delete(key);
    if (keys?.size === 0) this.pairings.delete(iqn);
    if (this.iqnsAt(key).length === 0) this.service.listening.delete(key);
    const target = this.service.targets.get(iqn);
    if (target !== undefined) target.ready = this.portalsOf(iqn).length > 0;
    this.believeTarget(iqn, [key]);
  }

  async isPortalEnabled(portal: PortalRef, options: DriverCallOptions = {}): Promise<boolean> {
    const { iqn, ip, port } = validatePortal(portal);
    await this.faults.enter("isPortalEnabled", [portal], options.signal);
    const key = portalKey(ip, port);
    const state = this.read(options);
    return (
      this.pairings.get(iqn)?.has(key) === true &&
      state.targets.get(iqn)?.ready === true &&
      state.listening.has(key)
    );
  }

  async dropTarget(iqn: string, options: DriverCallOptions = {}): Promise<void> {
    validateIqn(iqn);
    await this.faults.enter("dropTarget", [iqn], options.signal);
    this.reach();
    const formerPortals = this.portalsOf(iqn);
    this.align(iqn, formerPortals);
    this.pairings.delete(iqn);
    const target = this.service.targets.get(iqn);
    if (target !== undefined) {
      this.service.targets.delete(iqn);
      for (const user of target.accounts) this.deleteAccountIfUnused(user);
    }
    for (const key of formerPortals) {
      if (this.iqnsAt(key).length === 0) this.service.listening.delete(key);
    }
    this.believeTarget(iqn, formerPortals);
  }

  async listTargets(options: DriverCallOptions = {}): Promise<ConfiguredTarget[]> {
    await this.faults.enter("listTargets", [], options.signal);
    if (options.observe === true) {
      this.reach();
      return this.serviceTargets();
    }
    return this.render(this.read(options));
  }

  async listPortals(options: DriverCallOptions = {}): Promise<ServicePortal[]> {
    await this.faults.enter("listPortals", [], options.signal);
    return [...this.read(options).listening]
      .sort()
      .map((key) => ({ ...splitKey(key), iqns: this.iqnsAt(key).sort() }));
  }

  // ---- internals -------------------------------------------------------------------------------

  private applyChap(target: ServiceTarget, chap: TargetSpec["chap"]): void {
    if (chap !== undefined) {
      const current = this.service.accounts.get(chap.user);
      const elsewhere = [...this.service.targets.values()].filter(
        (other) => other.iqn !== target.iqn && other.accounts.includes(chap.user),
      );
      if (current !== undefined && current !== chap.secret && elsewhere.length > 0) {
        throw new SanpathError(
          "failed_precondition",
          `tgt keeps one CHAP secret per user on a node: user ${chap.user} is also used by ` +
            `${elsewhere.map((other) => other.iqn).join(", ")} with another secret`,
          { reason: "DRIVER_FAILED", field: "chap.secret" },
        );
      }
      this.service.accounts.set(chap.user, chap.secret);
      if (!target.accounts.includes(chap.user)) target.accounts.push(chap.user);
    }
    for (const user of target.accounts.filter((bound) => bound !== chap?.user)) {
      target.accounts = target.accounts.filter((bound) => bound !== user);
      this.deleteAccountIfUnused(user);
    }
  }

  private deleteAccountIfUnused(user: string): void {
    const used = [...this.service.targets.values()].some((other) => other.accounts.includes(user));
    if (!used) this.service.accounts.delete(user);
  }

  private portalsOf(iqn: string): string[] {
    return [...(this.pairings.get(iqn) ?? [])].sort();
  }

  private iqnsAt(key: string): string[] {
    return [...this.pairings.entries()].filter(([, keys]) => keys.has(key)).map(([iqn]) => iqn);
  }

  private read(options: DriverCallOptions): ServiceState {
    if (options.fresh === true || this.belief === undefined) {
      this.reach();
      this.belief = cloneState(this.service);
    }
    return this.belief;
  }

  /** A call reaches the target daemon: it fails as tgtadm does when tgtd is not running. */
  private reach(): void {
    if (!this.down) return;
    throw new SanpathError(
      "internal",
      "command failed (exit code 107): tgtadm: failed to send request hdr to tgt daemon, Transport endpoint is not connected",
      { reason: "DRIVER_FAILED" },
    );
  }

  /**
   * Before an operation on `iqn` (and `keys`): where the belief is not what the service holds,
   * the driver finds out (a command fails) and re-reads everything, as TgtDriver does.
   */
  private align(iqn: string, keys: readonly string[]): void {
    const believed = this.read({});
    const target = this.service.targets.get(iqn);
    const stale =
      believed.targets.get(iqn)?.tid !== target?.tid ||
      keys.some((key) => believed.listening.has(key) !== this.service.listening.has(key));
    if (stale) this.read({ fresh: true });
  }

  /** After an operation: the driver believes what it did to `iqn` and `keys` (and the accounts). */
  private believeTarget(iqn: string, keys: readonly string[] = []): void {
    const belief = this.read({});
    const target = this.service.targets.get(iqn);
    if (target === undefined) belief.targets.delete(iqn);
    else belief.targets.set(iqn, cloneTarget(target));
    for (const key of keys) {
      if (this.service.listening.has(key)) belief.listening.add(key);
      else belief.listening.delete(key);
    }
    belief.accounts = new Map(this.service.accounts);
  }

  private render(state: ServiceState): ConfiguredTarget[] {
    return [...state.targets.values()]
      .sort((left, right) => left.tid - right.tid)
      .map((target) => ({
        iqn: target.iqn,
        tid: target.tid,
        luns: target.lun === undefined ? [] : [{ lun: 1, ...target.lun }],
        portals: this.portalsOf(target.iqn).map((key) => ({
          ...splitKey(key),
          enabled: target.ready && state.listening.has(key),
        })),
        acl: { allInitiators: target.allInitiators, initiatorIqns: [...target.initiatorIqns] },
        ...(target.accounts[0] === undefined ? {} : { chapUser: target.accounts[0] }),
      }));
  }
}

function portalKey(ip: string, port: number): string {
  return `${ip}:${port}`;
}

function splitKey(key: string): { ip: string; port: number } {
  const at = key.lastIndexOf(":");
  return { ip: key.slice(0, at), port: Number(key.slice(at + 1)) };
}

function cloneTarget(target: ServiceTarget): ServiceTarget {
  return {
    ...target,
    lun: target.lun === undefined ? undefined : { ...target.lun },
    initiatorIqns: [...target.initiatorIqns],
    accounts: [...target.accounts],
  };
}

function cloneState(state: ServiceState): ServiceState {
  return {
    targets: new Map([...state.targets].map(([iqn, target]) => [iqn, cloneTarget(target)])),
    listening: new Set(state.listening),
    accounts: new Map(state.accounts),
  };
}
