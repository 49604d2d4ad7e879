import { isRecord, type ConsulClient, type RequestCommon } from "../consul/consul-client.js";
import { runTransaction } from "../consul/transaction.js";
import type { AssignmentKv } from "./assignment-kv.js";

/** AssignmentKv over a real Consul agent. */
export function consulAssignmentKv(client: ConsulClient): AssignmentKv {
  return {
    get: (key, options) => client.get(key, options),
    list: (prefix, options) => client.list(prefix, options),
    listIndexed: async (prefix, options = {}) => {
      // A blocking read at index 0 answers at once, with the index of the state it read.
      const { index, entries } = await client.listBlocking(prefix, {
        index: 0,
        waitSeconds: 1,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      return { index, entries };
    },
    keys: (prefix, options) => client.keys(prefix, options),
    getBlocking: (key, options) => client.getBlocking(key, options),
    transaction: (operations, options) => runTransaction(client, operations, options),
    liveSessions: async (options = {}) => {
      const answer = await client.call("session.list", options, (raw, common) =>
        (raw as unknown as SessionListing).session.list({ ...common }),
      );
      const ids = new Set<string>();
      if (Array.isArray(answer)) {
        for (const session of answer as unknown[]) {
          if (isRecord(session) && typeof session.ID === "string") ids.add(session.ID);
        }
      }
      return ids;
    },
  };
}

/** consul@2's session.list, which the typed RawConsul of consul-client.ts leaves out. */
interface SessionListing {
  session: { list(options: RequestCommon): Promise<unknown> };
}
