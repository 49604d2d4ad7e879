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
  /**
   * Absolute path of a unix socket the gRPC server also listens on (besides `listen`); undefined =
   * none. Unix sockets are files, so local tools (and tests in other network namespaces) reach the
   * daemon without a TCP route.
   */
  adminSocket: string | undefined;
  consul: ConsulConfig;
  logLevel: LogLevel;
  /** Absolute folder for local state (file image store, job caches). */
  dataDir: string;
  imageStore: ImageStoreConfig;
  target: TargetConfig;
  liveness: { mode: LivenessMode };
  lease: LeaseConfig;
  session: SessionConfig;
  dataPath: DataPathConfig;
  /** Interface names that carry iSCSI subnet 1 and 2 on this node. */
  interfaces: InterfacesConfig;
  /** How long SIGTERM waits for calls in flight before cutting connections. */
  shutdownGraceMs: number;
  reassignment: ReassignmentConfig;
  /** Who may call what (src/security/): tokens and client certificates, roles. */
  auth: AuthConfig;
  /**
   * TLS of the gRPC server (TCP and admin socket) and of calls to other nodes; undefined = plaintext,
   * which only an explicit tls.plaintext (or --dev) allows.
   */
  tls: TlsConfig | undefined;
  audit: AuditConfig;
  metrics: MetricsConfig;
  console: ConsoleConfig;
  events: EventsConfig;
  failback: FailbackConfig;
}

/**
 * Auto failback (docs/DEPLOY.md "Auto failback"): the coordinator moves paths back to a node that
 * returned once it has stayed eligible for a while, as an ordinary average-planner job.
 */
export interface FailbackConfig {
  /** Off by default: paths come back only with a rebalance someone starts. */
  enabled: boolean;
  /** How long a returned node must stay online, uncordoned and not degraded first. */
  healthyForMs: number;
  /** The failback job's parallelism (moves in flight at once). */
  maxConcurrentMoves: number;
  /** The least time between the end of one failback job and the start of the next. */
  minIntervalMs: number;
}

/** Retention of the event history (docs/DEPLOY.md "Events"); the same on every node, ideally. */
export interface EventsConfig {
  /** The newest this many events are kept at least (100..1,000,000). */
  maxEvents: number;
  /** Events older than this are deleted and never served (1..8760 hours). */
  maxAgeHours: number;
}

export interface ConsoleConfig {
  /**
   * host:port of the web console (HTTPS with the node's certificate when TLS is on); undefined = no
   * console, the production default.
   */
  listen: string | undefined;
  /** A unix socket the console also listens on (a local reverse proxy, the dev cluster's forwarder). */
  socket: string | undefined;
}

export interface MetricsConfig {
  /**
   * host:port of the Prometheus listener (GET /metrics; HTTPS with the node's certificate when TLS
   * is on); undefined = no metrics listener.
   */
  listen: string | undefined;
}

/** "required": every sanpath.v1 call needs a token or a client certificate; "none": tests and --dev. */
export type AuthMode = "required" | "none";

export interface AuthConfig {
  mode: AuthMode;
  /** JSON [{name, role, sha256}] of the accepted tokens (digests only); re-read when it changes. */
  tokenFile: string | undefined;
  /** File holding this node's own cluster token, sent on calls to other nodes when TLS is off. */
  nodeTokenFile: string | undefined;
}

export interface TlsConfig {
  /** PEM of the cluster CA; peers' certificates must chain to it. */
  ca: string;
  /** PEM certificate (OU=node) and key of this node: served, and presented to other nodes. */
  cert: string;
  key: string;
  /** Clients must present a certificate of the cluster CA (mutual TLS); default true. */
  requireClientCert: boolean;
}

export interface AuditConfig {
  /** JSON lines, one per write call; undefined = the daemon log (msg "audit"). */
  file: string | undefined;
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

/**
 * What decides that a node stops serving and that its paths may go elsewhere:
 *   peer-lease  leases renewed with the other nodes over gRPC (docs/design/peer-leases.md): fast,
 *               and a Consul raft election fences nobody; the shipped default.
 *   consul      the node's Consul session: fence after fenceDeadlineMs unconfirmed, takeover after
 *               the lock-delay (the design before issue #17).
 */
export type LivenessMode = "peer-lease" | "consul";

export interface LeaseConfig {
  /** A renew to every peer this often (each waits for its answer up to leaseMs − teardownBudgetMs). */
  heartbeatMs: number;
  /** How long a renew a majority granted keeps the lease, from its send time. */
  leaseMs: number;
  /** The fence's tear-down starts this long before the lease ends, and must be done by then. */
  teardownBudgetMs: number;
  /**
   * host:port of the lease worker's own RenewLease listener; default: listen's host and the next
   * port (any free port when listen's port is 0).
   */
  listen?: string | undefined;
}

export interface SessionConfig {
  /** Consul session TTL (Consul allows 10 s .. 24 h). */
  ttlSeconds: number;
  /** Lock-delay after a session is invalidated; consul mode: must exceed the fence deadline; peer-lease: 0. */
  lockDelaySeconds: number;
  /** A node that cannot confirm its session this long tears down every path it serves. */
  fenceDeadlineMs: number;
}

export interface DataPathConfig {
  /**
   * How often the node checks that every path it serves is really served (IP on its interface,
   * portal on, target present) and repairs one that is not; 0 = never (reconcile still runs).
   */
  probeIntervalMs: number;
  /**
   * How long the data path may be in trouble (target daemon not answering, a served path not all
   * there) before the node hands every path off and is degraded.
   */
  degradeAfterMs: number;
  /** How long the data path must stay healthy before a degraded node takes paths again. */
  recoverAfterMs: number;
}

export interface InterfacesConfig {
  subnet1: string | undefined;
  subnet2: string | undefined;
}

export interface ReassignmentConfig {
  /** Paths moved at once by a reassignment job. */
  parallelism: number;
  /** CleanPath / AcquirePath calls the coordinator keeps in flight on one node at most. */
  callsPerNode: number;
  /**
   * AcquirePath / CleanPath calls to one node made within this many ms of each other go as one
   * AcquirePaths / CleanPaths call (0: one call per path).
   */
  batchWindowMs: number;
  /** How long no coordinator may be elected before node agents take free paths themselves. */
  leaderlessGraceMs: number;
}

export const DEFAULT_PORT = 7410;
