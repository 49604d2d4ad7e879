/** What one look at the Consul agent found. */
export type ConsulProbeResult = { reachable: true; leader: string } | { reachable: false; problem: string };

export interface ConsulProbeOptions {
  /** host:port of the agent's HTTP API. */
  address: string;
  token?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Asks the agent for the raft leader (`/v1/status/leader`). Reachable = the agent answers and a
 * leader exists (without one, KV and sessions do not work). Never throws.
 */
export async function probeConsul(options: ConsulProbeOptions): Promise<ConsulProbeResult> {
  const signals = [AbortSignal.timeout(options.timeoutMs)];
  if (options.signal !== undefined) signals.push(options.signal);
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers["X-Consul-Token"] = options.token;
  try {
    const response = await fetch(`http://${options.address}/v1/status/leader`, {
      headers,
      signal: AbortSignal.any(signals),
    });
    const body = (await response.text()).trim();
    if (!response.ok) return { reachable: false, problem: `HTTP ${response.status} from /v1/status/leader` };
    const leader = parseLeader(body);
    return leader === ""
      ? { reachable: false, problem: "the agent has no raft leader" }
      : { reachable: true, leader };
  } catch (error) {
    return { reachable: false, problem: describeFetchFailure(error, options.timeoutMs) };
  }
}

function parseLeader(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "string" ? parsed : "";
  } catch {
    return "";
  }
}

function describeFetchFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  if (error instanceof Error && error.name === "AbortError") return "probe stopped";
  const cause = error instanceof Error ? error.cause : undefined;
  const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
  if (code !== undefined) return code;
  return error instanceof Error ? error.message : String(error);
}
