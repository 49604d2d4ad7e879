/** Both SessionHandover adapters held to one contract: the file (in a temp dir) and the in-memory one. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SessionHandoverFile } from "../../src/files/session-handover-file.js";
import { InMemorySessionHandover } from "../../src/testing/in-memory-session-handover.js";
import { sessionHandoverContract } from "../contract/session-handover.contract.js";

sessionHandoverContract("SessionHandoverFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "sanpath-session-handover-"));
  const path = join(dir, "node-handover.json");
  return {
    handover: new SessionHandoverFile(path),
    other: () => new SessionHandoverFile(path),
    close: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
});

sessionHandoverContract("InMemorySessionHandover", () => {
  const handover = new InMemorySessionHandover();
  return { handover, other: () => handover };
});
