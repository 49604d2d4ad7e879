import type { ConfiguredTarget, TargetDriver, TargetSpec } from "../iscsi/target-driver.js";
import type { Logger } from "../log/logger.js";
import { deviceName, type ConfiguredAddress, type NetworkDriver } from "../net/network-driver.js";
import type { LocalPath } from "./path-journal.js";

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
 * ARP, which is what moves initiators' traffic to this node, is sent last, when both are up.
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
    await this.target.ensureTarget(spec, { signal });
    await this.network.addAddress(
      { ip: path.ip, prefixLength: path.prefixLength, interface: path.interface, vlanId: path.vlanId },
      { signal },
    );
    await this.target.enablePortal({ iqn: path.iqn, ip: path.ip, pathIndex: path.index }, { signal });
    const arp = await this.network.sendGratuitousArp(
      { ip: path.ip, interface: path.interface, vlanId: path.vlanId },
      { signal },
    );
    if (!arp.sent) this.logger?.warn({ ip: path.ip, reason: arp.reason }, "gratuitous ARP not sent");
  }

  /**
   * Portal off, then IP removed (verified). The IP is removed even when the portal step fails; the
   * first failure is thrown afterwards.
   */
  async teardown(
    path: Pick<LocalPath, "ip" | "iqn" | "interface" | "vlanId">,
    signal: AbortSignal,
  ): Promise<void> {
    let failure: Error | undefined;
    try {
      await this.target.disablePortal({ iqn: path.iqn, ip: path.ip }, { signal });
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      this.logger?.warn({ ip: path.ip, iqn: path.iqn, err: error }, "portal could not be disabled");
    }
    await this.removeAddress(path.ip, signal, path.interface, path.vlanId);
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

  async observe(signal: AbortSignal): Promise<LocalObservation> {
    const [addresses, targets] = await Promise.all([
      this.network.listAddresses({ signal }),
      this.target.listTargets({ signal }),
    ]);
    return { addresses, targets };
  }

  async addresses(signal: AbortSignal): Promise<ConfiguredAddress[]> {
    return this.network.listAddresses({ signal });
  }

  async targets(signal: AbortSignal): Promise<ConfiguredTarget[]> {
    return this.target.listTargets({ signal });
  }

  get targetKind(): string {
    return this.target.kind;
  }
}

/** The device an entry's address sits on ("eth1" or "eth1.20"). */
export function pathDevice(path: Pick<LocalPath, "interface" | "vlanId">): string {
  return deviceName(path.interface, path.vlanId);
}
