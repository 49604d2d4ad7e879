#!/usr/bin/env node
/**
 * The dev cluster's supervisor process (supervisor.ts): `node supervisor-main.js <state dir>`,
 * started detached by `deploy/dev-cluster up` with its output appended to <dir>/supervisor.log.
 * SIGTERM or SIGINT stops it.
 */
import { runSupervisor } from "./supervisor.js";

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: supervisor-main.js <dev cluster state dir>\n");
  process.exit(2);
}
const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => stop.abort());
runSupervisor({
  dir,
  signal: stop.signal,
  log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
}).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`supervisor: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
