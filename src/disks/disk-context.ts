import type { ConsulKeys } from "../consul/keys.js";
import type { KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import type { AllocationKeys } from "./allocation-keys.js";
import type { ClusterSettingsStore } from "./cluster-settings-store.js";
import type { ConflictRetryPolicy } from "./conflict-retry.js";
import type { DiskImages } from "./disk-images.js";
import type { DiskReader } from "./disk-reader.js";
import type { DiskReservations } from "./disk-reservations.js";

/**
 * What DiskService's operations work with, made once by DiskService; each of its collaborators
 * (DiskLister, DiskUpdater, DiskLifeCycle) takes the part it needs.
 */
export interface DiskContext {
  readonly kv: KvStore;
  readonly keys: ConsulKeys;
  readonly allocationKeys: AllocationKeys;
  readonly images: DiskImages;
  readonly settings: ClusterSettingsStore;
  readonly reader: DiskReader;
  readonly reservations: DiskReservations;
  readonly logger: Logger;
  readonly retry: ConflictRetryPolicy;
  readonly now: () => Date;
}
