/**
 * `sanpath … | head`: when the reader goes away the CLI ends quietly (exit 0, nothing on stderr),
 * as a C program ends on SIGPIPE, instead of printing an unhandled EPIPE stack trace.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { sanpathCliEntry } from "../harness/sanpathd.js";

function runWithReaderGone(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [sanpathCliEntry(), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    // Like `sanpath --help | true`: the reader is gone before the CLI writes.
    child.stdout.destroy();
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

describe("the sanpath CLI on a closed pipe", () => {
  it("exits 0 without a stack trace when the reader of its output is gone", async () => {
    for (const args of [["--help"], ["disk", "--help"], ["paths", "--help"]]) {
      const result = await runWithReaderGone(args);
      expect(result.stderr, args.join(" ")).not.toContain("EPIPE");
      expect(result.stderr, args.join(" ")).toBe("");
      expect(result.code, args.join(" ")).toBe(0);
    }
  });
});
