import type { LogLevel } from "../log/logger.js";

export type ImageStoreKind = "file" | "rbd";
export type TargetDriverKind = "tgt" | "lio";

/** The validated configuration of one sanpathd. Built by loadConfig() from flags > env > file > defaults. */
export interface SanpathdConfig {
  /** This node's name in Consul (node records, path lock values). Default: the host name. */
  nodeName: string;
  /** host:port the gRPC server binds; port 0 lets the kernel choose. Default "0.0.0.0:7410". */
  listen: string;
  /** host:port other nodes and clients use to reach this node; undefined = derived from the bound address. */
  advertiseAddress: string | undefined;
  consul: ConsulConfig;
  logLevel: LogLevel;
  /** Absolute folder for local state (file image store, job caches). */
  dataDir: string;
  imageStore: ImageStoreConfig;
  target: TargetConfig;
  session: SessionConfig;
  /** Interface names that carry iSCSI subnet 1 and 2 on this node. */
  interfaces: InterfacesConfig;
  /** How long SIGTERM waits for calls in flight before cutting connections. */
  shutdownGraceMs: number;
  reassignment: ReassignmentConfig;
}

export interface ConsulConfig {
  /** host:port of the local Consul agent's HTTP API. */
  address: string;
  /** Key prefix of every sanpath key. Default "PetaSAN". */
  root: string;
  /** ACL token; a secret, never logged. */
  token: string | undefined;
}

export interface ImageStoreConfig {
  kind: ImageStoreKind;
  /** Ceph pool (rbd only). */
  pool: string;
  /** ceph.conf path (rbd only). */
  cephConf: string;
  /** Ceph client id without "client." (rbd only). */
  cephUser: string;
}

export interface TargetConfig {
  driver: TargetDriverKind;
  /** tgtd control port (`tgtd -C N`, `tgtadm -C N`); tgt only. */
  tgtControlPort: number;
}

export interface SessionConfig {
  /** Consul session TTL (Consul allows 10 s .. 24 h). */
  ttlSeconds: number;
  /** Lock-delay after a session is invalidated; must exceed the fence deadline. */
  lockDelaySeconds: number;
  /** A node that cannot confirm its session this long tears down every path it serves. */
  fenceDeadlineMs: number;
}

export interface InterfacesConfig {
  subnet1: string | undefined;
  subnet2: string | undefined;
}

export interface ReassignmentConfig {
  /** Paths moved at once by a reassignment job. */
  parallelism: number;
}

export const DEFAULT_PORT = 7410;
