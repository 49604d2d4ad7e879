import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/util/project-root.js";

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out.sort();
}

describe("src/gen", () => {
  const root = projectRoot();
  const scratch = mkdtempSync(join(tmpdir(), "sanpath-gen-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("is what `buf generate` makes from proto/ (run `npm run gen` when this fails)", () => {
    execFileSync(join(root, "node_modules", ".bin", "buf"), ["generate", "--output", scratch], {
      cwd: root,
      stdio: "pipe",
      timeout: 120_000,
    });
    const fresh = join(scratch, "src", "gen");
    const committed = join(root, "src", "gen");
    const freshFiles = filesUnder(fresh).map((f) => relative(fresh, f));
    const committedFiles = filesUnder(committed).map((f) => relative(committed, f));
    expect(committedFiles).toEqual(freshFiles);
    expect(freshFiles.length).toBeGreaterThan(4);
    for (const file of freshFiles) {
      expect(readFileSync(join(committed, file), "utf8"), file).toBe(readFileSync(join(fresh, file), "utf8"));
    }
  });
});
