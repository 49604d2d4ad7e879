/**
 * Calls in flight per node when nothing else is configured (see NodeCallSlots). Measured with
 * bench/reassignment.ts (96-path drain, 2 shared cores): 16 per node with parallelism 32 moved
 * ~20 % more paths per second than 8 with 16, but each path's outage grew by ~70 % (every
 * operation waits longer for the CPU); 32 per node was slower and worse again. 8 keeps the outage
 * lowest.
 */
export const DEFAULT_CALLS_PER_NODE = 8;
