import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../util/project-root.js";

let cached: string | undefined;

/** The "version" of package.json (read once, at start-up). */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  const pkg: unknown = JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8"));
  const version = typeof pkg === "object" && pkg !== null && "version" in pkg ? pkg.version : undefined;
  cached = typeof version === "string" ? version : "unknown";
  return cached;
}
