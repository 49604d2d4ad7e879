import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    // CI only: one retry of a failed test. The namespace-cluster tests (real Consul raft, Ceph,
    // tgtd, failovers) depend on timing on a shared 2-core machine; a retry that passes is still
    // printed as a retry in the report, and a real failure fails twice.
    retry: process.env.CI ? 1 : 0,
    // CI also writes a JSON report so .ci/run can print the plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: ".tmp/vitest-results.json" }]]
      : ["default"],
  },
});
