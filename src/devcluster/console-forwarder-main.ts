/**
 * `node dist/src/devcluster/console-forwarder-main.js <portFile> <host> <port> <socket>...`:
 * the dev cluster's console forwarder (console-forwarder.ts), started detached by `up` and stopped
 * by PID by `down`. Writes the bound port to <portFile> once it listens.
 */
import { writeFileSync } from "node:fs";
import { startConsoleForwarder } from "./console-forwarder.js";

const [portFile, host, port, ...sockets] = process.argv.slice(2);
if (portFile === undefined || host === undefined || port === undefined || sockets.length === 0) {
  process.stderr.write("usage: console-forwarder-main <portFile> <host> <port> <socket>...\n");
  process.exit(2);
}
const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};
const forwarder = await startConsoleForwarder({ host, port: Number(port), sockets, log });
writeFileSync(portFile, `${forwarder.port}\n`);
log(`forwarding ${host}:${forwarder.port} to ${sockets.join(", ")}`);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void forwarder.close().then(() => process.exit(0));
  });
}
