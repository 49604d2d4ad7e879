import { nodeRpcContract } from "../contract/node-rpc.contract.js";

nodeRpcContract("InProcessNodeRpc (the fake)", (cluster) =>
  Promise.resolve({
    rpc: cluster.rpc,
    endpoint: (name) => ({ name, address: cluster.node(name).address }),
    stopAnswering: (name) => {
      cluster.rpc.unserve(cluster.node(name).address);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  }),
);
