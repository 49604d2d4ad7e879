/**
 * TargetDriver over tgt's user-space daemon. It speaks tgtd's management protocol itself, one
 * connection to tgtd's control socket per request (`channel: "socket"`, the default:
 * tgt-mgmt-socket.ts; no process per call, and a restarted tgtd is reached by the next call), or
 * runs `tgtadm -C <control port> --lld iscsi` per request (`channel: "tgtadm"`, to compare or
 * diagnose). Both take tgtadm's arguments and give tgtadm's output and failures, so what follows
 * holds for both; commands are written below as tgtadm options.
 *
 * How tgt is used:
 * - Target: `--op new --mode target --tid T --targetname IQN`; tids are allocated here (highest
 *   in `--op show` + 1). LUN 1 holds the disk; a target's LUN and ACL rules are set as in
 *   tgt-target-setup.ts (a new target has no ACL rule, so it accepts nobody until they exist).
 * - CHAP: accounts are node-wide in tgt; a target with a bound account requires CHAP. See
 *   TgtChapAccounts (tgt-chap-accounts.ts) for how secrets are set and re-set.
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
 *   target offline when it was its last portal, and closes connections: all the target's when it
 *   was its last portal (or another target shares the portal), otherwise only those through this
 *   portal (TgtConnectionCloser, tgt-connection-closer.ts: with the socket channel, tgtd's
 *   sockets at the portal, read from procfs, are destroyed in this process with SOCK_DESTROY (the
 *   net addon, in the namespace `netns`), or, without the addon, tgtd closes the connections chosen
 *   by those sockets; else `ss -K`).
 * - Dropping a target: `--op delete --force --mode target --tid T`, then its CHAP accounts that
 *   no other target uses, and the listeners that no target is paired with any more.
 *
 * State and concurrency: the driver keeps a model of what tgtd holds (TgtModel: targets, LUNs, ACL
 * rules, accounts, listeners), read with `--op show` at first use and updated after each command
 * that succeeded, so an operation runs only the commands that change something (the connections
 * to close are listed per target at the time). A command that fails, or a target that is not
 * where the model says, makes the driver re-read tgtd and run the operation once more from the
 * fresh model; `{ fresh: true }` on a listing re-reads first (reconcile's authoritative read);
 * `{ observe: true }` reads tgtd now without the model or the operation order (the probe's read).
 * Which operations run one after another, beside each other or alone: TgtOperationOrder
 * (tgt-operation-order.ts). tids come from the model.
 */
import { loadNetBinding, openNetChannel, type NativeNetBinding } from "../../native/net.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { CoalescedRun } from "../util/coalesced-run.js";
import { PortalPairings } from "./portal-pairings.js";
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
import { boundTgtadm, setTargetState, type Tgtadm } from "./tgt-admin.js";
import { TgtChapAccounts } from "./tgt-chap-accounts.js";
import { TgtConnectionCloser, type TgtConnectionCloserOptions } from "./tgt-connection-closer.js";
import { tgtdTcpConnections, type TcpConnection } from "./tgt-daemon-sockets.js";
import { socketTgtadm, tgtdLockPath, tgtdSocketPath } from "./tgt-mgmt-socket.js";
import { TgtModel } from "./tgt-model.js";
import { ALL_INITIATOR_ADDRESSES, applyAcl, ensureDiskLun, TGT_DISK_LUN } from "./tgt-target-setup.js";
import { targetMissing, TgtOperationOrder, untilGivenUp } from "./tgt-operation-order.js";
import {
  emptyTgtTarget,
  isWildcardPortal,
  parseTgtAccounts,
  parseTgtPortals,
  parseTgtTargets,
  type TgtTarget,
} from "./tgt-show.js";

/** How requests reach tgtd: its control socket from this process, or a tgtadm process each. */
export type TgtChannel = "socket" | "tgtadm";

export interface TgtDriverOptions {
  /** Runs tgtadm and ss (an ExecaCommandRunner, bound to the node's namespace in tests). */
  runner: CommandRunner;
  /** tgtd's control port (`tgtd -C N`); tgt's default when unset. */
  controlPort?: number;
  /** Default "socket" (see the file header). */
  channel?: TgtChannel;
  /** The control socket, for a tgtd started with TGT_IPC_SOCKET; default tgtdSocketPath(controlPort). */
  socketPath?: string;
  /** Where to remember which target is enabled at which portal (see PortalPairings). */
  stateFile?: string;
  /** Per request to tgtd (tgtadm call or socket exchange); default 15 s. */
  commandTimeoutMs?: number;
  /**
   * The network namespace tgtd runs in, a name under /run/netns (tests: a topology's host), for
   * destroying its sockets with the net addon; omitted: this process's own (sanpathd beside tgtd).
   */
  netns?: string;
  /**
   * How the net addon is loaded (default loadNetBinding); when it cannot be, a portal's
   * connections are closed through tgtd (logged once per process).
   */
  loadNetAddon?: () => NativeNetBinding;
  logger?: Logger;
}

/**
 * tgtd's TCP sockets, read from procfs for each portal a drain turns off: the portals disabled
 * together share one read (one that started after each of them asked: their listeners were gone by
 * then, so no connection through them is missed). Each read costs tens to hundreds of milliseconds
 * on a busy node; one per portal made a drain's portal step wait ~300 ms p50.
 */
function tgtdSocketsReader(lockPath: string): () => Promise<TcpConnection[]> {
  const reads = new CoalescedRun(() => tgtdTcpConnections(lockPath));
  return () => reads.request();
}

/** The addon's limit per call. */
const MAX_NET_TIMEOUT_MS = 600_000;
let netAddonMissingLogged = false;

export { TGT_DISK_LUN };

export class TgtDriver implements TargetDriver {
  readonly kind = "tgt" as const;
  readonly channel: TgtChannel;
  private readonly logger: Logger | undefined;
  private readonly tgtadm: Tgtadm;
  private readonly pairings: PortalPairings;
  private readonly model = new TgtModel();
  private readonly order: TgtOperationOrder;
  private readonly chap: TgtChapAccounts;
  private readonly connections: TgtConnectionCloser;
  /** Listener changes one at a time per portal (ip:port). */
  private readonly portalQueue = new KeyedQueue();
  private loading: Promise<void> | undefined;

  constructor(options: TgtDriverOptions) {
    const timeoutMs = options.commandTimeoutMs ?? 15_000;
    this.logger = options.logger;
    this.channel = options.channel ?? "socket";
    const socketPath = options.socketPath ?? tgtdSocketPath(options.controlPort);
    this.tgtadm =
      this.channel === "socket"
        ? socketTgtadm({ socketPath, timeoutMs, logger: this.logger })
        : boundTgtadm(options.runner, options.controlPort, timeoutMs);
    this.pairings = new PortalPairings(options.stateFile);
    this.order = new TgtOperationOrder({
      ensureLoaded: (callOptions) => this.ensureLoaded(callOptions),
      refresh: (callOptions) => this.refresh(callOptions),
      logger: this.logger,
    });
    this.chap = new TgtChapAccounts(this.tgtadm, this.model);
    this.connections = new TgtConnectionCloser({
      tgtadm: this.tgtadm,
      runner: options.runner,
      timeoutMs,
      tcpConnections: this.channel === "socket" ? tgtdSocketsReader(tgtdLockPath(socketPath)) : undefined,
      destroySockets: this.channel === "socket" ? this.socketDestroyer(options, timeoutMs) : undefined,
      logger: this.logger,
    });
  }

  /** SOCK_DESTROY in tgtd's namespace through the net addon; undefined when it cannot be loaded. */
  private socketDestroyer(
    options: TgtDriverOptions,
    timeoutMs: number,
  ): TgtConnectionCloserOptions["destroySockets"] {
    let addon: NativeNetBinding;
    try {
      addon = (options.loadNetAddon ?? loadNetBinding)();
    } catch (error) {
      if (!netAddonMissingLogged) {
        netAddonMissingLogged = true;
        this.logger?.warn(
          { err: errorMessage(error) },
          "the net addon cannot be loaded: a portal's iSCSI connections are closed through tgtd",
        );
      }
      return undefined;
    }
    const channel = openNetChannel(
      {
        timeoutMs: Math.min(Math.max(1, Math.round(timeoutMs)), MAX_NET_TIMEOUT_MS),
        ...(options.netns === undefined ? {} : { netns: options.netns }),
      },
      addon,
    );
    return (sockets: readonly TcpConnection[]) =>
      channel.destroyTcpSockets(
        sockets.map(({ local, remote }) => ({
          localIp: local.ip,
          localPort: local.port,
          remoteIp: remote.ip,
          remotePort: remote.port,
        })),
      );
  }

  async prepare(options: DriverCallOptions = {}): Promise<void> {
    await this.refresh(options);
  }

  async ensureTarget(spec: TargetSpec, options: DriverCallOptions = {}): Promise<void> {
    validateTargetSpec(spec);
    await this.order.operate(
      spec.iqn,
      options,
      () => this.chap.changedBy(spec),
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
        await ensureDiskLun(this.tgtadm, target, spec, options);
        await applyAcl(this.tgtadm, target, spec, options);
        await this.chap.apply(target, spec.chap, options);
      },
    );
  }

  async enablePortal(request: EnablePortalRequest, options: DriverCallOptions = {}): Promise<void> {
    const { iqn, ip, port } = validatePortal(request);
    const key = PortalPairings.key(ip, port);
    let saved: Promise<void> = Promise.resolve();
    // The listener and the pairing beside the target's other operations; the state in its order.
    await this.order.withRetry(iqn, options, async () => {
      await this.order.besideTarget(options, async () => {
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
      await this.order.inTargetOrder(
        iqn,
        options,
        () => false,
        async () => {
          const target = this.model.target(iqn);
          if (target === undefined) throw targetMissing(iqn);
          // Set even when believed ready: the command fails if tgtd lost the target, so a portal is
          // never reported enabled for a target that is not there.
          await setTargetState(
            this.tgtadm,
            target,
            this.pairings.portalsOf(iqn).length > 0 ? "ready" : "offline",
            options,
          );
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
    await this.order.withRetry(iqn, options, async () => {
      const decided = { targetWide: false };
      // Beside the target's other operations: the pairing, the listener, and the connections
      // through this portal when the target keeps other portals. Pairings change synchronously,
      // so of several portals disabled at once exactly the last one finds none left.
      await this.order.besideTarget(options, async () => {
        if (this.pairings.remove(iqn, key)) saved = this.savePairings();
        const portalUnused = this.pairings.iqnsAt(key).length === 0;
        if (portalUnused) await this.stopListening(key, options);
        const target = this.model.target(iqn);
        if (target === undefined) return;
        decided.targetWide =
          this.pairings.portalsOf(iqn).length === 0 ||
          !portalUnused ||
          this.connections.portalOnlyUnsupported;
        if (decided.targetWide) return;
        const otherPortals = this.pairings.portalsOf(iqn).map((other) => PortalPairings.split(other));
        await this.connections.closeAtPortal(target, { ip, port }, otherPortals, options);
      });
      if (!decided.targetWide) return;
      // In the target's order, decided there: offline when no portal is left (an enable may have
      // come in meanwhile), then every connection of the target closed.
      await this.order.inTargetOrder(
        iqn,
        options,
        () => false,
        async () => {
          const target = this.model.target(iqn);
          if (target === undefined) return;
          await this.applyState(target, this.pairings.portalsOf(iqn).length > 0, options);
          await this.connections.closeAll(target, options);
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
    await this.order.operate(
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
          await this.chap.releaseDropped(target, options);
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
    if (options.observe === true) return this.observeTargets(options);
    await this.readyToRead(options);
    return this.model
      .targets()
      .map((target) => this.configured(target, (key) => this.model.isListening(key)));
  }

  /**
   * tgtd's targets and listeners read now, outside the operation order and the model: two show
   * requests that tgtd answers between the driver's other requests.
   */
  private async observeTargets(options: DriverCallOptions): Promise<ConfiguredTarget[]> {
    await this.pairings.load();
    const [targets, portals] = await Promise.all([
      this.tgtadm(["--op", "show", "--mode", "target"], options),
      this.tgtadm(["--op", "show", "--mode", "portal"], options),
    ]);
    const listening = new Set(
      parseTgtPortals(portals.stdout)
        .filter((portal) => !isWildcardPortal(portal))
        .map((portal) => PortalPairings.key(portal.ip, portal.port)),
    );
    return parseTgtTargets(targets.stdout).map((target) =>
      this.configured(target, (key) => listening.has(key)),
    );
  }

  private configured(target: TgtTarget, isListening: (key: string) => boolean): ConfiguredTarget {
    return {
      iqn: target.iqn,
      tid: target.tid,
      luns: target.luns
        .filter((lun) => lun.type !== "controller")
        .map((lun) => ({ lun: lun.lun, backing: lun.backingStorePath, backingType: lun.backingStoreType })),
      portals: this.pairings.portalsOf(target.iqn).map((key) => ({
        ...PortalPairings.split(key),
        enabled: target.state === "ready" && isListening(key),
      })),
      acl: {
        allInitiators: target.aclAddresses.includes(ALL_INITIATOR_ADDRESSES),
        initiatorIqns: [...target.aclNames].sort(),
      },
      ...(target.accounts[0] === undefined ? {} : { chapUser: target.accounts[0] }),
    };
  }

  async listPortals(options: DriverCallOptions = {}): Promise<ServicePortal[]> {
    await this.readyToRead(options);
    return this.model.listening().map((key) => ({
      ...PortalPairings.split(key),
      iqns: this.pairings.iqnsAt(key).sort(),
    }));
  }

  // ---- model -----------------------------------------------------------------------------------

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
    await this.order.alone(async () => {
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

  private async applyState(target: TgtTarget, ready: boolean, options: DriverCallOptions): Promise<void> {
    const wanted = ready ? "ready" : "offline";
    if (target.state !== wanted) await setTargetState(this.tgtadm, target, wanted, options);
  }

  /** Starts saving the pairings; the caller awaits it after its operation (a failure is not lost). */
  private savePairings(): Promise<void> {
    const saving = this.pairings.save();
    saving.catch(() => undefined);
    return saving;
  }

  private async stopListening(key: string, options: DriverCallOptions): Promise<void> {
    await this.portalQueue.run(key, async () => {
      if (!this.model.isListening(key)) return;
      await this.tgtadm(["--op", "delete", "--mode", "portal", "--param", `portal=${key}`], options);
      this.model.setListening(key, false);
    });
  }
}
