import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomically } from "../util/atomic-file.js";

/**
 * Writes a state file atomically, many changes in one write (group commit). Writes never overlap;
 * every write asked for while one is under way joins the next one, which renders the state when it
 * starts, so it holds all of them and the last write holds the latest state.
 */
export class CoalescingFileWriter {
  /** The write on its way to disk, if any. */
  private writing: Promise<void> | undefined;
  /** The write after it, which every write asked for meanwhile joins. */
  private next: Promise<void> | undefined;

  constructor(
    private readonly file: string,
    private readonly render: () => string,
  ) {}

  /** Resolves once the state as it is now is on disk. */
  write(): Promise<void> {
    if (this.next !== undefined) return this.next;
    const previous = (this.writing ?? Promise.resolve()).catch(() => undefined);
    const write = previous.then(async () => {
      this.next = undefined;
      this.writing = write;
      try {
        await mkdir(dirname(this.file), { recursive: true });
        await writeFileAtomically(this.file, this.render());
      } finally {
        if (this.writing === write) this.writing = undefined;
      }
    });
    this.next = write;
    return write;
  }

  /** Resolves once the writes under way (those not waited for, too) are done, failed or not. */
  async flush(): Promise<void> {
    await (this.next ?? this.writing)?.catch(() => undefined);
  }
}
