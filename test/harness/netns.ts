/**
 * Network namespace topologies for tests: see src/netns/topology.ts for the layout and the API.
 *
 *   let topology: Topology;
 *   beforeAll(async () => {
 *     topology = await createTopology({ bridges: ["iscsi1"], hosts: [...] });
 *   });
 *   afterAll(async () => { await topology?.destroy(); });
 */
export {
  createTopology,
  listNamespaces,
  uniquePrefix,
  type HostSpec,
  type LinkSpec,
  type LinkState,
  type Topology,
  type TopologySpec,
} from "../../src/netns/topology.js";
export { spawnDaemon, type DaemonHandle, type DaemonExit } from "../../src/netns/daemon.js";
export { DOCUMENTATION_RANGES } from "../../src/netns/documentation-ranges.js";
