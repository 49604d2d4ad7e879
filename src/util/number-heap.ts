/**
 * A binary min-heap of numbers. The planners encode (priority, rank) pairs into one number so that
 * the smallest number is the preferred entry and ties are impossible, which keeps plans deterministic.
 * The backing array never shrinks, so that clearing and refilling a heap costs nothing.
 */
export class NumberMinHeap {
  private readonly items: number[];
  private count: number;

  constructor(initial: readonly number[] = []) {
    this.items = initial.slice();
    this.count = this.items.length;
    for (let i = (this.count >>> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  push(value: number): void {
    const items = this.items;
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const parentValue = items[parent] ?? 0;
      if (parentValue <= value) break;
      items[i] = parentValue;
      i = parent;
    }
    items[i] = value;
  }

  /** The smallest value, left in place; undefined when empty. */
  peek(): number | undefined {
    return this.count === 0 ? undefined : this.items[0];
  }

  /** The smallest value, removed; undefined when empty. */
  pop(): number | undefined {
    if (this.count === 0) return undefined;
    const items = this.items;
    const top = items[0];
    this.count--;
    if (this.count > 0) {
      items[0] = items[this.count] ?? 0;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const items = this.items;
    const length = this.count;
    const value = items[start] ?? 0;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      let childValue = items[left] ?? 0;
      if (right < length) {
        const rightValue = items[right] ?? 0;
        if (rightValue < childValue) {
          child = right;
          childValue = rightValue;
        }
      }
      if (childValue >= value) break;
      items[i] = childValue;
      i = child;
    }
    items[i] = value;
  }
}
