import { randomUUID } from "node:crypto";
import { readFile, rename, rm } from "node:fs/promises";
import type { ClaimedHandover, SessionHandover } from "../kv/session-handover.js";
import { writeFileAtomically } from "../util/atomic-file.js";
import { monotonicNowMs } from "../util/monotonic-clock.js";

const SESSION_ID = /^[0-9a-fA-F-]{36}$/;
const BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id";

/**
 * SessionHandover in a JSON file written atomically:
 *   {"sessionId", "deadlineMonotonicMs", "bootId", "pid"}
 * The deadline is on CLOCK_MONOTONIC (process.hrtime), which every process of the machine shares
 * and which does not jump with the wall clock; the boot id tells a record from before a reboot.
 * A claim renames the file away first: of two claims, only one rename succeeds.
 */
export class SessionHandoverFile implements SessionHandover {
  constructor(readonly path: string) {}

  async leave(sessionId: string, validForMs: number): Promise<void> {
    const record = {
      sessionId,
      deadlineMonotonicMs: monotonicNowMs() + validForMs,
      bootId: await bootId(),
      pid: process.pid,
    };
    await writeFileAtomically(this.path, `${JSON.stringify(record)}\n`);
  }

  async claim(): Promise<ClaimedHandover | undefined> {
    const claimed = `${this.path}.claimed-${process.pid}-${randomUUID()}`;
    try {
      await rename(this.path, claimed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    try {
      return await this.read(claimed);
    } finally {
      await rm(claimed, { force: true });
    }
  }

  async peek(): Promise<ClaimedHandover | undefined> {
    try {
      return await this.read(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** A record that cannot be read is one whose time is up (nobody may adopt it). */
  private async read(path: string): Promise<ClaimedHandover> {
    const text = await readFile(path, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { sessionId: "", remainingMs: 0 };
    }
    const { sessionId, deadlineMonotonicMs, bootId: boot } = (parsed ?? {}) as Record<string, unknown>;
    if (
      typeof sessionId !== "string" ||
      !SESSION_ID.test(sessionId) ||
      typeof deadlineMonotonicMs !== "number"
    )
      return { sessionId: "", remainingMs: 0 };
    if (boot !== (await bootId())) return { sessionId, remainingMs: 0 };
    return { sessionId, remainingMs: deadlineMonotonicMs - monotonicNowMs() };
  }
}

async function bootId(): Promise<string> {
  try {
    return (await readFile(BOOT_ID_FILE, "utf8")).trim();
  } catch {
    return "";
  }
}
