import type { DaemonComponent } from "./component.js";
import { consulMonitor } from "./consul-monitor.js";
import { coordinatorComponent } from "./coordinator-component.js";
import { DEV_CLUSTER_SETTINGS, diskComponent } from "./disk-component.js";
import { eventsComponent } from "./events-component.js";
import { nodeComponent } from "./node-component.js";

export interface ComponentOptions {
  /** sanpathd --dev: sample cluster settings are stored when none are (see DEV_CLUSTER_SETTINGS). */
  dev?: boolean;
}

/**
 * The parts sanpathd runs, in start order. Later parts (node agent, coordinator, disk and
 * assignment services) add themselves here; each plugs its handlers in with
 * `context.services.implement(...)` and reports readiness with `context.health.setCondition(...)`.
 */
export function defaultComponents(options: ComponentOptions = {}): DaemonComponent[] {
  return [
    consulMonitor(),
    // Before the parts that record events, so that it stops after them and writes their last ones.
    eventsComponent(),
    diskComponent(options.dev === true ? { initialSettings: DEV_CLUSTER_SETTINGS } : {}),
    nodeComponent(),
    coordinatorComponent(),
  ];
}
