/**
 * CLOCK_MONOTONIC in milliseconds (process.hrtime), the clock every process of the machine shares:
 * a reading taken in one process (sanpathd) is a deadline another (its crash guard, its successor)
 * can compare with its own reading. It does not jump with the wall clock. performance.now() is not
 * such a clock: it counts from each process's own start.
 */
export function monotonicNowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
