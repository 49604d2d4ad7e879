import type { CallOptions } from "../util/call-options.js";

/** What a node reports about a path of a reassignment job while it moves it. */
export type JobPathMark = "moving" | "succeeded";

/**
 * Marks a reassignment job's path record (keyed by the path's IP) from the node that moves the
 * path: "moving" when the source cleans it (only a pending record), "succeeded" when the target
 * acquires it (only a record naming this node as target and not final). `jobId` "" matches any
 * job; a record of another job, or none, is left alone. The KV adapter is kv-job-path-marker.ts.
 */
export interface JobPathMarker {
  mark(ip: string, jobId: string, mark: JobPathMark, options?: CallOptions): Promise<void>;
}
