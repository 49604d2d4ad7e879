import { clusterSettingsToInput, type ClusterSettings } from "../disks/cluster-settings.js";
import type { ClusterSettings as ProtoClusterSettings } from "../gen/sanpath/v1/cluster.js";
import type { ClusterSettingsStore } from "../disks/cluster-settings-store.js";
import { clusterNotInitialized } from "../disks/cluster-settings-store.js";
import { dataMissing } from "../disks/domain-errors.js";
import type { ServiceHandlers } from "./service-registry.js";

/**
 * InitCluster and GetClusterSettings of ClusterService; its other methods belong to the
 * coordinator and node maintenance and stay UNIMPLEMENTED here.
 */
export function clusterSettingsHandlers(
  store: ClusterSettingsStore,
): Pick<ServiceHandlers<"cluster">, "initCluster" | "getClusterSettings"> {
  return {
    initCluster: async (request, { signal }) => {
      if (request.settings === undefined) throw dataMissing("settings", "the cluster settings");
      const settings = await store.init(request.settings, { signal });
      return { settings: toProtoSettings(settings) };
    },
    getClusterSettings: async (_request, { signal }) => {
      const stored = await store.read({ signal });
      if (stored === undefined) throw clusterNotInitialized();
      return { settings: toProtoSettings(stored.settings) };
    },
  };
}

export function toProtoSettings(settings: ClusterSettings): ProtoClusterSettings {
  const input = clusterSettingsToInput(settings);
  const { subnet1 } = input;
  if (subnet1 === undefined) throw new Error("validated settings always have subnet 1");
  return { ...input, subnet1, subnet2: input.subnet2 };
}
