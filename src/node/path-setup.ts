import { errorMessage, isSanpathError } from "../errors/sanpath-error.js";
import type { ConfiguredTarget, TargetDriver, TargetSpec } from "../iscsi/target-driver.js";
import type { Logger } from "../log/logger.js";
import { deviceName, type ConfiguredAddress, type NetworkDriver } from "../net/network-driver.js";
import type { LocalPath } from "./path-journal.js";
import type { StepTimings } from "./step-timings.js";

/** How a listing is read: see PathSetup.observe. */
export type LocalRead = "believed" | "fresh" | "snapshot";

/** What is configured on the node right now, read once and checked for many paths. */
export interface LocalObservation {
  readonly addresses: readonly ConfiguredAddress[];
  readonly targets: readonly ConfiguredTarget[];
}

export interface PathPresence {
  ipPresent: boolean;
  portalEnabled: boolean;
}

export function presenceOf(path: Pick<LocalPath, "ip" | "iqn">, observed: LocalObservation): PathPresence {
  const target = observed.targets.find((candidate) => candidate.iqn === path.iqn);
  return {
    ipPresent: observed.addresses.some((address) => address.ip === path.ip),
    portalEnabled: target?.portals.some((portal) => portal.ip === path.ip && portal.enabled) ?? false,
  };
}

/**
 * The local half of serving a path, over the target and network drivers (all steps idempotent).
 *
 * Set-up order: target → IP → portal → gratuitous ARP. The IP comes before the portal because a
 * target daemon binds its portal socket to the IP, which must be local first (unless
 * net.ipv4.ip_nonlocal_bind=1); an initiator that connects in that gap is refused and retries. The
 * ARP, which is what moves initiators' traffic to this node, is sent last, when both are up; the
 * path is served from then on, so configure does not wait for arping to exit (it lingers an
 * interval after sending): the outcome is logged when known. A configure whose step fails is run
 * once more (the drivers re-read the node's state after a failure, so a target or address changed
 * behind their back is set up again from what is really there).
 *
 * Tear-down order: portal off (ends the initiators' sessions here) → IP removed and verified gone.
 */
export class PathSetup {
  constructor(
    private readonly target: TargetDriver,
    private readonly network: NetworkDriver,
    private readonly logger?: Logger,
  ) {}

  async configure(path: LocalPath, spec: TargetSpec, signal: AbortSignal): Promise<void> {
    try {
      await this.configureOnce(path, spec, signal);
    } catch (error) {
      if (signal.aborted || !isRetryableSetupFailure(error)) throw error;
      this.logger?.info(
        { ip: path.ip, iqn: path.iqn, err: errorMessage(error) },
        "path set-up failed; once more from the node's state as it is now",
      );
      await this.configureOnce(path, spec, signal);
    }
  }

  private async configureOnce(path: LocalPath, spec: TargetSpec, signal: AbortSignal): Promise<void> {
    await this.target.ensureTarget(spec, { signal });
    await this.network.addAddress(
      { ip: path.ip, prefixLength: path.prefixLength, interface: path.interface, vlanId: path.vlanId },
      { signal },
    );
    await this.target.enablePortal({ iqn: path.iqn, ip: path.ip, pathIndex: path.index }, { signal });
    // Not bound to the caller's signal: the ARP must go out even if the call's deadline passes now.
    this.network.announce({ ip: path.ip, interface: path.interface, vlanId: path.vlanId });
  }

  /**
   * Portal off, then IP removed (verified). The IP is removed even when the portal step fails; the
   * first failure is thrown afterwards.
   */
  async teardown(
    path: Pick<LocalPath, "ip" | "iqn" | "interface" | "vlanId">,
    signal: AbortSignal,
    steps?: StepTimings,
  ): Promise<void> {
    let failure: Error | undefined;
    try {
      await this.target.disablePortal({ iqn: path.iqn, ip: path.ip }, { signal });
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      this.logger?.warn({ ip: path.ip, iqn: path.iqn, err: error }, "portal could not be disabled");
    }
    steps?.lap("portalOff");
    await this.removeAddress(path.ip, signal, path.interface, path.vlanId);
    steps?.lap("ipRemoved");
    if (failure !== undefined) throw failure;
  }

  async removeAddress(ip: string, signal: AbortSignal, iface?: string, vlanId?: number): Promise<void> {
    await this.network.removeAddress({ ip, interface: iface, vlanId }, { signal });
  }

  async disablePortal(iqn: string, ip: string, signal: AbortSignal): Promise<void> {
    await this.target.disablePortal({ iqn, ip }, { signal });
  }

  async dropTarget(iqn: string, signal: AbortSignal): Promise<void> {
    await this.target.dropTarget(iqn, { signal });
  }

  /**
   * Addresses and targets: as the drivers believe them (their state after their own changes);
   * "fresh": read from the kernel and the target service now, which also corrects the drivers (after
   * the target driver's operations in flight); "snapshot": read now without waiting for those
   * operations or changing what the drivers believe (a probe, a status).
   */
  async observe(signal: AbortSignal, read: LocalRead = "believed"): Promise<LocalObservation> {
    const fresh = read !== "believed";
    const [addresses, targets] = await Promise.all([
      this.network.listAddresses({ signal, fresh }),
      this.target.listTargets({ signal, fresh, observe: read === "snapshot" }),
    ]);
    return { addresses, targets };
  }

  async addresses(signal: AbortSignal, fresh = false): Promise<ConfiguredAddress[]> {
    return this.network.listAddresses({ signal, fresh });
  }

  async targets(signal: AbortSignal, fresh = false): Promise<ConfiguredTarget[]> {
    return this.target.listTargets({ signal, fresh });
  }

  /** Stops gratuitous ARPs still under way and waits for them. */
  async close(): Promise<void> {
    await this.network.close();
  }

  get targetKind(): string {
    return this.target.kind;
  }
}

/**
 * A set-up step failed in a way a second attempt may fix: a command that ran and failed, or a
 * precondition the driver found missing (a target gone). Not: invalid input, an address in use
 * elsewhere, a timeout or a cancellation.
 */
function isRetryableSetupFailure(error: unknown): boolean {
  if (!isSanpathError(error)) return false;
  if (error.reason === "IP_USED_ALREADY" || error.reason === "INVALID_FIELD") return false;
  return error.kind === "internal" || error.kind === "failed_precondition";
}

/** The device an entry's address sits on ("eth1" or "eth1.20"). */
export function pathDevice(path: Pick<LocalPath, "interface" | "vlanId">): string {
  return deviceName(path.interface, path.vlanId);
}
