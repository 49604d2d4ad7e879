/**
 * libuv's thread pool runs sanpathd's file I/O (journal, state files, procfs reads) *and* every
 * librbd call of the storage addon (N-API async work), at most UV_THREADPOOL_SIZE at once (libuv's
 * default 4). A drain's rbd opens and reads then hold the pool while the tear-downs' procfs reads
 * and state-file writes queue behind them. The size is read once, when the pool first starts,
 * which is before sanpathd's own code runs: it can only be set in the environment that starts
 * sanpathd (the systemd unit, the dev cluster).
 */
export const RECOMMENDED_POOL_SIZE = 16;
const LIBUV_DEFAULT_POOL_SIZE = 4;

/** The pool size in effect for a process started with `env`, and whether it is below the advice. */
export function libuvPoolSize(env: NodeJS.ProcessEnv): { threads: number; belowAdvice: boolean } {
  const asked = Number.parseInt(env.UV_THREADPOOL_SIZE ?? "", 10);
  // libuv's own rule: unset or < 1 → 4; capped at 1024.
  const threads = Number.isSafeInteger(asked) && asked >= 1 ? Math.min(asked, 1024) : LIBUV_DEFAULT_POOL_SIZE;
  return { threads, belowAdvice: threads < RECOMMENDED_POOL_SIZE };
}
