/**
 * When each path reads again after an event (a kill, a crash), from the iSCSI prober's gaps: the
 * end of the path's first gap that closes after the event. Waits until every path has one, until
 * no further gap has closed for `quietMs` after the first (a path down for less than the prober's
 * gap threshold reports no gap), or until `timeoutMs` after the event.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { IscsiProber } from "../src/devcluster/iscsi-prober.js";

const wall = (): number => performance.timeOrigin + performance.now();

/** ms from `since` (wall-clock ms) until each path of `ips` answered again; absent: not seen. */
export async function readsAgain(
  prober: IscsiProber,
  ips: readonly string[],
  since: number,
  options: { timeoutMs: number; quietMs?: number },
): Promise<Map<string, number>> {
  const wanted = new Set(ips);
  const back = new Map<string, number>();
  const quietMs = options.quietMs ?? 20_000;
  let lastBackAt: number | undefined;
  while (back.size < wanted.size && wall() < since + options.timeoutMs) {
    for (const outage of prober.outages()) {
      if (outage.to <= since || !wanted.has(outage.ip) || back.has(outage.ip)) continue;
      back.set(outage.ip, outage.to - since);
      lastBackAt = wall();
    }
    if (lastBackAt !== undefined && wall() - lastBackAt >= quietMs) break;
    await sleep(50);
  }
  return back;
}
