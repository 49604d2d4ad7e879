import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatTokenFile, generateToken, tokenEntry } from "./token-file.js";

/** The admin token `sanpathd --dev` makes when no token file is configured. */
export interface DevAdminToken {
  /** The token itself: printed once on the --dev banner (stderr), never logged. */
  readonly token: string;
  /** Server side: the token file with its digest (auth.tokenFile). */
  readonly tokenFile: string;
  /** Client side: the token in a file of its own, mode 0600, for `sanpath --token-file`. */
  readonly clientTokenFile: string;
}

/** Writes both files into `dir` (the --dev temporary folder, removed when sanpathd stops). */
export async function createDevAdminToken(dir: string): Promise<DevAdminToken> {
  const token = generateToken();
  const tokenFile = join(dir, "tokens.json");
  const clientTokenFile = join(dir, "admin.token");
  await writeFile(tokenFile, formatTokenFile([tokenEntry("dev-admin", "admin", token)]), { mode: 0o600 });
  await writeFile(clientTokenFile, `${token}\n`, { mode: 0o600 });
  return { token, tokenFile, clientTokenFile };
}
