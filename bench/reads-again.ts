/**
 * When each path reads again after an event (a kill, a crash), from the iSCSI prober's gaps: the
 * end of the path's first gap that closes after the path went down. A path goes down at the event
 * (a power-off), or, when `downAt` tells, when its IP left the node (a crashed sanpathd's guard
 * tears the paths down one after the other; a gap closing before that is the load, not the
 * outage). Waits until every path has read again, until no further path has for `quietMs` after one
 * did while every path is known to have gone down (one down for less than the prober's gap
 * threshold reports no gap), or until `timeoutMs` after the event.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { IscsiProber } from "../src/devcluster/iscsi-prober.js";

const wall = (): number => performance.timeOrigin + performance.now();

export interface ReadsAgainOptions {
  timeoutMs: number;
  quietMs?: number;
  /** Wall-clock ms at which each path went down, as known so far; default: the event, for every path. */
  downAt?: () => ReadonlyMap<string, number>;
}

/** ms from `eventAt` (wall-clock ms) until each path of `ips` answered again; absent: not seen. */
export async function readsAgain(
  prober: IscsiProber,
  ips: readonly string[],
  eventAt: number,
  options: ReadsAgainOptions,
): Promise<Map<string, number>> {
  const back = new Map<string, number>();
  const quietMs = options.quietMs ?? 20_000;
  let lastBackAt: number | undefined;
  while (back.size < ips.length && wall() < eventAt + options.timeoutMs) {
    const downAt = options.downAt?.() ?? new Map(ips.map((ip) => [ip, eventAt]));
    for (const outage of prober.outages()) {
      const down = downAt.get(outage.ip);
      if (down === undefined || outage.to <= down || back.has(outage.ip)) continue;
      back.set(outage.ip, outage.to - eventAt);
      lastBackAt = wall();
    }
    if (lastBackAt !== undefined && ips.every((ip) => downAt.has(ip)) && wall() - lastBackAt >= quietMs)
      break;
    await sleep(50);
  }
  return back;
}
