/**
 * The dev cluster's Ceph: one mon and one memstore OSD in the Ceph namespace on the management
 * bridge, cephx on, a pool initialised for RBD, made by the same steps as the test harness's
 * (ceph-bootstrap.ts; test/harness/ceph.ts ties its daemons to the test process); here the daemons
 * are detached, so the cluster outlives the command that made it, and stopped by their recorded PIDs.
 */
import { join } from "node:path";
import type { CommandRunner } from "../exec/command-runner.js";
import { bootstrapCeph } from "./ceph-bootstrap.js";
import { spawnDetached, stopProcess, type ProcessRecord } from "./detached-process.js";

export interface CephFiles {
  readonly dir: string;
  /** ceph.conf for every client (sanpathd, tgtd, rbd): mon_host, keyring. */
  readonly confPath: string;
  readonly keyringPath: string;
}

export interface CephDaemons {
  readonly mon: ProcessRecord;
  readonly osd: ProcessRecord;
}

export function cephFiles(dir: string): CephFiles {
  return { dir, confPath: join(dir, "ceph.conf"), keyringPath: join(dir, "client.admin.keyring") };
}

/**
 * Creates and starts Ceph in the namespace `runner` runs in, bound to `ip` (mon on 3300/6789).
 * `onStarted` records each daemon as soon as it runs, so a failure later still stops it.
 */
export async function startCeph(options: {
  files: CephFiles;
  runner: CommandRunner;
  netns: string;
  ip: string;
  pool: string;
  signal: AbortSignal;
  onStarted: (daemon: ProcessRecord) => void;
}): Promise<CephDaemons> {
  const { files, runner, signal } = options;
  const { mon, osd } = await bootstrapCeph({
    dir: files.dir,
    confPath: files.confPath,
    keyringPath: files.keyringPath,
    ip: options.ip,
    ports: { v2: 3300, v1: 6789 },
    pool: options.pool,
    pgCount: 32,
    clientMountTimeoutSec: 10,
    // Memstore keeps everything in RAM: a few hundred small test images fit in this.
    memstoreDeviceBytes: 4294967296,
    poolInitTimeoutMs: 60_000,
    run: async (file, args, timeoutMs = 30_000) =>
      (await runner.run(file, args, { timeoutMs, signal })).stdout,
    spawn: (file, args, logFile, label) => {
      const daemon = spawnDetached({ netns: options.netns, file, args, logFile, label });
      options.onStarted(daemon);
      return daemon;
    },
  });
  return { mon, osd };
}

/** Stops the OSD, then the mon (a mon that is gone leaves the OSD waiting). */
export async function stopCeph(daemons: { mon?: ProcessRecord; osd?: ProcessRecord }): Promise<void> {
  if (daemons.osd !== undefined) await stopProcess(daemons.osd, { signal: "SIGKILL" });
  if (daemons.mon !== undefined) await stopProcess(daemons.mon, { signal: "SIGKILL" });
}
