import type { DaemonComponent } from "./component.js";
import { consulMonitor } from "./consul-monitor.js";

/**
 * The parts sanpathd runs, in start order. Later parts (node agent, coordinator, disk and
 * assignment services) add themselves here; each plugs its handlers in with
 * `context.services.implement(...)` and reports readiness with `context.health.setCondition(...)`.
 */
export function defaultComponents(): DaemonComponent[] {
  return [consulMonitor()];
}
