import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { projectRoot } from "../util/project-root.js";

/**
 * The consul executable: $SANPATH_CONSUL_BIN, then the one deploy/install-deps.sh unpacks into
 * .tools/bin, then $PATH.
 */
export function consulBinary(): string {
  const fromEnv = process.env.SANPATH_CONSUL_BIN;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const candidates = [join(projectRoot(), ".tools", "bin", "consul")];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "") candidates.push(join(dir, "consul"));
  }
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    "consul not found: run `bash deploy/install-deps.sh` (it unpacks consul into .tools/bin) or set SANPATH_CONSUL_BIN",
  );
}
