import { readFile, rm } from "node:fs/promises";
import type { SessionMemory } from "../kv/session-memory.js";
import { writeFileAtomically } from "../util/atomic-file.js";

const SESSION_ID = /^[0-9a-fA-F-]{36}$/;

/**
 * SessionMemory in a JSON file written atomically: `{"sessionId", "node", "retiring"?}`. Also reads
 * the older coordinator format `{"session"}`. An unreadable or malformed file remembers nothing.
 */
export class SessionStateFile implements SessionMemory {
  constructor(
    readonly path: string,
    private readonly node: string,
  ) {}

  async read(): Promise<string[]> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.path, "utf8"));
    } catch {
      return [];
    }
    if (typeof parsed !== "object" || parsed === null) return [];
    const value = parsed as { sessionId?: unknown; session?: unknown; retiring?: unknown };
    const retiring = Array.isArray(value.retiring) ? (value.retiring as unknown[]) : [];
    const ids = [value.sessionId ?? value.session, ...retiring];
    return [...new Set(ids.filter((id): id is string => typeof id === "string" && SESSION_ID.test(id)))];
  }

  async write(active: string, retiring: readonly string[]): Promise<void> {
    const state = { sessionId: active, node: this.node, ...(retiring.length > 0 ? { retiring } : {}) };
    await writeFileAtomically(this.path, `${JSON.stringify(state)}\n`);
  }

  async forget(): Promise<void> {
    await rm(this.path, { force: true });
  }
}
