import { eventHandlers } from "../api/event-handlers.js";
import { consulClientOf } from "./consul-client-of.js";
import { ConsulKeys } from "../consul/keys.js";
import { ConsulKvStore } from "../consul/consul-kv-store.js";
import { KvEventLog, type EventRetention } from "../events/kv-event-log.js";
import type { DaemonComponent, RunningComponent } from "./component.js";

/** How long a stop waits for the last events to reach Consul. */
const STOP_FLUSH_MS = 3000;
const RESTART_FLUSH_MS = 500;

/**
 * The event history on every sanpathd: attaches the Consul store (src/events/kv-event-log.ts) to
 * the daemon's EventLog, so what this node's parts record is written under <root>/Events, and
 * serves EventService (ListEvents, WatchEvents) from Consul. Retention: events.maxEvents and
 * events.maxAgeHours (default 20,000 events, 7 days; docs/DEPLOY.md "Events").
 */
export function eventsComponent(): DaemonComponent {
  return {
    name: "events",
    async start(context): Promise<RunningComponent> {
      const { config, logger, services, metrics, events } = context;
      const log = logger.child({ component: "events" });
      const client = consulClientOf(context);
      const keys = new ConsulKeys(config.consul.root);
      const kv = new ConsulKvStore(client);
      const retention: EventRetention = {
        maxEvents: config.events.maxEvents,
        maxAgeMs: config.events.maxAgeHours * 3600_000,
      };
      const store = new KvEventLog({
        kv,
        keys,
        nodeName: config.nodeName,
        logger: log,
        retention,
        observer: {
          written: (count) => metrics.eventsWritten(count),
          dropped: (reason, count) => metrics.eventsDropped(reason, count),
        },
      });
      metrics.observeEventQueue(() => store.queued);
      events.attach(store);
      services.implement("event", eventHandlers({ kv, keys, logger: log, maxAgeMs: retention.maxAgeMs }));
      return Promise.resolve({
        async stop(mode) {
          services.unimplement("event");
          events.detach();
          // A restart handed the node's session over with a deadline: the next sanpathd must start
          // soon, so the last events get a short grace.
          await store.close(mode === "restart" ? RESTART_FLUSH_MS : STOP_FLUSH_MS);
          client.close();
        },
      });
    },
  };
}
