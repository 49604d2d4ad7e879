import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageStoreContract } from "../contract/image-store.contract.js";

imageStoreContract("file", () => {
  const dataDir = mkdtempSync(join(tmpdir(), `sanpath-storage-file-${process.pid}-`));
  return Promise.resolve({
    config: {
      dataDir,
      imageStore: { kind: "file", pool: "rbd", cephConf: "/nonexistent", cephUser: "admin" },
    },
    stop: () => {
      rmSync(dataDir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});
