import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomically } from "../util/atomic-file.js";
import { CoalescedRun } from "./coalesced-run.js";

/**
 * Writes a state file atomically, many changes in one write (group commit). Writes never overlap;
 * every write asked for while one is under way joins the next one, which renders the state when it
 * starts, so it holds all of them and the last write holds the latest state (CoalescedRun).
 */
export class CoalescingFileWriter {
  private readonly writes: CoalescedRun<void>;

  constructor(file: string, render: () => string) {
    this.writes = new CoalescedRun(async () => {
      await mkdir(dirname(file), { recursive: true });
      await writeFileAtomically(file, render());
    });
  }

  /** Resolves once the state as it is now is on disk. */
  write(): Promise<void> {
    return this.writes.request();
  }

  /** Resolves once the writes under way (those not waited for, too) are done, failed or not. */
  flush(): Promise<void> {
    return this.writes.settled();
  }
}
