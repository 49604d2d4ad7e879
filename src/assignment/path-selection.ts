import { SanpathError } from "../errors/sanpath-error.js";
import type { ClusterIndex } from "./cluster-index.js";

/** A selected path: its position in the index and the request field that named it. */
export interface SelectedPath {
  readonly path: number;
  readonly field: string;
}

/**
 * The paths a request selected by IP, in request order without repeats. An IP no path has fails
 * with PATH_NOT_FOUND naming its field, `ips[i]`.
 */
export function resolveSelectedPaths(index: ClusterIndex, ips: readonly string[]): SelectedPath[] {
  const selected: SelectedPath[] = [];
  const seen = new Set<number>();
  ips.forEach((ip, i) => {
    const field = `ips[${i}]`;
    const path = index.pathOfIp(ip);
    if (path === undefined) {
      throw new SanpathError("not_found", `${field}: no path of a running disk has IP ${ip}`, {
        reason: "PATH_NOT_FOUND",
        field,
      });
    }
    if (seen.has(path)) return;
    seen.add(path);
    selected.push({ path, field });
  });
  return selected;
}
