import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { layering } from "../../eslint.layering.js";
import { projectRoot } from "../../src/util/project-root.js";

/**
 * The layering rules of docs/ARCHITECTURE.md, which eslint.config.js includes; linted here without
 * the type-aware rules, which these do not need.
 */
async function restrictedImports(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: projectRoot(),
    overrideConfigFile: true,
    overrideConfig: [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser } }, ...layering],
  });
  const [result] = await eslint.lintText(code, { filePath: `${projectRoot()}/${file}` });
  return (result?.messages ?? [])
    .filter((message) => message.ruleId === "no-restricted-imports")
    .map((message) => message.message);
}

describe("import layering (eslint no-restricted-imports)", () => {
  it("fails src/node importing the Consul client, types included", async () => {
    const messages = await restrictedImports(
      "src/node/node-agent.ts",
      'import type { ConsulClient } from "../consul/consul-client.js";\nexport type Client = ConsulClient;\n',
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("../consul/consul-client.js");
    expect(messages[0]).toContain("KvStore");
  });

  it("fails the core doing file I/O, reaching a driver or an outer layer", async () => {
    const messages = await restrictedImports(
      "src/coordinator/coordinator.ts",
      [
        'import { readFile } from "node:fs/promises";',
        'import { TgtDriver } from "../iscsi/tgt-driver.js";',
        'import { ConsulKvStore } from "../consul/consul-kv-store.js";',
        'import { startServer } from "../server/server.js";',
        "export const used = [readFile, TgtDriver, ConsulKvStore, startServer];",
      ].join("\n"),
    );
    expect(messages).toHaveLength(4);
  });

  it("lets the core use the ports and the key layout", async () => {
    const messages = await restrictedImports(
      "src/node/node-agent.ts",
      [
        'import type { KvStore } from "../kv/kv-store.js";',
        'import { ConsulKeys } from "../consul/keys.js";',
        'import type { TargetDriver } from "../iscsi/target-driver.js";',
        'import type { NetworkDriver } from "../net/network-driver.js";',
        'import type { ImageStore } from "../storage/image-store.js";',
        "export type Ports = [KvStore, ConsulKeys, TargetDriver, NetworkDriver, ImageStore];",
      ].join("\n"),
    );
    expect(messages).toEqual([]);
  });

  it("keeps src/kv free of Consul and of the layers above it", async () => {
    const messages = await restrictedImports(
      "src/kv/locks.ts",
      'import { ConsulKeys } from "../consul/keys.js";\nimport Consul from "consul";\nexport const used = [ConsulKeys, Consul];\n',
    );
    expect(messages).toHaveLength(2);
  });
});
