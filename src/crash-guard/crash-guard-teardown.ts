import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { PathJournal } from "../node/path-journal.js";
import type { PathSetup } from "../node/path-setup.js";

export interface JournalTeardownOptions {
  /** The daemon's path journal (node-paths.json), read at the moment of the tear-down. */
  journalFile: string;
  setup: PathSetup;
  logger: Logger;
  /** Per portal; a stuck target daemon must not hold the IP up. Default 2 s. */
  portalBudgetMs?: number;
  /** Per IP removal (verified). Default 5 s. */
  ipBudgetMs?: number;
}

export interface JournalTeardownReport {
  /** Path IPs removed (or verified absent). */
  removed: string[];
  /** Path IPs that could not be removed. */
  failed: string[];
  /** Portals ("iqn@ip") that could not be disabled (their IP was removed anyway). */
  portalsFailed: string[];
}

/**
 * What the crash guard does when sanpathd died without a clean exit: for every path the journal
 * lists, portal off (target offline when it was its last portal), then the IP removed, through
 * PathSetup like the node agent's own tear-down. The journal is left as it is: the next sanpathd
 * sweeps what it lists (targets included) before it creates a session. Never throws.
 */
export async function tearDownJournalledPaths(
  options: JournalTeardownOptions,
): Promise<JournalTeardownReport> {
  const { setup, logger } = options;
  const portalBudgetMs = options.portalBudgetMs ?? 2000;
  const ipBudgetMs = options.ipBudgetMs ?? 5000;
  const report: JournalTeardownReport = { removed: [], failed: [], portalsFailed: [] };
  let journal: PathJournal;
  try {
    journal = await PathJournal.open(options.journalFile, logger);
  } catch (error) {
    logger.error({ journal: options.journalFile, err: errorMessage(error) }, "path journal not readable");
    return report;
  }
  await Promise.all(
    journal.values().map(async (entry) => {
      try {
        await setup.disablePortal(entry.iqn, entry.ip, AbortSignal.timeout(portalBudgetMs));
      } catch (error) {
        report.portalsFailed.push(`${entry.iqn}@${entry.ip}`);
        logger.warn(
          { ip: entry.ip, err: errorMessage(error) },
          "portal not disabled; removing the IP anyway",
        );
      }
      try {
        await setup.removeAddress(entry.ip, AbortSignal.timeout(ipBudgetMs), entry.interface, entry.vlanId);
        report.removed.push(entry.ip);
      } catch (error) {
        report.failed.push(entry.ip);
        logger.error({ ip: entry.ip, err: errorMessage(error) }, "path IP could not be removed");
      }
    }),
  );
  return report;
}
