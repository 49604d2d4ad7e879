/**
 * Every configuration field: its dotted path in the JSON file, its environment variable, and the
 * command-line flag for the ones an operator sets often. loadConfig() and `sanpathd --help` read this.
 */
export interface ConfigField {
  /** Dotted path in the config file and in error messages, e.g. "session.ttlSeconds". */
  readonly path: string;
  readonly env: string;
  /** Long flag without the dashes, e.g. "consul-address". */
  readonly flag?: string;
  readonly description: string;
  /** Its value is never printed, not even in an error message. */
  readonly secret?: boolean;
}

export const CONFIG_FIELDS: readonly ConfigField[] = [
  {
    path: "nodeName",
    env: "SANPATH_NODE_NAME",
    flag: "node-name",
    description: "this node's name in Consul (1..63 of A-Z a-z 0-9 _ . -)",
  },
  {
    path: "listen",
    env: "SANPATH_LISTEN",
    flag: "listen",
    description: "host:port the gRPC server binds (port 0 = any free port)",
  },
  {
    path: "advertiseAddress",
    env: "SANPATH_ADVERTISE_ADDRESS",
    flag: "advertise-address",
    description:
      "host:port other nodes use to reach this one (default: the bound address, or host name:port for a wildcard)",
  },
  {
    path: "adminSocket",
    env: "SANPATH_ADMIN_SOCKET",
    flag: "admin-socket",
    description: "absolute path of a unix socket the gRPC server also listens on (default: none)",
  },
  {
    path: "consul.address",
    env: "SANPATH_CONSUL_ADDRESS",
    flag: "consul-address",
    description: "host:port of the local Consul agent's HTTP API",
  },
  {
    path: "consul.root",
    env: "SANPATH_CONSUL_ROOT",
    flag: "consul-root",
    description: "Consul key prefix, PetaSAN-compatible by default",
  },
  {
    path: "consul.token",
    env: "SANPATH_CONSUL_TOKEN",
    description: "Consul ACL token; a secret, never logged (file or environment only, not a flag)",
    secret: true,
  },
  {
    path: "logLevel",
    env: "SANPATH_LOG_LEVEL",
    flag: "log-level",
    description: "fatal|error|warn|info|debug|trace|silent",
  },
  {
    path: "dataDir",
    env: "SANPATH_DATA_DIR",
    flag: "data-dir",
    description: "absolute folder for local state",
  },
  {
    path: "imageStore.kind",
    env: "SANPATH_IMAGE_STORE",
    flag: "image-store",
    description: "file (sparse files in dataDir) or rbd (Ceph)",
  },
  { path: "imageStore.pool", env: "SANPATH_CEPH_POOL", description: "Ceph pool of the images (rbd)" },
  { path: "imageStore.cephConf", env: "SANPATH_CEPH_CONF", description: "ceph.conf path (rbd)" },
  { path: "imageStore.cephUser", env: "SANPATH_CEPH_USER", description: "Ceph client id, e.g. admin (rbd)" },
  {
    path: "target.driver",
    env: "SANPATH_TARGET_DRIVER",
    flag: "target-driver",
    description: "iSCSI target driver: tgt (user-space tgtd) or lio (kernel, targetcli)",
  },
  {
    path: "target.tgtControlPort",
    env: "SANPATH_TGT_CONTROL_PORT",
    description: "tgtd control port, tgtd -C N (0..65535)",
  },
  {
    path: "dataPath.probeIntervalMs",
    env: "SANPATH_DATA_PATH_PROBE_INTERVAL_MS",
    description:
      "how often served paths are checked (IP, portal, target) and repaired when drifted, in ms (0 = off, or 100..60000)",
  },
  {
    path: "dataPath.degradeAfterMs",
    env: "SANPATH_DATA_PATH_DEGRADE_AFTER_MS",
    description:
      "data path in trouble this long (target daemon silent, a served path not there) → the node hands its paths off and is degraded, in ms (500..600000, above the probe interval)",
  },
  {
    path: "dataPath.recoverAfterMs",
    env: "SANPATH_DATA_PATH_RECOVER_AFTER_MS",
    description:
      "a degraded node takes paths again once its data path has been healthy this long, in ms (0..3600000)",
  },
  {
    path: "liveness.mode",
    env: "SANPATH_LIVENESS_MODE",
    description:
      "what decides that a node stops serving: peer-lease (leases renewed with the other nodes, failover in ~2 s; default) or consul (its Consul session: fence deadline + lock-delay)",
  },
  {
    path: "lease.heartbeatMs",
    env: "SANPATH_LEASE_HEARTBEAT_MS",
    description: "peer-lease: a renew to every other node this often, in ms (50..5000)",
  },
  {
    path: "lease.leaseMs",
    env: "SANPATH_LEASE_MS",
    description:
      "peer-lease: a renew granted by a majority keeps the node's lease this long, in ms (200..60000, ≥ 4 × lease.heartbeatMs); its paths move about 1.1 × this after its last renew",
  },
  {
    path: "lease.teardownBudgetMs",
    env: "SANPATH_LEASE_TEARDOWN_BUDGET_MS",
    description:
      "peer-lease: a node without its lease starts tearing its paths down this long before the lease ends, in ms (50..30000, ≤ lease.leaseMs / 2)",
  },
  {
    path: "lease.listen",
    env: "SANPATH_LEASE_LISTEN",
    description:
      "peer-lease: host:port of the lease's own listener, where the other nodes renew (default: listen's host and the next port; any free port when listen's port is 0)",
  },
  {
    path: "session.ttlSeconds",
    env: "SANPATH_SESSION_TTL_SECONDS",
    description: "Consul session TTL in seconds (10..86400)",
  },
  {
    path: "session.lockDelaySeconds",
    env: "SANPATH_SESSION_LOCK_DELAY_SECONDS",
    description:
      "Consul lock-delay in seconds after a session is lost (0..60; liveness.mode consul: 1..60 and above the fence deadline; peer-lease: 0)",
  },
  {
    path: "session.fenceDeadlineMs",
    env: "SANPATH_SESSION_FENCE_DEADLINE_MS",
    description:
      "liveness.mode consul: tear every path down after this long without a confirmed session (1000..60000, < lockDelaySeconds×1000); peer-lease: how often the session is renewed (a third of this)",
  },
  {
    path: "interfaces.subnet1",
    env: "SANPATH_SUBNET1_INTERFACE",
    description: "network interface of iSCSI subnet 1 on this node",
  },
  {
    path: "interfaces.subnet2",
    env: "SANPATH_SUBNET2_INTERFACE",
    description: "network interface of iSCSI subnet 2 on this node",
  },
  {
    path: "shutdownGraceMs",
    env: "SANPATH_SHUTDOWN_GRACE_MS",
    description: "on SIGTERM, wait this long for calls in flight (100..600000)",
  },
  {
    path: "reassignment.parallelism",
    env: "SANPATH_REASSIGNMENT_PARALLELISM",
    description: "paths a reassignment job moves at once (1..64)",
  },
  {
    path: "reassignment.callsPerNode",
    env: "SANPATH_REASSIGNMENT_CALLS_PER_NODE",
    description:
      "CleanPath/AcquirePath calls the coordinator keeps in flight on one node (1..64); more wait their turn",
  },
  {
    path: "reassignment.batchWindowMs",
    env: "SANPATH_REASSIGNMENT_BATCH_WINDOW_MS",
    description:
      "AcquirePath/CleanPath calls to one node made within this many ms go as one batch call (0 = one call per path, or 1..100)",
  },
  {
    path: "reassignment.leaderlessGraceMs",
    env: "SANPATH_REASSIGNMENT_LEADERLESS_GRACE_MS",
    description:
      "with no coordinator elected this long, node agents take free paths themselves (1000..600000)",
  },
  {
    path: "failback.enabled",
    env: "SANPATH_FAILBACK_ENABLED",
    description:
      "true: the coordinator moves paths back to a node that returned (online, not cordoned, not degraded again) once it has stayed so for failback.healthyForMs, as an ordinary average-planner job (default false)",
  },
  {
    path: "failback.healthyForMs",
    env: "SANPATH_FAILBACK_HEALTHY_FOR_MS",
    description:
      "how long a returned node must stay eligible before its failback job, in ms (1000..86400000); going away again restarts the wait",
  },
  {
    path: "failback.maxConcurrentMoves",
    env: "SANPATH_FAILBACK_MAX_CONCURRENT_MOVES",
    description: "paths a failback job moves at once (1..64)",
  },
  {
    path: "failback.minIntervalMs",
    env: "SANPATH_FAILBACK_MIN_INTERVAL_MS",
    description: "a failback job starts at least this long after the previous one ended, in ms (0..86400000)",
  },
  {
    path: "auth.mode",
    env: "SANPATH_AUTH_MODE",
    flag: "auth-mode",
    description:
      "required (every call needs a token or a client certificate) or none (anyone may call anything: tests only)",
  },
  {
    path: "auth.tokenFile",
    env: "SANPATH_AUTH_TOKEN_FILE",
    flag: "auth-token-file",
    description:
      "JSON file of accepted tokens [{name, role, sha256}] (sanpath token create); re-read on change",
  },
  {
    path: "auth.nodeTokenFile",
    env: "SANPATH_AUTH_NODE_TOKEN_FILE",
    description:
      "file with this node's cluster token (role node), sent to other nodes when TLS is off (with mutual TLS the node certificate identifies the node and role-node tokens are refused)",
  },
  {
    path: "tls.ca",
    env: "SANPATH_TLS_CA",
    flag: "tls-ca",
    description: "PEM of the cluster CA (turns TLS on)",
  },
  {
    path: "tls.cert",
    env: "SANPATH_TLS_CERT",
    flag: "tls-cert",
    description: "PEM certificate of this node (sanpath cert node)",
  },
  { path: "tls.key", env: "SANPATH_TLS_KEY", flag: "tls-key", description: "PEM private key of this node" },
  {
    path: "tls.plaintext",
    env: "SANPATH_TLS_PLAINTEXT",
    flag: "tls-plaintext",
    description:
      "true: serve without TLS (tokens and answers cross the network in clear); required when tls.ca, tls.cert and tls.key are unset, refused when they are set (--dev implies it)",
  },
  {
    path: "tls.requireClientCert",
    env: "SANPATH_TLS_REQUIRE_CLIENT_CERT",
    description: "true: clients and nodes must present a certificate of the cluster CA (mutual TLS)",
  },
  {
    path: "audit.file",
    env: "SANPATH_AUDIT_FILE",
    flag: "audit-file",
    description: "append-only JSON lines, one per write call (default: the daemon log)",
  },
  {
    path: "metrics.listen",
    env: "SANPATH_METRICS_LISTEN",
    flag: "metrics-listen",
    description:
      "host:port of the Prometheus metrics listener, GET /metrics (HTTPS with the node certificate when TLS is on; default: none)",
  },
  {
    path: "events.maxEvents",
    env: "SANPATH_EVENTS_MAX_EVENTS",
    description: "the event history keeps at least the newest this many events (100..1000000; default 20000)",
  },
  {
    path: "events.maxAgeHours",
    env: "SANPATH_EVENTS_MAX_AGE_HOURS",
    description: "events older than this are deleted and never served (1..8760 hours; default 168, 7 days)",
  },
  {
    path: "console.listen",
    env: "SANPATH_CONSOLE_LISTEN",
    flag: "console-listen",
    description:
      "host:port of the web console (HTTPS with the node certificate when TLS is on; sign in with a token or a client certificate; default: none)",
  },
  {
    path: "console.socket",
    env: "SANPATH_CONSOLE_SOCKET",
    flag: "console-socket",
    description: "absolute path of a unix socket the web console also listens on (default: none)",
  },
];

export const SECRET_FIELD_PATHS: ReadonlySet<string> = new Set(
  CONFIG_FIELDS.filter((field) => field.secret === true).map((field) => field.path),
);

export const CONFIG_FILE_ENV = "SANPATH_CONFIG";
