/** Both SessionMemory adapters held to one contract: the state file (in a temp dir) and the in-memory one. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SessionStateFile } from "../../src/files/session-state-file.js";
import { InMemorySessionMemory } from "../../src/testing/in-memory-session-memory.js";
import { sessionMemoryContract } from "../contract/session-memory.contract.js";

sessionMemoryContract("SessionStateFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "sanpath-session-memory-"));
  const path = join(dir, "session.json");
  return {
    memory: new SessionStateFile(path, "node-a"),
    reopen: () => new SessionStateFile(path, "node-a"),
    close: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
});

sessionMemoryContract("InMemorySessionMemory", () => {
  const memory = new InMemorySessionMemory();
  return { memory, reopen: () => memory };
});
