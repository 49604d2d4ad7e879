/** What every call to another system (Consul, a node, a command) takes: cancellation and a deadline. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the callee's default deadline for this call, in ms. */
  timeoutMs?: number;
}
