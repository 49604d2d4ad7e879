import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatTokenFile, generateToken, tokenEntry } from "./token-file.js";

/** The tokens `sanpathd --dev` makes when no token file is configured. */
export interface DevTokens {
  /** The admin token itself: printed once on the --dev banner (stderr), never logged. */
  readonly adminToken: string;
  /** Server side: the token file with both digests (auth.tokenFile). */
  readonly tokenFile: string;
  /** Client side: the admin token in a file of its own, mode 0600, for `sanpath --token-file`. */
  readonly adminTokenFile: string;
  /** The node's own cluster token (role node), for its calls to itself (auth.nodeTokenFile). */
  readonly nodeTokenFile: string;
}

/**
 * Writes an admin token and a node token for `nodeName` into `dir` (the --dev temporary folder,
 * removed when sanpathd stops).
 */
export async function createDevTokens(dir: string, nodeName: string): Promise<DevTokens> {
  const adminToken = generateToken();
  const nodeToken = generateToken();
  const tokenFile = join(dir, "tokens.json");
  const adminTokenFile = join(dir, "admin.token");
  const nodeTokenFile = join(dir, "node.token");
  const entries = [tokenEntry("dev-admin", "admin", adminToken), tokenEntry(nodeName, "node", nodeToken)];
  await writeFile(tokenFile, formatTokenFile(entries), { mode: 0o600 });
  await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  await writeFile(nodeTokenFile, `${nodeToken}\n`, { mode: 0o600 });
  return { adminToken, tokenFile, adminTokenFile, nodeTokenFile };
}
