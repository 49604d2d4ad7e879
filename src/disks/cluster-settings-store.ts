import type { KvStore } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { AllocationDraft } from "./allocation-draft.js";
import type { AllocationKeys } from "./allocation-keys.js";
import {
  clusterSettingsToInput,
  subnetByNumber,
  validateClusterSettings,
  type ClusterSettings,
  type ClusterSettingsInput,
  type IscsiSubnet,
  type SubnetNumber,
} from "./cluster-settings.js";
import { formatCidr, formatIpv4, tryParseIpv4 } from "./ipv4.js";

/** The settings and the ModifyIndex of their key, for writes that must not outlive a change. */
export interface StoredSettings {
  readonly settings: ClusterSettings;
  readonly index: number;
}

const INIT_ATTEMPTS = 10;

export function clusterNotInitialized(): SanpathError {
  return new SanpathError(
    "failed_precondition",
    "the cluster settings are not stored yet: run `sanpath cluster init` (IQN base, pool, iSCSI subnets) first",
    { reason: "CLUSTER_NOT_INITIALIZED" },
  );
}

/**
 * Cluster settings in Consul (ConsulKeys.settings()), as the JSON of their wire shape.
 *
 * Rules of InitCluster (it may run again to change settings):
 * - the IQN base and the default pool may change at any time; disks keep the IQN and pool they were
 *   made with (both are in their metadata);
 * - an automatic range may change at any time; addresses disks use outside the new range stay theirs;
 * - a subnet whose network holds an address a disk uses keeps its network, interface and VLAN, and
 *   cannot be removed: anything else is FAILED_PRECONDITION / SUBNET_IN_USE. A subnet no disk uses
 *   may change freely.
 * The write is ordered against AddDisk and DeleteDisk: it carries a check on the disk id record, which
 * both write, and AddDisk carries a check on the settings key; whichever comes second retries.
 */
export class ClusterSettingsStore {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: AllocationKeys,
  ) {}

  async read(options: CallOptions = {}): Promise<StoredSettings | undefined> {
    const entry = await this.kv.get(this.keys.keys.settings(), options);
    if (entry === undefined) return undefined;
    return { settings: parseStoredSettings(entry.value, entry.key), index: entry.modifyIndex };
  }

  /** The settings; FAILED_PRECONDITION / CLUSTER_NOT_INITIALIZED when none are stored. */
  async require(options: CallOptions = {}): Promise<StoredSettings> {
    const stored = await this.read(options);
    if (stored === undefined) throw clusterNotInitialized();
    return stored;
  }

  /** Validates and stores `input` (see the class comment for what may change). */
  async init(input: ClusterSettingsInput, options: CallOptions = {}): Promise<ClusterSettings> {
    const settings = validateClusterSettings(input, "settings");
    const value = JSON.stringify(clusterSettingsToInput(settings));
    for (let attempt = 1; ; attempt++) {
      const [current, draft] = await Promise.all([
        this.read(options),
        AllocationDraft.read(this.kv, this.keys, options),
      ]);
      if (current !== undefined) refuseChangesToUsedSubnets(current.settings, settings, draft);
      try {
        await this.kv.transaction(
          [
            { verb: "cas", key: this.keys.keys.settings(), value, index: current?.index ?? 0 },
            draft.idGuard(),
          ],
          options,
        );
        return settings;
      } catch (error) {
        if (!(error instanceof TransactionConflictError) || attempt >= INIT_ATTEMPTS) throw error;
      }
    }
  }
}

function parseStoredSettings(text: string, key: string): ClusterSettings {
  try {
    const parsed: unknown = JSON.parse(text);
    return validateClusterSettings(parsed as ClusterSettingsInput, "settings");
  } catch (error) {
    throw new SanpathError("data_loss", `the cluster settings in ${key} are unreadable; store them again`, {
      reason: "METADATA_UNREADABLE",
      cause: error,
    });
  }
}

function sameAddressing(a: IscsiSubnet, b: IscsiSubnet): boolean {
  return (
    a.network.network === b.network.network &&
    a.network.prefixLength === b.network.prefixLength &&
    a.interface === b.interface &&
    a.vlanId === b.vlanId
  );
}

function changedField(before: IscsiSubnet, after: IscsiSubnet | undefined, field: string): string {
  if (after === undefined) return field;
  if (
    before.network.network !== after.network.network ||
    before.network.prefixLength !== after.network.prefixLength
  ) {
    return `${field}.network`;
  }
  return before.interface !== after.interface ? `${field}.interface` : `${field}.vlan_id`;
}

function firstUsedIn(draft: AllocationDraft, subnet: IscsiSubnet): string | undefined {
  for (const ip of draft.usedIps()) {
    const address = tryParseIpv4(ip) ?? -1;
    if (address >= subnet.network.network && address <= subnet.network.broadcast) return ip;
  }
  return undefined;
}

function refuseChangesToUsedSubnets(
  before: ClusterSettings,
  after: ClusterSettings,
  draft: AllocationDraft,
): void {
  for (const number of [1, 2] as SubnetNumber[]) {
    const old = subnetByNumber(before, number);
    if (old === undefined) continue;
    const next = subnetByNumber(after, number);
    if (next !== undefined && sameAddressing(old, next)) continue;
    if (!draft.anyIpUsedIn(old.network.network, old.network.broadcast)) continue;
    const field = changedField(old, next, `settings.subnet${number}`);
    const example = firstUsedIn(draft, old) ?? formatIpv4(old.network.network);
    const change = next === undefined ? "removed" : "changed";
    throw new SanpathError(
      "failed_precondition",
      `${field}: iSCSI subnet ${number} ${formatCidr(old.network)} (interface ${old.interface}` +
        `${old.vlanId === 0 ? "" : `, VLAN ${old.vlanId}`}) cannot be ${change}: disks use addresses in it ` +
        `(e.g. ${example}); delete those disks first, or change only its automatic range`,
      { reason: "SUBNET_IN_USE", field },
    );
  }
}
