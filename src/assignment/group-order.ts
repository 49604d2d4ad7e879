import { NumberMinHeap } from "../util/number-heap.js";

/**
 * A min-queue of keys for the order in which a donor gives its groups, cheaper than a heap for
 * the usual case: the keys known at the start are sorted once and read in order; only keys pushed
 * later (a group that gave a path and has more, or one skipped for now) go into a heap, and each
 * pop takes the smaller of the two heads. A key read from the sorted start is never stale, since
 * a group's key only changes after it was popped.
 */
export class GroupOrder {
  private readonly sorted: Float64Array;
  private next = 0;
  private readonly later = new NumberMinHeap();

  constructor(keys: Float64Array) {
    this.sorted = keys.sort();
  }

  push(key: number): void {
    this.later.push(key);
  }

  pop(): number | undefined {
    const first = this.sorted[this.next];
    const second = this.later.peek();
    if (first === undefined) return this.later.pop();
    if (second !== undefined && second < first) return this.later.pop();
    this.next++;
    return first;
  }
}
