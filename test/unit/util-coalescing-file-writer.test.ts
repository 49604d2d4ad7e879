import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CoalescingFileWriter } from "../../src/util/coalescing-file-writer.js";

describe("CoalescingFileWriter", () => {
  const dir = mkdtempSync(join(tmpdir(), "sanpath-coalescing-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes many changes made during one write together in the next, and the file ends with the latest state", async () => {
    let state = 0;
    let renders = 0;
    const file = join(dir, "nested", "state.json");
    const writer = new CoalescingFileWriter(file, () => {
      renders += 1;
      return JSON.stringify({ state });
    });
    const writes: Promise<void>[] = [];
    for (let change = 1; change <= 20; change++) {
      state = change;
      writes.push(writer.write());
    }
    await Promise.all(writes);
    // The first write starts on the next turn and takes all 20 changes; nothing else was asked after it.
    expect(renders).toBe(1);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ state: 20 });

    const first = writer.write();
    state = 21;
    const joined = [writer.write(), writer.write()];
    expect(joined[0]).toBe(joined[1]);
    await Promise.all([first, ...joined]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ state: 21 });
  });

  it("reports a failed write to its callers, and flush waits for it without throwing", async () => {
    const writer = new CoalescingFileWriter(join(dir, "missing\0name"), () => "{}");
    const write = writer.write();
    await writer.flush();
    await expect(write).rejects.toThrow();
  });
});
