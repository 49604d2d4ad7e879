/**
 * Refetching a page's data when the cluster's event stream says something happened (debounced,
 * so a burst of failovers is one refetch), after the stream reconnects, and slowly as a safety
 * net. Loads never overlap: a trigger during a load runs one more load after it.
 */
import type { ClusterEvent } from "./api-model.js";
import { debounce } from "./debounce.js";
import type { LiveEvents } from "./live-events.js";

export const REFRESH_DEBOUNCE_MS = 300;
export const SAFETY_REFRESH_MS = 30_000;

export interface LiveRefresh {
  /** Load now (or right after the load under way). */
  now(): void;
  dispose(): void;
}

export function liveRefresh(
  live: LiveEvents,
  load: () => Promise<void>,
  relevant: (event: ClusterEvent) => boolean = () => true,
): LiveRefresh {
  let loading = false;
  let again = false;
  let disposed = false;
  const run = (): void => {
    if (disposed) return;
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    load()
      .catch(() => undefined)
      .finally(() => {
        loading = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const debounced = debounce(run, REFRESH_DEBOUNCE_MS);
  const unsubscribe = live.subscribe({
    onEvent: (event) => {
      if (relevant(event)) debounced.trigger();
    },
    onReconnect: () => debounced.trigger(),
  });
  const safety = setInterval(run, SAFETY_REFRESH_MS);
  run();
  return {
    now: run,
    dispose() {
      disposed = true;
      unsubscribe();
      debounced.cancel();
      clearInterval(safety);
    },
  };
}
