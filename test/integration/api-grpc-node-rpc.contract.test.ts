/**
 * GrpcNodeRpc, the coordinator's NodeService client, against real gRPC servers on loopback that
 * serve node agents of a ProcessCluster through the production handlers (nodeHandlers, the
 * ServiceRegistry and its status mapping).
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ActiveCalls } from "../../src/api/active-calls.js";
import { GrpcNodeRpc } from "../../src/api/grpc-node-rpc.js";
import { nodeHandlers } from "../../src/api/node-handlers.js";
import { ServiceRegistry } from "../../src/api/service-registry.js";
import { CONTRACT_DEADLINE_MS, nodeRpcContract } from "../contract/node-rpc.contract.js";

async function serve(registry: ServiceRegistry): Promise<{ server: Server; address: string }> {
  const server = new Server();
  registry.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => {
      if (error === null) resolve(bound);
      else reject(error);
    });
  });
  return { server, address: `127.0.0.1:${port}` };
}

nodeRpcContract("GrpcNodeRpc over gRPC", async (cluster) => {
  const servers = new Map<string, { server: Server; address: string }>();
  for (const name of ["a", "b"]) {
    const registry = new ServiceRegistry({ calls: new ActiveCalls(), logger: cluster.logger });
    registry.implement("node", nodeHandlers(cluster.node(name).agent));
    servers.set(name, await serve(registry));
  }
  const rpc = new GrpcNodeRpc(CONTRACT_DEADLINE_MS);
  const serverOf = (name: string) => {
    const found = servers.get(name);
    if (found === undefined) throw new Error(`no server for node ${name}`);
    return found;
  };
  return {
    rpc,
    endpoint: (name) => ({ name, address: serverOf(name).address }),
    stopAnswering: async (name) => {
      const { server } = serverOf(name);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
    close: () => {
      rpc.close();
      for (const { server } of servers.values()) server.forceShutdown();
      return Promise.resolve();
    },
  };
});
