import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import type { CallOptions } from "../util/call-options.js";
import type { JobPathMark, JobPathMarker } from "./job-path-marker.js";
import {
  isFinalJobPathStatus,
  parseJobPathRecord,
  serializeJobPathRecord,
  withJobPathStatus,
  type JobPathRecord,
} from "./job-record.js";

/** JobPathMarker on the job path records `<root>/Assignment/<ip>`, written with check-and-set. */
export class KvJobPathMarker implements JobPathMarker {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: ConsulKeys,
    /** The node marking: a "succeeded" mark applies only to records naming it as target. */
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {}

  async mark(ip: string, jobId: string, mark: JobPathMark, options: CallOptions = {}): Promise<void> {
    const key = this.keys.assignmentPath(ip);
    const applies = (record: JobPathRecord): boolean => {
      if (jobId !== "" && record.jobId !== jobId) return false;
      if (mark === "moving") return record.status === "pending";
      return record.targetNode === this.nodeName && !isFinalJobPathStatus(record.status);
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.kv.get(key, options);
      if (entry === undefined) return;
      const record = parseJobPathRecord(entry.value, key);
      if (!applies(record)) return;
      const next = serializeJobPathRecord(withJobPathStatus(record, mark, new Date()));
      if (await this.kv.put(key, next, { ...options, cas: entry.modifyIndex })) {
        this.logger.info({ ip, jobId: record.jobId, status: mark }, "job record updated");
        return;
      }
    }
    throw new SanpathError("aborted", `job record ${key} kept changing; not marked ${mark}`, {
      reason: "CAS_CONFLICT",
    });
  }
}
