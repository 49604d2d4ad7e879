import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import { pause } from "../util/pause.js";
import type { DiskSource } from "./disk-source.js";
import { pathKeyOf, type PathJournal } from "./path-journal.js";
import type { PathSetup } from "./path-setup.js";

export interface StartupSweepOptions {
  journal: PathJournal;
  setup: PathSetup;
  disks: Pick<DiskSource, "allocatedPathIps">;
  logger: Logger;
}

/**
 * Runs the sweep until it works (backing off up to 5 s); false when `signal` aborted first. The
 * node creates no session before it returns true: a new process cannot know whether the old
 * session still holds the locks of what it left configured, so it removes all of it first and there
 * is never a moment with a path IP on two nodes.
 */
export async function sweepUntilDone(options: StartupSweepOptions, signal: AbortSignal): Promise<boolean> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await sweepLeftovers(options, signal);
      return true;
    } catch (error) {
      if (isAborted(signal)) return false;
      if (attempt === 1 || attempt % 20 === 0) {
        options.logger.error(
          { attempt, err: errorMessage(error) },
          "cannot clear what a previous daemon configured; retrying",
        );
      }
      await pause(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), signal);
    }
  }
  return false;
}

/**
 * Removes every IP, portal and target this node may have configured before (journal; targets with
 * enabled portals; path IPs of known disks, when Consul answers). The IPs are what matters (an IP
 * up here and on another node is the failure fencing prevents): failing to remove one fails the
 * sweep, which is retried. A target daemon that does not answer only costs its leftover targets
 * (they keep no IP) and is logged.
 */
export async function sweepLeftovers(options: StartupSweepOptions, signal: AbortSignal): Promise<void> {
  const { journal, setup, disks, logger } = options;
  const journalled = journal.values();
  let allocated = new Map<string, { diskId: string; index: number }>();
  try {
    allocated = await disks.allocatedPathIps({
      signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
    });
  } catch (error) {
    logger.info({ err: errorMessage(error) }, "start-up sweep without Consul: journal and targets only");
  }
  const addresses = await setup.addresses(signal, true);
  let targets: Awaited<ReturnType<PathSetup["targets"]>> = [];
  try {
    targets = await setup.targets(signal, true);
  } catch (error) {
    logger.error(
      { err: errorMessage(error) },
      "the iSCSI target daemon does not answer: targets a previous daemon left are not removed",
    );
  }
  const ours = new Set([...journalled.map((entry) => entry.ip), ...allocated.keys()]);
  for (const target of targets) for (const portal of target.portals) ours.add(portal.ip);
  const present = addresses.filter((address) => ours.has(address.ip));
  await Promise.all(present.map((address) => setup.removeAddress(address.ip, signal)));
  const iqns = new Set(journalled.map((entry) => entry.iqn));
  for (const target of targets) if (target.portals.length > 0) iqns.add(target.iqn);
  // All at once: the driver orders each target's own operations, different targets go beside each
  // other (one at a time took ~65 ms per target, 10 s for a node left with 160 paths).
  await Promise.all(
    [...iqns].map((iqn) =>
      setup.dropTarget(iqn, signal).catch((error: unknown) => {
        logger.warn({ iqn, err: errorMessage(error) }, "leftover target not dropped");
      }),
    ),
  );
  // Together, so the removals share the journal's writes instead of one file write each.
  await Promise.all(journalled.map((entry) => journal.remove(pathKeyOf(entry.diskId, entry.index))));
  if (present.length > 0 || iqns.size > 0) {
    logger.warn(
      { ips: present.map((address) => address.ip), targets: [...iqns] },
      "removed what a previous daemon left configured (before creating a session)",
    );
  }
}
