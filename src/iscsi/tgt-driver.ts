/**
 * TargetDriver over tgt's user-space daemon, through `tgtadm -C <control port> --lld iscsi`.
 *
 * How tgt is used:
 * - Target: `--op new --mode target --tid T --targetname IQN`; tids are allocated here (highest
 *   in `--op show` + 1). LUN 1 holds the disk (LUN 0 is tgt's controller): `--bstype rdwr` over a
 *   file, or `--bstype rbd --backing-store pool/image --bsopts conf=...;id=...` through librbd.
 * - ACL: tgt checks initiator names only when it has name rules; otherwise it wants an address
 *   rule. "All initiators" is the single address rule `-I ALL` (`--initiator-address ALL`); a
 *   restricted target has one `--initiator-name IQN` rule per initiator and no address rule (an
 *   `ALL` address rule would let every name in). A target with no rule accepts nobody, which is
 *   how a new target starts. Rules are removed before new ones are added, so a change never
 *   widens access even for a moment.
 * - CHAP: accounts are node-wide in tgt (`--mode account --op new --user U --password S`, then
 *   `--op bind --tid T --user U`); a target with a bound account requires CHAP. tgt cannot show
 *   a secret, so the driver keeps a keyed fingerprint of the secret it set per user (in memory)
 *   and re-creates the account when it does not know it or the secret changed. While an account
 *   is re-created, every target bound to it is set offline so that nobody logs in without CHAP
 *   in between. One user name has one secret on a node: two targets that use the same user with
 *   different secrets are refused (FAILED_PRECONDITION). The secret is on tgtadm's command line
 *   for the few milliseconds the call lasts (tgtadm has no other way), never in logs or errors.
 * - Portals: tgtd listens on portals node-wide (`--mode portal --op new --param portal=IP:PORT`)
 *   and, unless told otherwise, on the wildcards 0.0.0.0:3260 and [::]:3260. The driver deletes
 *   the wildcards, so tgtd only listens on the portal IPs that are enabled, and keeps a pairing
 *   "target T is enabled at IP:PORT" (PortalPairings, optionally in a state file). A target with
 *   no enabled portal is set `offline` (tgt refuses logins to it); with one it is `ready`.
 *   Limitation of tgt: a ready target is also reachable at the portals of other ready targets on
 *   the same node (each path IP is only on the node that serves it, and ACL and CHAP still apply).
 *   Binding a portal to an IP that is not on the node yet needs `net.ipv4.ip_nonlocal_bind=1`;
 *   otherwise add the IP before enabling the portal.
 * - Disabling a portal deletes the listener (when no other target is paired with it), sets the
 *   target offline when it was its last portal, and closes connections: when it was the target's
 *   last portal (or another target shares the portal), all the target's connections
 *   (`--mode conn --op delete`; tgt does not tell through which portal a connection came);
 *   otherwise only those through this portal, by destroying the TCP sockets whose local end is
 *   the portal (`ss -K`), so that the target's sessions at its other portals go on. Where the
 *   kernel cannot destroy sockets, all the target's connections, as before.
 * - Dropping a target: `--op delete --force --mode target --tid T`, then its CHAP accounts that
 *   no other target uses, and the listeners that no target is paired with any more.
 *
 * State and concurrency: the driver keeps a model of what tgtd holds (TgtModel: targets, LUNs, ACL
 * rules, accounts, listeners), read with `--op show` at first use and updated after each command
 * that succeeded, so an operation runs only the commands that change something (the connections
 * to close are listed per target at the time). A command that fails, or a target that is not
 * where the model says, makes the driver re-read tgtd and run the operation once more from the
 * fresh model; `{ fresh: true }` on a listing re-reads first (reconcile's authoritative read).
 * Operations on one target IQN (creating and aligning it, its state, dropping it) run one after
 * another; operations on different targets run in parallel. Listeners (serialised per portal),
 * pairings and the sockets of one portal are handled beside the target's queue, so that several
 * paths of one disk are given up at once. tids come from the model. Re-reads, and operations that
 * create, re-create or delete CHAP accounts (node-wide in tgt), run alone. Callers with a
 * deadline stop waiting for their turn when it passes (a fence tear-down goes on to the IP).
 */
import { createHmac, randomBytes } from "node:crypto";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import {
  failedWith,
  isCommandFailedError,
  secret,
  type CommandArg,
  type CommandResult,
  type CommandRunner,
} from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { PortalPairings } from "./portal-pairings.js";
import { SharedExclusiveLock } from "../util/shared-exclusive-lock.js";
import {
  aclInitiators,
  backingName,
  validateIqn,
  validatePortal,
  validateTargetSpec,
  type ChapCredentials,
  type ConfiguredTarget,
  type DriverCallOptions,
  type EnablePortalRequest,
  type PortalRef,
  type ServicePortal,
  type TargetDriver,
  type TargetSpec,
} from "./target-driver.js";
import { TgtModel } from "./tgt-model.js";
import {
  emptyTgtTarget,
  isWildcardPortal,
  parseTgtAccounts,
  parseTgtConnections,
  parseTgtPortals,
  parseTgtTargets,
  type TgtTarget,
} from "./tgt-show.js";

export interface TgtDriverOptions {
  /** Runs tgtadm (an ExecaCommandRunner, bound to the node's namespace in tests). */
  runner: CommandRunner;
  /** tgtd's control port (`tgtd -C N`); tgt's default when unset. */
  controlPort?: number;
  /** Where to remember which target is enabled at which portal (see PortalPairings). */
  stateFile?: string;
  /** Per tgtadm call; default 15 s. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

/** The LUN that carries the disk (LUN 0 is tgt's controller). */
export const TGT_DISK_LUN = 1;

const ALL_ADDRESSES = "ALL";

/** tgtd is not as the model says (a target missing); the driver re-reads it and tries once more. */
class ModelMismatchError extends SanpathError {}

export class TgtDriver implements TargetDriver {
  readonly kind = "tgt" as const;
  private readonly runner: CommandRunner;
  private readonly controlPort: number | undefined;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly pairings: PortalPairings;
  private readonly model = new TgtModel();
  private readonly lock = new SharedExclusiveLock();
  /** One operation at a time per target IQN. */
  private readonly targetQueue = new KeyedQueue();
  /** Whether `ss -K` closes sockets here (the kernel needs CONFIG_INET_DIAG_DESTROY). */
  private socketKill: "unknown" | "works" | "unsupported" = "unknown";
  /** Listener changes one at a time per portal (ip:port). */
  private readonly portalQueue = new KeyedQueue();
  private loading: Promise<void> | undefined;
  /** Keyed fingerprints of the CHAP secrets this driver set, per user (never the secrets). */
  private readonly secretFingerprints = new Map<string, string>();
  private readonly fingerprintKey = randomBytes(32);

  constructor(options: TgtDriverOptions) {
    this.runner = options.runner;
    this.controlPort = options.controlPort;
    this.timeoutMs = options.commandTimeoutMs ?? 15_000;
    this.logger = options.logger;
    this.pairings = new PortalPairings(options.stateFile);
  }

  async prepare(options: DriverCallOptions = {}): Promise<void> {
    await this.refresh(options);
  }

  async ensureTarget(spec: TargetSpec, options: DriverCallOptions = {}): Promise<void> {
    validateTargetSpec(spec);
    await this.operate(
      spec.iqn,
      options,
      () => this.changesAccounts(spec),
      async () => {
        let target = this.model.target(spec.iqn);
        if (target === undefined) {
          const tid = this.model.reserveTid();
          try {
            // A new target has no ACL rule yet, so nobody can log in until the rules below exist.
            await this.tgtadm(
              ["--op", "new", "--mode", "target", "--tid", String(tid), "--targetname", spec.iqn],
              options,
            );
            target = emptyTgtTarget(tid, spec.iqn, "ready");
            this.model.addTarget(target);
          } finally {
            this.model.releaseTid(tid);
          }
          this.logger?.info({ iqn: spec.iqn, tid }, "tgt target created");
        }
        await this.applyState(target, this.pairings.portalsOf(spec.iqn).length > 0, options);
        await this.ensureDiskLun(target, spec, options);
        await this.applyAcl(target, spec, options);
        await this.applyChap(target, spec.chap, options);
      },
    );
  }

  async enablePortal(request: EnablePortalRequest, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(request);
    const key = PortalPairings.key(ip, port);
    let saved: Promise<void> = Promise.resolve();
    // The listener and the pairing beside the target's other operations; the state in its order.
    await this.withRetry(iqn, options, async () => {
      await this.besideTarget(options, async () => {
        if (this.model.target(iqn) === undefined) throw targetMissing(iqn);
        await this.portalQueue.run(key, async () => {
          if (this.model.isListening(key)) return;
          try {
            await this.tgtadm(["--op", "new", "--mode", "portal", "--param", `portal=${key}`], options);
          } catch (error) {
            throw new SanpathError(
              "internal",
              `tgtd cannot listen on ${key} (the IP must be on the node first, or ` +
                `net.ipv4.ip_nonlocal_bind=1, and the port free): ${errorMessage(error)}`,
              { reason: "DRIVER_FAILED", cause: error },
            );
          }
          this.model.setListening(key, true);
        });
        if (this.pairings.add(iqn, key)) saved = this.savePairings();
      });
      await this.inTargetOrder(
        iqn,
        options,
        () => false,
        async () => {
          const target = this.model.target(iqn);
          if (target === undefined) throw targetMissing(iqn);
          // Set even when believed ready: the command fails if tgtd lost the target, so a portal is
          // never reported enabled for a target that is not there.
          await this.setState(target, this.pairings.portalsOf(iqn).length > 0 ? "ready" : "offline", options);
        },
      );
    });
    // Written once the target is free for its next operation: saves made meanwhile go together.
    await saved;
  }

  async disablePortal(portal: PortalRef, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(portal);
    const key = PortalPairings.key(ip, port);
    let saved: Promise<void> = Promise.resolve();
    await this.withRetry(iqn, options, async () => {
      const decided = { targetWide: false };
      // Beside the target's other operations: the pairing, the listener, and the connections
      // through this portal when the target keeps other portals. Pairings change synchronously,
      // so of several portals disabled at once exactly the last one finds none left.
      await this.besideTarget(options, async () => {
        if (this.pairings.remove(iqn, key)) saved = this.savePairings();
        const portalUnused = this.pairings.iqnsAt(key).length === 0;
        if (portalUnused) await this.stopListening(key, options);
        const target = this.model.target(iqn);
        if (target === undefined) return;
        decided.targetWide =
          this.pairings.portalsOf(iqn).length === 0 || !portalUnused || this.socketKill === "unsupported";
        if (!decided.targetWide) await this.closePortalSockets(target, ip, port, options);
      });
      if (!decided.targetWide) return;
      // In the target's order, decided there: offline when no portal is left (an enable may have
      // come in meanwhile), then every connection of the target closed.
      await this.inTargetOrder(
        iqn,
        options,
        () => false,
        async () => {
          const target = this.model.target(iqn);
          if (target === undefined) return;
          await this.applyState(target, this.pairings.portalsOf(iqn).length > 0, options);
          await this.closeConnections(target, options);
        },
      );
    });
    await saved;
  }

  async isPortalEnabled(portal: PortalRef, options: DriverCallOptions = {}): Promise<boolean> {
    const { iqn, ip, port } = validatePortal(portal);
    const key = PortalPairings.key(ip, port);
    await this.readyToRead(options);
    return (
      this.pairings.has(iqn, key) && this.model.target(iqn)?.state === "ready" && this.model.isListening(key)
    );
  }

  async dropTarget(iqn: string, options: DriverCallOptions = {}): Promise<void> {
    validateIqn(iqn);
    let formerPortals: string[] | undefined;
    let saved: Promise<void> = Promise.resolve();
    await this.operate(
      iqn,
      options,
      () => (this.model.target(iqn)?.accounts.length ?? 0) > 0,
      async () => {
        // Taken at the first attempt: a retry finds the pairings already forgotten.
        formerPortals ??= this.pairings.portalsOf(iqn);
        if (this.pairings.forget(iqn)) saved = this.savePairings();
        const target = this.model.target(iqn);
        if (target !== undefined) {
          await this.tgtadm(
            ["--op", "delete", "--force", "--mode", "target", "--tid", String(target.tid)],
            options,
          );
          this.model.removeTarget(iqn);
          this.logger?.info({ iqn, tid: target.tid }, "tgt target deleted");
          for (const user of target.accounts) {
            if (this.model.boundElsewhere(user, target.tid).length === 0)
              await this.deleteAccount(user, options);
          }
        }
        for (const key of formerPortals) {
          if (this.pairings.iqnsAt(key).length === 0) await this.stopListening(key, options);
        }
      },
    );
    // Written once the target is free for its next operation: saves made meanwhile go together.
    await saved;
  }

  async listTargets(options: DriverCallOptions = {}): Promise<ConfiguredTarget[]> {
    await this.readyToRead(options);
    return this.model.targets().map((target) => ({
      iqn: target.iqn,
      tid: target.tid,
      luns: target.luns
        .filter((lun) => lun.type !== "controller")
        .map((lun) => ({ lun: lun.lun, backing: lun.backingStorePath, backingType: lun.backingStoreType })),
      portals: this.pairings.portalsOf(target.iqn).map((key) => ({
        ...PortalPairings.split(key),
        enabled: target.state === "ready" && this.model.isListening(key),
      })),
      acl: {
        allInitiators: target.aclAddresses.includes(ALL_ADDRESSES),
        initiatorIqns: [...target.aclNames].sort(),
      },
      ...(target.accounts[0] === undefined ? {} : { chapUser: target.accounts[0] }),
    }));
  }

  async listPortals(options: DriverCallOptions = {}): Promise<ServicePortal[]> {
    await this.readyToRead(options);
    return this.model.listening().map((key) => ({
      ...PortalPairings.split(key),
      iqns: this.pairings.iqnsAt(key).sort(),
    }));
  }

  // ---- model -----------------------------------------------------------------------------------

  /** `step` for target `iqn` in the target's order, re-read and retried once (see withRetry). */
  private operate(
    iqn: string,
    options: DriverCallOptions,
    alone: () => boolean,
    step: () => Promise<void>,
  ): Promise<void> {
    return this.withRetry(iqn, options, () => this.inTargetOrder(iqn, options, alone, step));
  }

  /**
   * Runs `attempt`; when a command in it fails or the model proves wrong, re-reads tgtd and runs
   * it once more (from the fresh model). Called holding neither the lock nor a target's turn.
   */
  private async withRetry(
    iqn: string,
    options: DriverCallOptions,
    attempt: () => Promise<void>,
  ): Promise<void> {
    await untilGivenUp(this.ensureLoaded(options), options.signal);
    try {
      await attempt();
    } catch (error) {
      if (options.signal?.aborted === true || !isModelSymptom(error)) throw error;
      this.logger?.info(
        { iqn, err: errorMessage(error) },
        "tgtd is not as this driver believed: re-reading it and trying once more",
      );
      await untilGivenUp(this.refresh(options), options.signal);
      await attempt();
    }
  }

  /**
   * `step` after the operations on target `iqn` queued before it: alone when `alone()` says so
   * (account changes), else beside other targets' operations. A caller with a deadline (a fence
   * tear-down) does not wait past it for its turn, and a step whose caller gave up does nothing.
   */
  private async inTargetOrder(
    iqn: string,
    options: DriverCallOptions,
    alone: () => boolean,
    step: () => Promise<void>,
  ): Promise<void> {
    const queued = this.targetQueue.run(iqn, () => {
      const guarded = async (): Promise<void> => {
        throwIfGivenUp(options.signal);
        await step();
      };
      return alone() ? this.lock.exclusive(guarded) : this.lock.shared(guarded);
    });
    await untilGivenUp(queued, options.signal);
  }

  /**
   * `step` beside the target's queue (a re-read of the model still waits for it): for what needs
   * no ordering with the target's state (listeners, pairings, sockets). A step never waits for a
   * target's turn (turn before lock, always, or a waiting re-read would deadlock them).
   */
  private async besideTarget(options: DriverCallOptions, step: () => Promise<void>): Promise<void> {
    const work = this.lock.shared(async () => {
      throwIfGivenUp(options.signal);
      await step();
    });
    await untilGivenUp(work, options.signal);
  }

  private async readyToRead(options: DriverCallOptions): Promise<void> {
    const ready = options.fresh === true ? this.refresh(options) : this.ensureLoaded(options);
    await untilGivenUp(ready, options.signal);
  }

  private async ensureLoaded(options: DriverCallOptions): Promise<void> {
    await this.pairings.load();
    if (this.model.loaded) return;
    this.loading ??= this.refresh(options).finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  /** Reads targets, listeners and accounts from tgtd (alone), dropping the wildcard listeners. */
  private async refresh(options: DriverCallOptions): Promise<void> {
    await this.pairings.load();
    await this.lock.exclusive(async () => {
      this.model.invalidate();
      const [targets, portals, accounts] = await Promise.all([
        this.tgtadm(["--op", "show", "--mode", "target"], options),
        this.tgtadm(["--op", "show", "--mode", "portal"], options),
        this.tgtadm(["--op", "show", "--mode", "account"], options),
      ]);
      const listening = parseTgtPortals(portals.stdout);
      for (const portal of listening.filter(isWildcardPortal)) {
        const address = portal.ip.includes(":") ? `[${portal.ip}]` : portal.ip;
        await this.tgtadm(
          ["--op", "delete", "--mode", "portal", "--param", `portal=${address}:${portal.port}`],
          options,
        );
        this.logger?.info(
          { portal: `${address}:${portal.port}` },
          "tgtd no longer listens on a wildcard portal",
        );
      }
      this.model.replace(
        parseTgtTargets(targets.stdout),
        listening.filter((portal) => !isWildcardPortal(portal)),
        parseTgtAccounts(accounts.stdout),
      );
    });
  }

  /** Whether ensuring `spec` creates, re-creates or deletes a CHAP account (then it runs alone). */
  private changesAccounts(spec: TargetSpec): boolean {
    const bound = this.model.target(spec.iqn)?.accounts ?? [];
    if (spec.chap === undefined) return bound.length > 0;
    const user = spec.chap.user;
    const known = this.secretFingerprints.get(user) === this.fingerprint(spec.chap.secret);
    return !known || !this.model.hasAccount(user) || bound.some((other) => other !== user);
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async ensureDiskLun(
    target: TgtTarget,
    spec: TargetSpec,
    options: DriverCallOptions,
  ): Promise<void> {
    const wanted = backingName(spec.backing);
    const lun = target.luns.find((candidate) => candidate.lun === TGT_DISK_LUN);
    if (lun !== undefined) {
      if (lun.backingStorePath !== wanted) {
        throw new SanpathError(
          "failed_precondition",
          `LUN ${TGT_DISK_LUN} of ${spec.iqn} is backed by ${lun.backingStorePath}, not ${wanted}: drop the target first`,
          { reason: "DRIVER_FAILED" },
        );
      }
      return;
    }
    const backing =
      spec.backing.kind === "file"
        ? ["--bstype", "rdwr", "--backing-store", spec.backing.path]
        : [
            "--bstype",
            "rbd",
            "--backing-store",
            wanted,
            "--bsopts",
            `conf=${spec.backing.cephConf};id=${spec.backing.cephUser}`,
          ];
    const tid = String(target.tid);
    await this.tgtadm(
      ["--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", String(TGT_DISK_LUN), ...backing],
      options,
    );
    target.luns.push({
      lun: TGT_DISK_LUN,
      type: "disk",
      backingStoreType: backing[1] ?? "",
      backingStorePath: wanted,
    });
  }

  private async applyAcl(target: TgtTarget, spec: TargetSpec, options: DriverCallOptions): Promise<void> {
    const tid = String(target.tid);
    const wantedAddresses = spec.acl.allInitiators ? [ALL_ADDRESSES] : [];
    const wantedNames = aclInitiators(spec.acl);
    for (const address of target.aclAddresses.filter((entry) => !wantedAddresses.includes(entry))) {
      await this.tgtadm(
        ["--op", "unbind", "--mode", "target", "--tid", tid, "--initiator-address", address],
        options,
      );
      target.aclAddresses = target.aclAddresses.filter((entry) => entry !== address);
    }
    for (const name of target.aclNames.filter((entry) => !wantedNames.includes(entry))) {
      await this.tgtadm(
        ["--op", "unbind", "--mode", "target", "--tid", tid, "--initiator-name", name],
        options,
      );
      target.aclNames = target.aclNames.filter((entry) => entry !== name);
    }
    for (const name of wantedNames.filter((entry) => !target.aclNames.includes(entry))) {
      await this.tgtadm(
        ["--op", "bind", "--mode", "target", "--tid", tid, "--initiator-name", name],
        options,
      );
      target.aclNames.push(name);
    }
    for (const address of wantedAddresses.filter((entry) => !target.aclAddresses.includes(entry))) {
      await this.tgtadm(
        ["--op", "bind", "--mode", "target", "--tid", tid, "--initiator-address", address],
        options,
      );
      target.aclAddresses.push(address);
    }
  }

  private async applyChap(
    target: TgtTarget,
    chap: ChapCredentials | undefined,
    options: DriverCallOptions,
  ): Promise<void> {
    const tid = String(target.tid);
    const unbindOthers = async (keep: string | undefined): Promise<void> => {
      for (const user of target.accounts.filter((candidate) => candidate !== keep)) {
        await this.tgtadm(["--op", "unbind", "--mode", "account", "--tid", tid, "--user", user], options);
        target.accounts = target.accounts.filter((candidate) => candidate !== user);
        if (this.model.boundElsewhere(user, target.tid).length === 0) await this.deleteAccount(user, options);
      }
    };
    if (chap === undefined) {
      await unbindOthers(undefined);
      return;
    }

    const fingerprint = this.fingerprint(chap.secret);
    const known = this.secretFingerprints.get(chap.user);
    const exists = this.model.hasAccount(chap.user);
    const boundElsewhere = this.model.boundElsewhere(chap.user, target.tid);

    const bindHere = async (): Promise<void> => {
      await this.tgtadm(["--op", "bind", "--mode", "account", "--tid", tid, "--user", chap.user], options);
      target.accounts.push(chap.user);
    };
    if (!exists) {
      await this.newAccount(chap, options);
      await bindHere();
    } else if (known !== fingerprint) {
      if (known !== undefined && boundElsewhere.length > 0) {
        throw new SanpathError(
          "failed_precondition",
          `tgt keeps one CHAP secret per user on a node: user ${chap.user} is also used by ` +
            `${boundElsewhere.map((other) => other.iqn).join(", ")} with another secret`,
          { reason: "DRIVER_FAILED", field: "chap.secret" },
        );
      }
      const bound = target.accounts.includes(chap.user) ? [target, ...boundElsewhere] : boundElsewhere;
      await this.recreateAccount(chap, bound, options);
      if (!target.accounts.includes(chap.user)) await bindHere();
    } else if (!target.accounts.includes(chap.user)) {
      await bindHere();
    }
    this.secretFingerprints.set(chap.user, fingerprint);
    // The new account is bound before old ones go: the target is never without CHAP.
    await unbindOthers(chap.user);
  }

  /** Replaces an account whose secret is unknown or stale, keeping its targets closed meanwhile. */
  private async recreateAccount(
    chap: ChapCredentials,
    boundTargets: readonly TgtTarget[],
    options: DriverCallOptions,
  ): Promise<void> {
    const reopen = boundTargets.filter((candidate) => candidate.state === "ready");
    for (const candidate of reopen) await this.setState(candidate, "offline", options);
    try {
      await this.deleteAccount(chap.user, options);
      for (const candidate of boundTargets) {
        candidate.accounts = candidate.accounts.filter((user) => user !== chap.user);
      }
      await this.newAccount(chap, options);
      for (const candidate of boundTargets) {
        await this.tgtadm(
          ["--op", "bind", "--mode", "account", "--tid", String(candidate.tid), "--user", chap.user],
          options,
        );
        candidate.accounts.push(chap.user);
      }
    } finally {
      for (const candidate of reopen) await this.setState(candidate, "ready", options);
    }
  }

  private async newAccount(chap: ChapCredentials, options: DriverCallOptions): Promise<void> {
    await this.tgtadm(
      ["--op", "new", "--mode", "account", "--user", chap.user, "--password", secret(chap.secret)],
      options,
    );
    this.model.setAccount(chap.user, true);
  }

  private async deleteAccount(user: string, options: DriverCallOptions): Promise<void> {
    this.secretFingerprints.delete(user);
    try {
      await this.tgtadm(["--op", "delete", "--mode", "account", "--user", user], options);
    } catch (error) {
      if (!failedWith(error, /can't find the account|no such account/i)) throw error;
    }
    this.model.setAccount(user, false);
  }

  private async applyState(target: TgtTarget, ready: boolean, options: DriverCallOptions): Promise<void> {
    const wanted = ready ? "ready" : "offline";
    if (target.state !== wanted) await this.setState(target, wanted, options);
  }

  private async setState(
    target: TgtTarget,
    state: "ready" | "offline",
    options: DriverCallOptions,
  ): Promise<void> {
    await this.tgtadm(
      [
        "--op",
        "update",
        "--mode",
        "target",
        "--tid",
        String(target.tid),
        "--name",
        "state",
        "--value",
        state,
      ],
      options,
    );
    target.state = state;
  }

  /** Closes every open connection of the target, as tgtd lists them now (all at once). */
  private async closeConnections(target: TgtTarget, options: DriverCallOptions): Promise<void> {
    const tid = String(target.tid);
    const listed = await this.tgtadm(["--op", "show", "--mode", "conn", "--tid", tid], options);
    await Promise.all(
      parseTgtConnections(listed.stdout).map(async (connection) => {
        const args = ["--op", "delete", "--mode", "conn", "--tid", tid];
        try {
          await this.tgtadm(
            [...args, "--sid", String(connection.sessionId), "--cid", String(connection.connectionId)],
            options,
          );
        } catch (error) {
          // A connection that closed on its own meanwhile is fine.
          this.logger?.warn({ iqn: target.iqn, err: error }, "could not close an iSCSI connection");
        }
      }),
    );
  }

  /**
   * Closes the connections that came in through ip:port only (the target keeps its sessions at its
   * other portals): `ss -K` destroys the TCP sockets whose local end is ip:port, and tgtd ends
   * their connections. Until `ss -K` has been seen to work, the sockets are listed again after it;
   * if any is left, the kernel cannot destroy sockets and the driver closes the target's
   * connections with tgtadm from then on.
   */
  private async closePortalSockets(
    target: TgtTarget,
    ip: string,
    port: number,
    options: DriverCallOptions,
  ): Promise<void> {
    const filter = ["-tnH", "state", "connected", "src", `${ip}:${port}`];
    const killed = await this.ss(["-K", ...filter], options);
    if (killed.stdout.trim() !== "") this.socketKill = "works";
    if (this.socketKill === "works") return;
    const left = await this.ss(filter, options);
    if (left.stdout.trim() === "") return;
    this.socketKill = "unsupported";
    this.logger?.warn(
      { portal: `${ip}:${port}` },
      "ss -K does not close sockets here: closing the target's connections with tgtadm from now on",
    );
    await this.closeConnections(target, options);
  }

  /** Starts saving the pairings; the caller awaits it after its operation (a failure is not lost). */
  private savePairings(): Promise<void> {
    const saving = this.pairings.save();
    saving.catch(() => undefined);
    return saving;
  }

  private ss(args: readonly string[], options: DriverCallOptions): Promise<CommandResult> {
    return this.runner.run("ss", args, {
      timeoutMs: this.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  private async stopListening(key: string, options: DriverCallOptions): Promise<void> {
    await this.portalQueue.run(key, async () => {
      if (!this.model.isListening(key)) return;
      await this.tgtadm(["--op", "delete", "--mode", "portal", "--param", `portal=${key}`], options);
      this.model.setListening(key, false);
    });
  }

  // ---- tgtadm --------------------------------------------------------------------------------

  private tgtadm(args: readonly CommandArg[], options: DriverCallOptions): Promise<CommandResult> {
    const control = this.controlPort === undefined ? [] : ["-C", String(this.controlPort)];
    return this.runner.run("tgtadm", [...control, "--lld", "iscsi", ...args], {
      timeoutMs: this.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  private fingerprint(value: string): string {
    return createHmac("sha256", this.fingerprintKey).update(value).digest("hex");
  }
}

function givenUp(signal: AbortSignal): SanpathError {
  const timedOut = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
  return new SanpathError(
    timedOut ? "deadline_exceeded" : "cancelled",
    "gave up waiting for the target daemon (other operations on the target were still running)",
    { reason: "DRIVER_FAILED", cause: signal.reason },
  );
}

function throwIfGivenUp(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw givenUp(signal);
}

/** `work`'s outcome, or a rejection as soon as `signal` aborts (`work` then goes on unobserved). */
async function untilGivenUp(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  work.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const abort = (): void => {
      reject(givenUp(signal));
    };
    if (signal.aborted) {
      abort();
      return;
    }
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener("abort", abort);
    });
  });
}

function targetMissing(iqn: string): ModelMismatchError {
  return new ModelMismatchError(
    "failed_precondition",
    `target ${iqn} is not configured: ensureTarget first`,
    {
      reason: "DRIVER_FAILED",
    },
  );
}

/** A failed tgtadm (it ran and said no), or the model proven wrong: worth a re-read and a retry. */
function isModelSymptom(error: unknown): boolean {
  if (error instanceof ModelMismatchError) return true;
  const failed = isCommandFailedError(error) ? error : error instanceof Error ? error.cause : undefined;
  return isCommandFailedError(failed) && failed.failure === "exit";
}
