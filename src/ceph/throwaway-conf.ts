import { randomBytes } from "node:crypto";

/** A cephx secret as ceph-authtool writes it: type AES, creation time, 16 random bytes, base64. */
export function cephxSecret(): string {
  const secret = Buffer.alloc(28);
  secret.writeUInt16LE(1, 0);
  secret.writeUInt32LE(Math.floor(Date.now() / 1000), 2);
  secret.writeUInt32LE(0, 6);
  secret.writeUInt16LE(16, 10);
  randomBytes(16).copy(secret, 12);
  return secret.toString("base64");
}

export interface ThrowawayCephConfOptions {
  fsid: string;
  /** "[v2:ip:port,v1:ip:port]" */
  monHost: string;
  /** The address the mon and OSD bind. */
  ip: string;
  monData: string;
  osdData: string;
  run: string;
  log: string;
  adminKeyring: string;
  clientMountTimeoutSec: number;
  /** Memstore's RAM budget; Ceph's default when unset. */
  memstoreDeviceBytes?: number;
}

/**
 * ceph.conf of a one-mon, one-memstore-OSD cluster without mgr (INFRA-NOTES: pool size one, fast
 * paxos, no fast shutdown), for tests and the dev cluster.
 */
export function throwawayCephConf(o: ThrowawayCephConfOptions): string {
  return [
    "[global]",
    `fsid = ${o.fsid}`,
    `mon_host = ${o.monHost}`,
    "auth_cluster_required = cephx",
    "auth_service_required = cephx",
    "auth_client_required = cephx",
    "osd_pool_default_size = 1",
    "osd_pool_default_min_size = 1",
    "mon_allow_pool_size_one = true",
    "osd_crush_chooseleaf_type = 0",
    // Default 1.0 s makes every map change (and `rbd pool init`) crawl.
    "paxos_propose_interval = 0.1",
    "osd_objectstore = memstore",
    // Otherwise memstore drops its data on SIGTERM.
    "osd_fast_shutdown = false",
    // A nearly full /tmp must not make the mon shut itself down.
    "mon_data_avail_crit = 0",
    "mon_data_avail_warn = 0",
    "ms_bind_ipv6 = false",
    `run_dir = ${o.run}`,
    `log_file = ${o.log}/$name.log`,
    `keyring = ${o.adminKeyring}`,
    "",
    "[mon]",
    `mon_data = ${o.monData}`,
    `public_addr = ${o.ip}`,
    `pid_file = ${o.run}/$name.pid`,
    `admin_socket = ${o.run}/$name.asok`,
    "",
    "[osd]",
    `osd_data = ${o.osdData}`,
    `keyring = ${o.osdData}/keyring`,
    `public_addr = ${o.ip}`,
    `cluster_addr = ${o.ip}`,
    `pid_file = ${o.run}/$name.pid`,
    `admin_socket = ${o.run}/$name.asok`,
    ...(o.memstoreDeviceBytes === undefined ? [] : [`memstore_device_bytes = ${o.memstoreDeviceBytes}`]),
    "",
    "[client]",
    // tgtd and the rbd CLI on one host would fight over the same socket.
    "admin_socket =",
    `client_mount_timeout = ${o.clientMountTimeoutSec}`,
    `log_file = ${o.log}/$name.$pid.log`,
    "",
  ].join("\n");
}
