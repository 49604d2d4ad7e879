import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    // CI also writes a JSON report so .ci/run can print the plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: ".tmp/vitest-results.json" }]]
      : ["default"],
  },
});
