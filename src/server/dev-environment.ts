import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SanpathdConfig } from "../config/config.js";
import { startDevAgent } from "../consul/dev-agent.js";
import type { Logger } from "../log/logger.js";

/** What `sanpathd --dev` owns: a Consul dev agent and a temporary data folder, gone at stop(). */
export interface DevEnvironment {
  readonly consulAddress: string;
  readonly consulPid: number;
  /** The temporary folder holding the data dir and the agent's log. */
  readonly dir: string;
  readonly dataDir: string;
  /** The config with this environment's Consul, data dir and the file image store. */
  apply(config: SanpathdConfig): SanpathdConfig;
  stop(): Promise<void>;
}

export async function startDevEnvironment(nodeName: string, logger: Logger): Promise<DevEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), "sanpathd-dev-"));
  const dataDir = join(dir, "data");
  await mkdir(dataDir);
  const started = await startDevAgent({ dir: join(dir, "consul"), nodeName }).catch(
    async (error: unknown) => {
      await rm(dir, { recursive: true, force: true });
      throw error;
    },
  );
  logger.info(
    { consulPid: started.pid, consulAddress: started.httpAddress, dataDir },
    "consul dev agent started",
  );
  return {
    consulAddress: started.httpAddress,
    consulPid: started.pid,
    dir,
    dataDir,
    apply(config) {
      return {
        ...config,
        consul: { ...config.consul, address: started.httpAddress, token: undefined },
        dataDir,
        imageStore: { ...config.imageStore, kind: "file" },
      };
    },
    async stop() {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
      logger.info({ consulPid: started.pid, dir }, "consul dev agent stopped, temporary data removed");
    },
  };
}
