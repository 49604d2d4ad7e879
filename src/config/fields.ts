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
    description: "this node's name in Consul",
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
    description: "host:port other nodes use to reach this one",
  },
  {
    path: "consul.address",
    env: "SANPATH_CONSUL_ADDRESS",
    flag: "consul-address",
    description: "host:port of the local Consul agent's HTTP API",
  },
  { path: "consul.root", env: "SANPATH_CONSUL_ROOT", flag: "consul-root", description: "Consul key prefix" },
  {
    path: "consul.token",
    env: "SANPATH_CONSUL_TOKEN",
    description: "Consul ACL token (secret)",
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
  { path: "target.driver", env: "SANPATH_TARGET_DRIVER", flag: "target-driver", description: "tgt or lio" },
  { path: "target.tgtControlPort", env: "SANPATH_TGT_CONTROL_PORT", description: "tgtd control port (-C)" },
  { path: "session.ttlSeconds", env: "SANPATH_SESSION_TTL_SECONDS", description: "Consul session TTL" },
  {
    path: "session.lockDelaySeconds",
    env: "SANPATH_SESSION_LOCK_DELAY_SECONDS",
    description: "lock-delay after a session is lost",
  },
  {
    path: "session.fenceDeadlineMs",
    env: "SANPATH_SESSION_FENCE_DEADLINE_MS",
    description: "tear paths down after this long without a confirmed session",
  },
  {
    path: "interfaces.subnet1",
    env: "SANPATH_SUBNET1_INTERFACE",
    description: "interface of iSCSI subnet 1",
  },
  {
    path: "interfaces.subnet2",
    env: "SANPATH_SUBNET2_INTERFACE",
    description: "interface of iSCSI subnet 2",
  },
  {
    path: "shutdownGraceMs",
    env: "SANPATH_SHUTDOWN_GRACE_MS",
    description: "wait for calls in flight this long on SIGTERM",
  },
  {
    path: "reassignment.parallelism",
    env: "SANPATH_REASSIGNMENT_PARALLELISM",
    description: "paths a reassignment moves at once",
  },
];

export const SECRET_FIELD_PATHS: ReadonlySet<string> = new Set(
  CONFIG_FIELDS.filter((field) => field.secret === true).map((field) => field.path),
);

export const CONFIG_FILE_ENV = "SANPATH_CONFIG";
