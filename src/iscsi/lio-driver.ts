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
 *
 * The parts: targetcli and rbd bound to the runner (lio-cli.ts), backstores and RBD mapping
 * (lio-backstores.ts), the TPG steps (lio-tpgs.ts), the listings read off configfs
 * (lio-listing.ts); configfs itself is read by lio-state.ts.
 */
import { createHmac, randomBytes } from "node:crypto";
import { SanpathError } from "../errors/sanpath-error.js";
import type { CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { backstoreOf, dropUnusedBackstores, ensureRbdMapped } from "./lio-backstores.js";
import { boundLioCli, type LioCli } from "./lio-cli.js";
import { configuredTargets, servicePortals } from "./lio-listing.js";
import { ConfigfsLioStateReader, type LioStateReader } from "./lio-state.js";
import { alignTpg, hasPortal, LIO_DISK_LUN, lowestFreeTag, setUpNewTpg, tpgPath } from "./lio-tpgs.js";
import {
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

export { LIO_DISK_LUN };

export class LioDriver implements TargetDriver {
  readonly kind = "lio" as const;
  private readonly cli: LioCli;
  private readonly state: LioStateReader;
  private readonly logger: Logger | undefined;
  private readonly queue = new KeyedQueue();
  private readonly specs = new Map<string, TargetSpec>();
  /** Keyed fingerprints of the CHAP secret applied per IQN (never the secret itself). */
  private readonly applied = new Map<string, string>();
  private readonly fingerprintKey = randomBytes(32);
  private prepared = false;

  constructor(options: LioDriverOptions) {
    this.cli = boundLioCli(options.runner, options.commandTimeoutMs ?? 30_000);
    this.state = options.state ?? new ConfigfsLioStateReader();
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
      if (spec.backing.kind === "rbd") await ensureRbdMapped(this.cli, spec.backing, options);
      const existing = state.backstores.find((b) => b.plugin === store.plugin && b.name === store.name);
      if (existing === undefined) {
        await this.cli.targetcli(`/backstores/${store.plugin}`, "create", store.createArgs, options);
      } else if (existing.device !== store.device) {
        throw new SanpathError(
          "failed_precondition",
          `LIO backstore ${store.plugin}/${store.name} is ${existing.device}, not ${store.device}`,
          { reason: "DRIVER_FAILED" },
        );
      }

      const target = state.targets.find((candidate) => candidate.iqn === spec.iqn);
      if (target === undefined) {
        await this.cli.targetcli("/iscsi", "create", [spec.iqn], options);
        await this.cli.targetcli(`/iscsi/${spec.iqn}`, "delete", ["1"], options);
        this.logger?.info({ iqn: spec.iqn }, "LIO target created");
      } else {
        const chapChanged = this.chapChanged(spec);
        for (const tpg of target.tpgs) await alignTpg(this.cli, spec, tpg, chapChanged, options);
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
          await this.cli.targetcli(`/iscsi/${iqn}`, "create", [`tag=${tag}`], options);
          tpg = await setUpNewTpg(this.cli, spec, tag, options);
        }
        await this.cli.targetcli(`${tpgPath(iqn, tpg.tag)}/portals`, "create", [ip, String(port)], options);
      }
      if (tpg.enabled) return;
      await this.cli.targetcli(tpgPath(iqn, tpg.tag), "enable", [], options);
      await this.verifyPortal(iqn, ip, port, true);
    });
  }

  async disablePortal(portal: PortalRef, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(portal);
    await this.serially(async () => {
      const target = (await this.state.read()).targets.find((candidate) => candidate.iqn === iqn);
      const tpg = target?.tpgs.find((candidate) => hasPortal(candidate, ip, port));
      if (tpg?.enabled !== true) return;
      await this.cli.targetcli(tpgPath(iqn, tpg.tag), "disable", [], options);
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
        await this.cli.targetcli("/iscsi", "delete", [iqn], options);
        this.logger?.info({ iqn }, "LIO target deleted");
      }
      await dropUnusedBackstores(this.cli, state, iqn, target, this.specs.get(iqn), options);
      this.specs.delete(iqn);
      this.applied.delete(iqn);
    });
  }

  async listTargets(): Promise<ConfiguredTarget[]> {
    return this.serially(async () => configuredTargets(await this.state.read()));
  }

  async listPortals(): Promise<ServicePortal[]> {
    return this.serially(async () => servicePortals(await this.state.read()));
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async prepareOnce(options: DriverCallOptions, force = false): Promise<void> {
    if (this.prepared && !force) return;
    await this.cli.targetcli(
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

  private chapChanged(spec: TargetSpec): boolean {
    return this.applied.get(spec.iqn) !== this.fingerprint(spec);
  }

  private fingerprint(spec: TargetSpec): string {
    const chap = spec.chap === undefined ? "" : `${spec.chap.user}\n${spec.chap.secret}`;
    return createHmac("sha256", this.fingerprintKey).update(chap).digest("hex");
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run("lio", task);
  }
}
