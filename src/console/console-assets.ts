import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { projectRoot } from "../util/project-root.js";
import { SECURITY_HEADERS } from "./console-http.js";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/** Where the console's files are: `web/static` (HTML, CSS) and `dist/web` (the compiled TS). */
export interface ConsoleAssetDirs {
  readonly staticDir: string;
  readonly scriptDir: string;
}

export function defaultAssetDirs(): ConsoleAssetDirs {
  const root = projectRoot();
  return { staticDir: join(root, "web", "static"), scriptDir: join(root, "dist", "web") };
}

/** A file name the console serves: one level, no dot-files, no `..`. */
const STATIC_NAME = /^[a-z0-9][a-z0-9-]*\.(html|css|svg|png)$/;
const SCRIPT_NAME = /^[a-z0-9][a-z0-9-]*\.js$/;

/**
 * Answers GET for the console's own files: `/` (index.html), `/<name>.css|svg|png` and
 * `/js/<name>.js`; anything else is 404. Files are read from disk on each request (a few small
 * files; a rebuilt console shows without a restart).
 */
export async function serveAsset(
  path: string,
  dirs: ConsoleAssetDirs,
  response: ServerResponse,
  head: boolean,
): Promise<boolean> {
  let file: string | undefined;
  if (path === "/" || path === "/index.html") file = join(dirs.staticDir, "index.html");
  else if (path.startsWith("/js/") && SCRIPT_NAME.test(path.slice(4)))
    file = join(dirs.scriptDir, path.slice(4));
  else if (STATIC_NAME.test(path.slice(1))) file = join(dirs.staticDir, path.slice(1));
  if (file === undefined) return false;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    const unbuilt = path.startsWith("/js/")
      ? !existsSync(dirs.scriptDir)
      : path === "/" || path === "/index.html";
    if (unbuilt) {
      response.writeHead(503, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" });
      response.end(`the console's files are not built (${file} is missing): run npm run build\n`);
      return true;
    }
    return false;
  }
  const extension = file.slice(file.lastIndexOf("."));
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    "content-type": CONTENT_TYPES[extension] ?? "application/octet-stream",
    "content-length": String(body.length),
    "cache-control": "no-cache",
  });
  response.end(head ? undefined : body);
  return true;
}
