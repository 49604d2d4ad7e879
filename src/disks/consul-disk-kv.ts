import type { ConsulClient } from "../consul/consul-client.js";
import { runTransaction } from "../consul/transaction.js";
import type { DiskKv } from "./disk-kv.js";

/** DiskKv over a real Consul agent. */
export function consulDiskKv(client: ConsulClient): DiskKv {
  return {
    get: (key, options) => client.get(key, options),
    list: (prefix, options) => client.list(prefix, options),
    transaction: (operations, options) => runTransaction(client, operations, options),
  };
}
