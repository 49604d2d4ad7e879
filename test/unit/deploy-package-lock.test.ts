/**
 * package-lock.json is complete: every optional dependency of every locked package (the other
 * platforms' builds of buf, rollup, …) has its own entry. `npm install` (deploy/install-deps.sh)
 * adds the missing ones, so a lock file without them leaves a fresh clone modified after set-up.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/util/project-root.js";

interface LockedPackage {
  optionalDependencies?: Record<string, string>;
}

describe("package-lock.json", () => {
  it("has an entry for every optional dependency of every locked package", () => {
    const lock = JSON.parse(readFileSync(join(projectRoot(), "package-lock.json"), "utf8")) as {
      packages: Record<string, LockedPackage>;
    };
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        // npm resolves a dependency in the package's own node_modules first, then up the tree.
        const levels = path === "" ? [""] : [`${path}/`, ""];
        if (!levels.some((level) => `${level}node_modules/${name}` in lock.packages)) {
          missing.push(`${name} (optional dependency of ${path === "" ? "the project" : path})`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
