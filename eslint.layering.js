// @ts-check
/**
 * The import rules of docs/ARCHITECTURE.md (used by eslint.config.js; test/unit/lint-layering.test.ts
 * checks that they catch what they must).
 */
/** @type {import("eslint").Linter.Config[]} */
export const layering = [
  {
    // The layering of docs/ARCHITECTURE.md: the stateful core reaches Consul, files, processes and
    // the network only through ports (src/kv, iscsi/target-driver, net/network-driver,
    // storage/image-store, assignment/node-rpc); adapters are wired in by src/server.
    files: ["src/node/**/*.ts", "src/coordinator/**/*.ts", "src/assignment/**/*.ts", "src/disks/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            ...["consul", "@grpc/grpc-js", "execa", "prom-client", "node:child_process", "child_process"].map(
              (name) => ({
                name,
                message: "the core uses ports; adapters live outside src/{node,coordinator,assignment,disks}",
              }),
            ),
            ...["node:fs", "node:fs/promises", "fs", "fs/promises"].map((name) => ({
              name,
              message: "the core does no file I/O of its own: use a port (kv/session-memory) or src/util",
            })),
          ],
          patterns: [
            {
              group: ["**/consul/*", "!**/consul/keys.js"],
              message:
                "reach Consul through the KvStore / SessionStore ports in src/kv (only consul/keys.js is shared)",
            },
            {
              group: [
                "**/server/*",
                "**/api/*",
                "**/console/*",
                "**/cli/*",
                "**/devcluster/*",
                "**/crash-guard/*",
                "**/lease-worker/*",
                "**/files/*",
                "**/testing/*",
              ],
              message: "outer layers and adapters import the core, never the other way round",
            },
            {
              group: ["**/iscsi/*", "!**/iscsi/target-driver.js"],
              message: "use the TargetDriver port (iscsi/target-driver.ts), not a driver",
            },
            {
              group: ["**/net/*", "!**/net/network-driver.js", "!**/net/address-watch.js"],
              message:
                "use the NetworkDriver and AddressWatch ports (net/network-driver.ts, net/address-watch.ts), not a driver",
            },
            {
              group: ["**/storage/*", "!**/storage/image-store.js"],
              message: "use the ImageStore port (storage/image-store.ts), not a store",
            },
            {
              group: ["**/events/*", "!**/events/event-log.js"],
              message:
                "tell the EventLog port (events/event-log.ts); the Consul store is wired in by src/server",
            },
            {
              group: ["**/metrics/*", "!**/metrics/metrics-recorder.js"],
              message:
                "tell the MetricsRecorder port (metrics/metrics-recorder.ts); the Prometheus adapter is wired in by src/server",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/kv/**/*.ts", "src/util/**/*.ts", "src/errors/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^\\.\\./(?!errors/|util/)",
              message: "src/kv, src/util and src/errors are the bottom layer: they import only each other",
            },
          ],
          paths: [{ name: "consul", message: "the Consul adapters live in src/consul" }],
        },
      ],
    },
  },
];
