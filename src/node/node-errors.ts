import { SanpathError } from "../errors/sanpath-error.js";

/** The node has no confirmed Consul session: it serves nothing and takes no path. */
export function nodeFenced(node: string, detail = "it has no confirmed Consul session"): SanpathError {
  return new SanpathError("unavailable", `node ${node} is fenced: ${detail}; retry when it is back`, {
    reason: "NODE_FENCED",
  });
}

/** The node's data path failed: it handed its paths off and takes none until it recovers. */
export function nodeDegraded(node: string, reason: string): SanpathError {
  return new SanpathError(
    "failed_precondition",
    `node ${node} is degraded (its data path failed: ${reason}) and takes no paths until it recovers`,
    { reason: "NODE_DEGRADED" },
  );
}

export function staleEpoch(epoch: number, highest: number): SanpathError {
  return new SanpathError(
    "aborted",
    `epoch: ${epoch} is older than epoch ${highest} this node has seen (a newer coordinator exists)`,
    { reason: "STALE_EPOCH", field: "epoch" },
  );
}

export function pathHeldElsewhere(path: string, holder: string): SanpathError {
  return new SanpathError("failed_precondition", `path ${path} is held by ${holder}`, {
    reason: "PATH_HELD_ELSEWHERE",
  });
}

/** Nobody holds the lock but Consul refuses it: the previous holder's session ended recently. */
export function pathInLockDelay(path: string, lastHolder: string): SanpathError {
  return new SanpathError(
    "failed_precondition",
    `path ${path} is in its lock-delay after the session of ${lastHolder === "" ? "its last holder" : lastHolder} ended; retry in a few seconds`,
    { reason: "PATH_HELD_ELSEWHERE" },
  );
}

export function diskStopped(diskId: string): SanpathError {
  return new SanpathError("failed_precondition", `disk ${diskId} is stopped: its paths are not served`, {
    field: "disk_id",
  });
}

export function diskNotFound(diskId: string): SanpathError {
  return new SanpathError("not_found", `disk ${diskId} does not exist`, {
    reason: "DISK_NOT_FOUND",
    field: "disk_id",
  });
}

export function pathNotFound(diskId: string, index: number, pathCount: number): SanpathError {
  return new SanpathError(
    "not_found",
    `index: disk ${diskId} has ${pathCount} path${pathCount === 1 ? "" : "s"}, not a path ${index}`,
    { reason: "PATH_NOT_FOUND", field: "index" },
  );
}
