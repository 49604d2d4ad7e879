import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevAgent, type DevAgent } from "../../src/consul/dev-agent.js";

export interface ConsulHarness {
  agent: DevAgent;
  dir: string;
  /** Stops the agent and starts a new one on the same HTTP port (in-memory data is lost). */
  restart(): Promise<DevAgent>;
  stop(): Promise<void>;
}

/**
 * A real `consul agent -dev` on free ports in its own temp dir, for one test file:
 *   let consul: ConsulHarness;
 *   beforeAll(async () => { consul = await startConsulHarness("my-test"); });
 *   afterAll(async () => { await consul.stop(); });
 */
export async function startConsulHarness(name: string): Promise<ConsulHarness> {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-${name}-`));
  const nodeName = `${name}-${process.pid}`;
  const harness: ConsulHarness = {
    agent: await startDevAgent({ dir, nodeName }),
    dir,
    async restart() {
      const port = harness.agent.httpPort;
      await harness.agent.stop();
      harness.agent = await startDevAgent({ dir, nodeName, httpPort: port });
      return harness.agent;
    },
    async stop() {
      await harness.agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
