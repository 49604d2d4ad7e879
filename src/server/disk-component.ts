import { ConsulKvStore } from "../consul/consul-kv-store.js";
import { clusterSettingsHandlers } from "../api/cluster-settings-handlers.js";
import { diskHandlers } from "../api/disk-handlers.js";
import { consulClientOf } from "./consul-client-of.js";
import { ConsulKeys } from "../consul/keys.js";
import type { ClusterSettingsInput } from "../disks/cluster-settings.js";
import { diskImagesOver } from "../disks/disk-images.js";
import { DiskService } from "../disks/disk-service.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { createImageStore } from "../storage/create-image-store.js";
import type { DaemonComponent, RunningComponent } from "./component.js";

/**
 * What `sanpathd --dev` stores as cluster settings when none are stored, so that
 * `sanpath disk add NAME --size 10G` works at once. Documentation addresses only.
 */
export const DEV_CLUSTER_SETTINGS: ClusterSettingsInput = {
  iqnBase: "iqn.2016-05.org.sanpath.dev",
  defaultPool: "rbd",
  subnet1: {
    network: "198.51.100.0/24",
    autoIpFrom: "198.51.100.10",
    autoIpTo: "198.51.100.250",
    interface: "eth1",
    vlanId: 0,
  },
  subnet2: {
    network: "203.0.113.0/24",
    autoIpFrom: "203.0.113.10",
    autoIpTo: "203.0.113.250",
    interface: "eth2",
    vlanId: 0,
  },
};

export interface DiskComponentOptions {
  /** Stored at start when the cluster has no settings yet (sanpathd --dev). */
  initialSettings?: ClusterSettingsInput;
  /** How often stale reservations are swept (default 5 min, ±20 %). */
  sweepIntervalMs?: number;
  /** A pending reservation older than this is swept (default 10 min). */
  staleAfterMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 5 * 60_000;
const DEFAULT_STALE_AFTER_MS = 10 * 60_000;

/**
 * DiskService and ClusterService.InitCluster / GetClusterSettings on this node: a Consul client, the
 * configured image store, the handlers, and a periodic sweep of reservations left by crashed
 * AddDisk calls (idempotent, so every node may run it).
 */
export function diskComponent(options: DiskComponentOptions = {}): DaemonComponent {
  return {
    name: "disk-service",
    async start(context): Promise<RunningComponent> {
      const { config, logger, services } = context;
      const log = logger.child({ component: "disks" });
      const client = consulClientOf(context);
      const store = await createImageStore(config).catch((error: unknown) => {
        client.close();
        throw error;
      });
      const service = new DiskService({
        kv: new ConsulKvStore(client),
        keys: new ConsulKeys(config.consul.root),
        images: diskImagesOver(store),
        nodeName: config.nodeName,
        logger: log,
      });
      if (options.initialSettings !== undefined) {
        if ((await service.settings.read()) === undefined) {
          await service.settings.init(options.initialSettings);
          log.info({ iqnBase: options.initialSettings.iqnBase }, "sample cluster settings stored (dev mode)");
        }
      }
      services.implement("disk", diskHandlers(service));
      services.implement("cluster", clusterSettingsHandlers(service.settings));

      const interval = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
      const staleAfter = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
      let timer: NodeJS.Timeout | undefined;
      let sweeping: Promise<unknown> = Promise.resolve();
      let stopped = false;
      const scheduleSweep = (): void => {
        if (stopped) return;
        timer = setTimeout(
          () => {
            sweeping = service
              .sweepStaleReservations(staleAfter)
              .catch((error: unknown) => {
                log.warn({ err: errorMessage(error) }, "sweep of stale disk reservations failed");
              })
              .then(() => service.releaseOrphanReservations())
              .catch((error: unknown) => {
                log.warn({ err: errorMessage(error) }, "release of orphan disk reservations failed");
              })
              .finally(scheduleSweep);
          },
          interval * (0.8 + Math.random() * 0.4),
        );
        timer.unref();
      };
      scheduleSweep();

      return {
        async stop() {
          stopped = true;
          clearTimeout(timer);
          services.unimplement("disk");
          services.unimplement("cluster", ["initCluster", "getClusterSettings"]);
          await sweeping;
          await service.close();
          await store.close();
          client.close();
        },
      };
    },
  };
}
