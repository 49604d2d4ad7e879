import { unwatchFile, watchFile, type Stats } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { hashToken, readTokenFile, type TokenEntry } from "./token-file.js";

/** How often the token file's mtime is checked; an added or removed token counts within this. */
const WATCH_INTERVAL_MS = 2000;

/**
 * The tokens sanpathd accepts, from its token file. The file is re-read when it changes (checked
 * every 2 s without blocking): `sanpath token create --write` takes effect without a restart. A
 * file that turns unreadable or invalid keeps the last good tokens and logs why.
 */
export class TokenStore {
  private byDigest = new Map<string, TokenEntry>();
  private watching = false;

  private constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {}

  /** Reads the file; a missing or invalid file fails here (sanpathd does not start). */
  static async open(path: string, logger: Logger): Promise<TokenStore> {
    const store = new TokenStore(path, logger);
    store.replace(await readTokenFile(path));
    return store;
  }

  /** The entry whose digest matches the token's, compared in constant time. */
  find(token: string): TokenEntry | undefined {
    const digest = hashToken(token);
    const entry = this.byDigest.get(digest);
    if (entry === undefined) return undefined;
    return timingSafeEqual(Buffer.from(entry.sha256, "hex"), Buffer.from(digest, "hex")) ? entry : undefined;
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** Re-reads the file now; resolves false (and logs) when it cannot be used. */
  async reload(): Promise<boolean> {
    try {
      this.replace(await readTokenFile(this.path));
      this.logger.info({ tokenFile: this.path, tokens: this.byDigest.size }, "token file reloaded");
      return true;
    } catch (error) {
      this.logger.error(
        { tokenFile: this.path, err: errorMessage(error) },
        "token file unusable: keeping the tokens read before",
      );
      return false;
    }
  }

  watch(): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.path, { interval: WATCH_INTERVAL_MS, persistent: false }, this.onChange);
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    unwatchFile(this.path, this.onChange);
  }

  private readonly onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino) return;
    void this.reload();
  };

  private replace(entries: readonly TokenEntry[]): void {
    this.byDigest = new Map(entries.map((entry) => [entry.sha256, entry]));
  }
}
