import { parseIpv4 } from "../disks/ipv4.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { ClusterIndex } from "./cluster-index.js";

/** A selected path: its position in the index and the request field that named it. */
export interface SelectedPath {
  readonly path: number;
  readonly field: string;
}

/**
 * The paths a request selected by IP, in request order without repeats. Text that is not an IPv4
 * address fails with INVALID_FIELD, an IP no path has with PATH_NOT_FOUND, both naming the field,
 * `ips[i]`. One pass over the paths with a map of the
 * selection, so that selecting a few paths among many costs no map of every IP.
 */
export function resolveSelectedPaths(index: ClusterIndex, ips: readonly string[]): SelectedPath[] {
  ips.forEach((ip, i) => parseIpv4(ip, `ips[${i}]`));
  const requestPosition = new Map<string, number>();
  ips.forEach((ip, i) => {
    if (!requestPosition.has(ip)) requestPosition.set(ip, i);
  });
  const pathAt = new Map<number, number>();
  index.paths.forEach((path, p) => {
    const i = requestPosition.get(path.ip);
    if (i !== undefined) pathAt.set(i, p);
  });
  const selected: SelectedPath[] = [];
  for (const [ip, i] of requestPosition) {
    const field = `ips[${i}]`;
    const path = pathAt.get(i);
    if (path === undefined) {
      throw new SanpathError("not_found", `${field}: no path of a running disk has IP ${ip}`, {
        reason: "PATH_NOT_FOUND",
        field,
      });
    }
    selected.push({ path, field });
  }
  return selected;
}
