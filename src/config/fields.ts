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
    path: "session.ttlSeconds",
    env: "SANPATH_SESSION_TTL_SECONDS",
    description: "Consul session TTL in seconds (10..86400)",
  },
  {
    path: "session.lockDelaySeconds",
    env: "SANPATH_SESSION_LOCK_DELAY_SECONDS",
    description: "Consul lock-delay in seconds after a session is lost (1..60)",
  },
  {
    path: "session.fenceDeadlineMs",
    env: "SANPATH_SESSION_FENCE_DEADLINE_MS",
    description:
      "tear every path down after this long without a confirmed session (1000..60000, < lockDelaySeconds×1000)",
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
];

export const SECRET_FIELD_PATHS: ReadonlySet<string> = new Set(
  CONFIG_FIELDS.filter((field) => field.secret === true).map((field) => field.path),
);

export const CONFIG_FILE_ENV = "SANPATH_CONFIG";
