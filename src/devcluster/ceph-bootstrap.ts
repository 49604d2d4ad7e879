/**
 * The steps that make a throw-away Ceph cluster: one mon, one memstore OSD, cephx on, a replicated
 * pool initialised for RBD, everything in one folder. The dev cluster (ceph-cluster.ts: detached
 * daemons recorded by PID) and the tests (test/harness/ceph.ts: daemons that are children of the
 * test process) both go through them; how commands run and daemons start is theirs to say.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cephxSecret, throwawayCephConf } from "../ceph/throwaway-conf.js";

export interface CephBootstrapOptions<Daemon> {
  /** The cluster's folder (it exists). */
  dir: string;
  /** ceph.conf for the daemons and every client. */
  confPath: string;
  /** The client.admin keyring. */
  keyringPath: string;
  /** The mon's address and its msgr2 and msgr1 ports. */
  ip: string;
  ports: { v2: number; v1: number };
  pool: string;
  /** Placement groups of the pool. */
  pgCount: number;
  clientMountTimeoutSec: number;
  /** Memstore size; Ceph's default when unset. */
  memstoreDeviceBytes?: number | undefined;
  /** How long `rbd pool init` (which waits for the OSD to serve) may take. */
  poolInitTimeoutMs: number;
  /** Runs a short command where the daemons run; resolves with its stdout. */
  run: (file: string, args: readonly string[], timeoutMs?: number) => Promise<string>;
  /** Starts a daemon in the foreground (`-f`), output appended to `logFile`; returns at once. */
  spawn: (file: string, args: readonly string[], logFile: string, label: "ceph-mon" | "ceph-osd") => Daemon;
}

export interface CephBootstrapResult<Daemon> {
  mon: Daemon;
  osd: Daemon;
  /** client.admin's cephx secret (base64). */
  adminKey: string;
  /** The mon_host value: "[v2:ip:port,v1:ip:port]". */
  monHost: string;
}

export async function bootstrapCeph<Daemon>(
  options: CephBootstrapOptions<Daemon>,
): Promise<CephBootstrapResult<Daemon>> {
  const { dir, confPath, ip, run } = options;
  const monHost = `[v2:${ip}:${options.ports.v2},v1:${ip}:${options.ports.v1}]`;
  const paths = {
    monKeyring: join(dir, "mon.keyring"),
    monmap: join(dir, "monmap"),
    monData: join(dir, "mon-a"),
    osdData: join(dir, "osd-0"),
    osdSecret: join(dir, "osd-secret.json"),
    run: join(dir, "run"),
    log: join(dir, "log"),
  };
  for (const folder of [paths.monData, paths.osdData, paths.run, paths.log])
    mkdirSync(folder, { recursive: true });

  const fsid = randomUUID();
  const adminKey = cephxSecret();
  writeFileSync(
    confPath,
    throwawayCephConf({
      fsid,
      monHost,
      ip,
      monData: paths.monData,
      osdData: paths.osdData,
      run: paths.run,
      log: paths.log,
      adminKeyring: options.keyringPath,
      clientMountTimeoutSec: options.clientMountTimeoutSec,
      ...(options.memstoreDeviceBytes === undefined
        ? {}
        : { memstoreDeviceBytes: options.memstoreDeviceBytes }),
    }),
  );
  const adminEntry = `[client.admin]\n\tkey = ${adminKey}\n\tcaps mon = "allow *"\n\tcaps osd = "allow *"\n\tcaps mgr = "allow *"\n`;
  writeFileSync(options.keyringPath, adminEntry, { mode: 0o600 });
  writeFileSync(paths.monKeyring, `[mon.]\n\tkey = ${cephxSecret()}\n\tcaps mon = "allow *"\n${adminEntry}`, {
    mode: 0o600,
  });
  const ceph = (args: readonly string[]): Promise<string> => run("ceph", ["--conf", confPath, ...args]);

  await run("monmaptool", ["--create", "--addv", "a", monHost, "--fsid", fsid, paths.monmap]);
  await run("ceph-mon", [
    "--conf",
    confPath,
    "--mkfs",
    "-i",
    "a",
    "--monmap",
    paths.monmap,
    "--keyring",
    paths.monKeyring,
  ]);
  const mon = options.spawn(
    "ceph-mon",
    ["--conf", confPath, "-i", "a", "-f"],
    join(paths.log, "mon.a.stdout"),
    "ceph-mon",
  );

  const osdUuid = randomUUID();
  const osdKey = cephxSecret();
  writeFileSync(paths.osdSecret, JSON.stringify({ cephx_secret: osdKey }), { mode: 0o600 });
  const osdId = (await ceph(["osd", "new", osdUuid, "-i", paths.osdSecret])).trim();
  if (osdId !== "0") throw new Error(`expected the first OSD to get id 0, got "${osdId}"`);
  writeFileSync(join(paths.osdData, "keyring"), `[osd.0]\n\tkey = ${osdKey}\n`, { mode: 0o600 });
  await run("ceph-osd", ["--conf", confPath, "-i", "0", "--mkfs", "--osd-uuid", osdUuid]);
  const osd = options.spawn(
    "ceph-osd",
    ["--conf", confPath, "-i", "0", "-f"],
    join(paths.log, "osd.0.stdout"),
    "ceph-osd",
  );

  await ceph(["osd", "pool", "create", options.pool, String(options.pgCount)]);
  // Blocks until the pool's placement groups are active, i.e. the OSD is up and serving.
  await run("rbd", ["--conf", confPath, "pool", "init", options.pool], options.poolInitTimeoutMs);
  return { mon, osd, adminKey, monHost };
}
