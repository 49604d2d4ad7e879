/**
 * TargetDriver over the kernel LIO target, driven with targetcli (one command per call, so each
 * step has its own exit status) and read back from configfs (LioStateReader).
 *
 * Modelled on PetaSAN's LIO usage (one TPG per path, tag = path index, the path's IP as the
 * TPG's only portal; a path is served by enabling its TPG and given up by disabling it):
 * - prepare: `targetcli / set global auto_add_default_portal=false auto_enable_tpgt=false
 *   auto_add_mapped_luns=false auto_save_on_exit=false`, so that nothing is created or enabled
 *   behind the driver's back (no 0.0.0.0:3260 portal) and nothing is persisted (reconcile
 *   rebuilds the configuration from Consul).
 * - Backstore: a file → `/backstores/fileio create name=N file_or_dev=PATH write_back=false`;
 *   an RBD image → `rbd device map pool/image --id USER --conf CONF` (kernel rbd; when not mapped
 *   yet) and `/backstores/block create name=N dev=/dev/rbd/pool/image`. N is the image name
 *   (or the file's base name).
 * - Target: `/iscsi create IQN`, then `/iscsi/IQN delete 1`: targetcli creates a TPG 1 on its
 *   own; TPGs are created by enablePortal only, one per path.
 * - TPG (enablePortal, for a portal no TPG has): `/iscsi/IQN create tag=T`; attributes
 *   `generate_node_acls` (1 = every initiator; 0 = only the ACLs), `authentication` (1 with
 *   CHAP), `demo_mode_write_protect=0 cache_dynamic_acls=1`; parameter `InitialR2T=No`; LUN 0
 *   over the backstore; one ACL per allowed initiator (with its mapped LUN); CHAP as
 *   `set auth userid=U password=S` on each ACL, or on the TPG when every initiator may log in;
 *   `/portals create IP PORT`; `enable`. A TPG stays (disabled) when its portal is disabled.
 * - ensureTarget on an existing target brings every TPG's ACL and CHAP in line; access is
 *   narrowed before it is widened (generate_node_acls off before ACLs change, credentials set
 *   before authentication is switched on).
 * - dropTarget: `/iscsi delete IQN`, the backstore when no other target uses it, and for an
 *   RBD image `rbd device unmap`.
 * - Enabling and disabling are checked in configfs afterwards (targetcli does not always fail
 *   with a non-zero exit status).
 * CHAP secrets are passed as secret arguments (masked in errors and logs). LIO's own
 * `tpg_enabled_sendtargets` attribute of PetaSAN's kernel is not part of mainline and not used.
 * enablePortal needs the target's spec, so ensureTarget must have been called on this driver
 * instance first (the node agent always ensures before enabling).
 */
import { createHmac, randomBytes } from "node:crypto";
import { basename } from "node:path";
import { SanpathError } from "../errors/sanpath-error.js";
import { secret, type CommandArg, type CommandResult, type CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import {
  ConfigfsLioStateReader,
  type LioBackstorePlugin,
  type LioState,
  type LioStateReader,
  type LioTpg,
} from "./lio-state.js";
import {
  aclInitiators,
  validateIqn,
  validatePortal,
  validateTargetSpec,
  type ConfiguredTarget,
  type DriverCallOptions,
  type EnablePortalRequest,
  type LunBacking,
  type PortalRef,
  type ServicePortal,
  type TargetDriver,
  type TargetSpec,
} from "./target-driver.js";

export interface LioDriverOptions {
  /** Runs targetcli and rbd. */
  runner: CommandRunner;
  /** Default: configfs at /sys/kernel/config/target. */
  state?: LioStateReader;
  /** Per command; default 30 s (targetcli starts a Python interpreter each time). */
  commandTimeoutMs?: number;
  logger?: Logger;
}

/** The LUN that carries the disk in every TPG (as PetaSAN does). */
export const LIO_DISK_LUN = 0;

export class LioDriver implements TargetDriver {
  readonly kind = "lio" as const;
  private readonly runner: CommandRunner;
  private readonly state: LioStateReader;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly queue = new KeyedQueue();
  private readonly specs = new Map<string, TargetSpec>();
  /** Keyed fingerprints of the CHAP secret applied per IQN (never the secret itself). */
  private readonly applied = new Map<string, string>();
  private readonly fingerprintKey = randomBytes(32);
  private prepared = false;

  constructor(options: LioDriverOptions) {
    this.runner = options.runner;
    this.state = options.state ?? new ConfigfsLioStateReader();
    this.timeoutMs = options.commandTimeoutMs ?? 30_000;
    this.logger = options.logger;
  }

  async prepare(options: DriverCallOptions = {}): Promise<void> {
    await this.serially(() => this.prepareOnce(options, true));
  }

  async ensureTarget(spec: TargetSpec, options: DriverCallOptions = {}): Promise<void> {
    validateTargetSpec(spec);
    await this.serially(async () => {
      await this.prepareOnce(options);
      const state = await this.state.read();
      const store = backstoreOf(spec.backing);
      if (spec.backing.kind === "rbd") await this.ensureRbdMapped(spec.backing, options);
      const existing = state.backstores.find((b) => b.plugin === store.plugin && b.name === store.name);
      if (existing === undefined) {
        await this.targetcli(`/backstores/${store.plugin}`, "create", store.createArgs, options);
      } else if (existing.device !== store.device) {
        throw new SanpathError(
          "failed_precondition",
          `LIO backstore ${store.plugin}/${store.name} is ${existing.device}, not ${store.device}`,
          { reason: "DRIVER_FAILED" },
        );
      }

      const target = state.targets.find((candidate) => candidate.iqn === spec.iqn);
      if (target === undefined) {
        await this.targetcli("/iscsi", "create", [spec.iqn], options);
        await this.targetcli(`/iscsi/${spec.iqn}`, "delete", ["1"], options);
        this.logger?.info({ iqn: spec.iqn }, "LIO target created");
      } else {
        const chapChanged = this.chapChanged(spec);
        for (const tpg of target.tpgs) await this.alignTpg(spec, tpg, chapChanged, options);
      }
      this.specs.set(spec.iqn, spec);
      this.applied.set(spec.iqn, this.fingerprint(spec));
    });
  }

  async enablePortal(request: EnablePortalRequest, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(request);
    await this.serially(async () => {
      await this.prepareOnce(options);
      const spec = this.specs.get(iqn);
      const target = (await this.state.read()).targets.find((candidate) => candidate.iqn === iqn);
      if (spec === undefined || target === undefined) {
        throw new SanpathError(
          "failed_precondition",
          `target ${iqn} is not configured here: ensureTarget first`,
          {
            reason: "DRIVER_FAILED",
          },
        );
      }
      let tpg = target.tpgs.find((candidate) => hasPortal(candidate, ip, port));
      if (tpg === undefined) {
        const tag = request.pathIndex ?? lowestFreeTag(target.tpgs);
        tpg = target.tpgs.find((candidate) => candidate.tag === tag);
        if (tpg !== undefined && tpg.portals.length > 0) {
          const other = tpg.portals.map((portal) => `${portal.ip}:${portal.port}`).join(", ");
          throw new SanpathError("failed_precondition", `TPG ${tag} of ${iqn} already serves ${other}`, {
            reason: "DRIVER_FAILED",
            field: "pathIndex",
          });
        }
        if (tpg === undefined) {
          await this.targetcli(`/iscsi/${iqn}`, "create", [`tag=${tag}`], options);
          tpg = await this.setUpNewTpg(spec, tag, options);
        }
        await this.targetcli(`${tpgPath(iqn, tpg.tag)}/portals`, "create", [ip, String(port)], options);
      }
      if (tpg.enabled) return;
      await this.targetcli(tpgPath(iqn, tpg.tag), "enable", [], options);
      await this.verifyPortal(iqn, ip, port, true);
    });
  }

  async disablePortal(portal: PortalRef, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(portal);
    await this.serially(async () => {
      const target = (await this.state.read()).targets.find((candidate) => candidate.iqn === iqn);
      const tpg = target?.tpgs.find((candidate) => hasPortal(candidate, ip, port));
      if (tpg?.enabled !== true) return;
      await this.targetcli(tpgPath(iqn, tpg.tag), "disable", [], options);
      await this.verifyPortal(iqn, ip, port, false);
    });
  }

  async isPortalEnabled(portal: PortalRef): Promise<boolean> {
    const { iqn, ip, port } = validatePortal(portal);
    return this.serially(async () => {
      const target = (await this.state.read()).targets.find((candidate) => candidate.iqn === iqn);
      return target?.tpgs.some((tpg) => tpg.enabled && hasPortal(tpg, ip, port)) === true;
    });
  }

  async dropTarget(iqn: string, options: DriverCallOptions = {}): Promise<void> {
    validateIqn(iqn);
    await this.serially(async () => {
      const state = await this.state.read();
      const target = state.targets.find((candidate) => candidate.iqn === iqn);
      if (target !== undefined) {
        await this.targetcli("/iscsi", "delete", [iqn], options);
        this.logger?.info({ iqn }, "LIO target deleted");
      }
      const used = new Set(
        (target?.tpgs ?? []).flatMap((tpg) =>
          tpg.luns.flatMap((lun) =>
            lun.backstore === undefined ? [] : [`${lun.backstore.plugin}/${lun.backstore.name}`],
          ),
        ),
      );
      const spec = this.specs.get(iqn);
      if (spec !== undefined) {
        const store = backstoreOf(spec.backing);
        used.add(`${store.plugin}/${store.name}`);
      }
      for (const key of used) {
        const usedElsewhere = state.targets.some(
          (other) =>
            other.iqn !== iqn &&
            other.tpgs.some((tpg) =>
              tpg.luns.some((lun) => `${lun.backstore?.plugin}/${lun.backstore?.name}` === key),
            ),
        );
        const backstore = state.backstores.find((b) => `${b.plugin}/${b.name}` === key);
        if (usedElsewhere || backstore === undefined) continue;
        await this.targetcli(`/backstores/${backstore.plugin}`, "delete", [backstore.name], options);
        if (backstore.plugin === "block" && backstore.device.startsWith("/dev/rbd/")) {
          await this.rbd(["device", "unmap", backstore.device], options);
        }
      }
      this.specs.delete(iqn);
      this.applied.delete(iqn);
    });
  }

  async listTargets(): Promise<ConfiguredTarget[]> {
    return this.serially(async () => {
      const state = await this.state.read();
      return state.targets.map((target) => toConfigured(target.iqn, target.tpgs, state));
    });
  }

  async listPortals(): Promise<ServicePortal[]> {
    return this.serially(async () => {
      const portals = new Map<string, ServicePortal>();
      for (const target of (await this.state.read()).targets) {
        for (const portal of target.tpgs.flatMap((tpg) => tpg.portals)) {
          const key = `${portal.ip}:${portal.port}`;
          const entry = portals.get(key) ?? { ip: portal.ip, port: portal.port, iqns: [] };
          if (!entry.iqns.includes(target.iqn)) entry.iqns.push(target.iqn);
          portals.set(key, entry);
        }
      }
      return [...portals.values()];
    });
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async prepareOnce(options: DriverCallOptions, force = false): Promise<void> {
    if (this.prepared && !force) return;
    await this.targetcli(
      "/",
      "set",
      [
        "global",
        "auto_add_default_portal=false",
        "auto_enable_tpgt=false",
        "auto_add_mapped_luns=false",
        "auto_save_on_exit=false",
      ],
      options,
    );
    this.prepared = true;
  }

  /** A new, disabled TPG with attributes, LUN, ACLs and CHAP; the portal comes next. */
  private async setUpNewTpg(spec: TargetSpec, tag: number, options: DriverCallOptions): Promise<LioTpg> {
    const path = tpgPath(spec.iqn, tag);
    const all = spec.acl.allInitiators;
    await this.targetcli(
      path,
      "set",
      [
        "attribute",
        `generate_node_acls=${all ? 1 : 0}`,
        `authentication=${spec.chap === undefined ? 0 : 1}`,
        "demo_mode_write_protect=0",
        "cache_dynamic_acls=1",
      ],
      options,
    );
    await this.targetcli(path, "set", ["parameter", "InitialR2T=No"], options);
    const store = backstoreOf(spec.backing);
    await this.targetcli(
      `${path}/luns`,
      "create",
      [`/backstores/${store.plugin}/${store.name}`, `lun=${LIO_DISK_LUN}`, "add_mapped_luns=false"],
      options,
    );
    for (const initiator of aclInitiators(spec.acl)) {
      await this.targetcli(`${path}/acls`, "create", [initiator, "add_mapped_luns=true"], options);
      if (spec.chap !== undefined) await this.setAuth(`${path}/acls/${initiator}`, spec, options);
    }
    if (spec.chap !== undefined && all) await this.setAuth(path, spec, options);
    return {
      tag,
      enabled: false,
      portals: [],
      luns: [{ lun: LIO_DISK_LUN, backstore: { plugin: store.plugin, name: store.name } }],
      acls: aclInitiators(spec.acl).map((initiator) => ({ initiator })),
      generateNodeAcls: all,
      authentication: spec.chap !== undefined,
    };
  }

  /** Brings an existing TPG's LUN, ACL and CHAP in line with the spec, narrowing first. */
  private async alignTpg(spec: TargetSpec, tpg: LioTpg, chapChanged: boolean, options: DriverCallOptions) {
    const path = tpgPath(spec.iqn, tpg.tag);
    const all = spec.acl.allInitiators;
    const wanted = aclInitiators(spec.acl);
    const current = tpg.acls.map((acl) => acl.initiator);
    const store = backstoreOf(spec.backing);
    if (!tpg.luns.some((lun) => lun.lun === LIO_DISK_LUN)) {
      await this.targetcli(
        `${path}/luns`,
        "create",
        [`/backstores/${store.plugin}/${store.name}`, `lun=${LIO_DISK_LUN}`, "add_mapped_luns=true"],
        options,
      );
    }
    if (!all && tpg.generateNodeAcls)
      await this.targetcli(path, "set", ["attribute", "generate_node_acls=0"], options);
    for (const initiator of current.filter((name) => !wanted.includes(name))) {
      await this.targetcli(`${path}/acls`, "delete", [initiator], options);
    }
    for (const initiator of wanted) {
      const isNew = !current.includes(initiator);
      if (isNew) await this.targetcli(`${path}/acls`, "create", [initiator, "add_mapped_luns=true"], options);
      if (spec.chap !== undefined && (isNew || chapChanged)) {
        await this.setAuth(`${path}/acls/${initiator}`, spec, options);
      }
    }
    if (spec.chap !== undefined && all && (chapChanged || tpg.chapUserid !== spec.chap.user)) {
      await this.setAuth(path, spec, options);
    }
    if (spec.chap !== undefined && !tpg.authentication) {
      await this.targetcli(path, "set", ["attribute", "authentication=1"], options);
    }
    if (spec.chap === undefined && tpg.authentication) {
      await this.targetcli(path, "set", ["attribute", "authentication=0"], options);
    }
    if (all && !tpg.generateNodeAcls)
      await this.targetcli(path, "set", ["attribute", "generate_node_acls=1"], options);
  }

  /** targetcli does not always fail loudly: what counts is what configfs shows afterwards. */
  private async verifyPortal(iqn: string, ip: string, port: number, enabled: boolean): Promise<void> {
    const target = (await this.state.read()).targets.find((candidate) => candidate.iqn === iqn);
    const tpg = target?.tpgs.find((candidate) => hasPortal(candidate, ip, port));
    if ((tpg?.enabled === true) === enabled) return;
    throw new SanpathError(
      "internal",
      `targetcli finished, but configfs shows ${iqn} at ${ip}:${port} ` +
        (enabled ? "not enabled" : "still enabled"),
      { reason: "DRIVER_FAILED" },
    );
  }

  private async setAuth(path: string, spec: TargetSpec, options: DriverCallOptions): Promise<void> {
    if (spec.chap === undefined) return;
    await this.targetcli(
      path,
      "set",
      ["auth", `userid=${spec.chap.user}`, secret(`password=${spec.chap.secret}`)],
      options,
    );
  }

  private chapChanged(spec: TargetSpec): boolean {
    return this.applied.get(spec.iqn) !== this.fingerprint(spec);
  }

  private async ensureRbdMapped(
    backing: Extract<LunBacking, { kind: "rbd" }>,
    options: DriverCallOptions,
  ): Promise<void> {
    const { stdout } = await this.rbd(["device", "list", "--format", "json"], options);
    let mapped: { pool?: string; name?: string; namespace?: string }[] = [];
    try {
      mapped = JSON.parse(stdout === "" ? "[]" : stdout) as typeof mapped;
    } catch (error) {
      throw new SanpathError("internal", "`rbd device list --format json` did not print JSON", {
        reason: "DRIVER_FAILED",
        cause: error,
      });
    }
    if (mapped.some((device) => device.pool === backing.pool && device.name === backing.image)) return;
    await this.rbd(
      [
        "device",
        "map",
        `${backing.pool}/${backing.image}`,
        "--id",
        backing.cephUser,
        "--conf",
        backing.cephConf,
      ],
      options,
    );
  }

  private targetcli(
    path: string,
    command: string,
    args: readonly CommandArg[],
    options: DriverCallOptions,
  ): Promise<CommandResult> {
    return this.run("targetcli", [path, command, ...args], options);
  }

  private rbd(args: readonly CommandArg[], options: DriverCallOptions): Promise<CommandResult> {
    return this.run("rbd", args, options);
  }

  private run(file: string, args: readonly CommandArg[], options: DriverCallOptions): Promise<CommandResult> {
    return this.runner.run(file, args, {
      timeoutMs: this.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  private fingerprint(spec: TargetSpec): string {
    const chap = spec.chap === undefined ? "" : `${spec.chap.user}\n${spec.chap.secret}`;
    return createHmac("sha256", this.fingerprintKey).update(chap).digest("hex");
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run("lio", task);
  }
}

interface BackstoreSpec {
  plugin: LioBackstorePlugin;
  name: string;
  device: string;
  createArgs: string[];
}

function backstoreOf(backing: LunBacking): BackstoreSpec {
  if (backing.kind === "rbd") {
    const device = `/dev/rbd/${backing.pool}/${backing.image}`;
    return {
      plugin: "block",
      name: backing.image,
      device,
      createArgs: [`name=${backing.image}`, `dev=${device}`],
    };
  }
  const name = basename(backing.path).replace(/[^A-Za-z0-9_-]/g, "_");
  return {
    plugin: "fileio",
    name,
    device: backing.path,
    createArgs: [`name=${name}`, `file_or_dev=${backing.path}`, "write_back=false"],
  };
}

function tpgPath(iqn: string, tag: number): string {
  return `/iscsi/${iqn}/tpg${tag}`;
}

function hasPortal(tpg: LioTpg, ip: string, port: number): boolean {
  return tpg.portals.some((portal) => portal.ip === ip && portal.port === port);
}

function lowestFreeTag(tpgs: readonly LioTpg[]): number {
  let tag = 1;
  while (tpgs.some((tpg) => tpg.tag === tag && tpg.portals.length > 0)) tag += 1;
  return tag;
}

function toConfigured(iqn: string, tpgs: readonly LioTpg[], state: LioState): ConfiguredTarget {
  const lunTpg = tpgs.find((tpg) => tpg.luns.length > 0);
  const first = tpgs[0];
  const chapUser = first?.chapUserid ?? first?.acls.find((acl) => acl.chapUserid !== undefined)?.chapUserid;
  return {
    iqn,
    luns: (lunTpg?.luns ?? []).map((lun) => {
      const store = state.backstores.find(
        (b) => b.plugin === lun.backstore?.plugin && b.name === lun.backstore.name,
      );
      const device = store?.device ?? "";
      return {
        lun: lun.lun,
        backing: device.startsWith("/dev/rbd/") ? device.slice("/dev/rbd/".length) : device,
        backingType: store?.plugin ?? "",
      };
    }),
    portals: tpgs.flatMap((tpg) =>
      tpg.portals.map((portal) => ({ ...portal, enabled: tpg.enabled, tpgTag: tpg.tag })),
    ),
    acl: {
      allInitiators: first?.generateNodeAcls ?? false,
      initiatorIqns: [...new Set(tpgs.flatMap((tpg) => tpg.acls.map((acl) => acl.initiator)))].sort(),
    },
    ...(chapUser === undefined ? {} : { chapUser }),
  };
}
