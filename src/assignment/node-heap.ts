import { NumberMinHeap } from "../util/number-heap.js";

/**
 * A binary min-heap of node ranks ordered by keys the owner keeps in an array (and may change:
 * then call update()), with each node's position tracked so that a node is updated or removed in
 * place. Nodes can be visited in key order without taking them out.
 */
export class NodeHeap {
  private readonly items: Int32Array;
  private readonly position: Int32Array;
  private length = 0;
  /** Frontier of an in-order visit: keys of nodes whose parents were visited. */
  private readonly frontier = new NumberMinHeap();

  /** Every key must be (anything) * scale + node, so that keys are unique and name their node. */
  constructor(
    private readonly keys: Float64Array,
    private readonly scale: number,
  ) {
    this.items = new Int32Array(keys.length);
    this.position = new Int32Array(keys.length).fill(-1);
  }

  get size(): number {
    return this.length;
  }

  has(node: number): boolean {
    return (this.position[node] ?? -1) >= 0;
  }

  /** Adds the nodes not in the heap yet; cheaper than push() for many nodes at once. */
  addAll(nodes: readonly number[]): void {
    for (const node of nodes) {
      if (this.has(node)) continue;
      this.items[this.length] = node;
      this.position[node] = this.length;
      this.length++;
    }
    for (let i = (this.length >>> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Restores the order after the node's key changed. */
  update(node: number): void {
    const at = this.position[node] ?? -1;
    if (at < 0) return;
    this.siftDown(this.siftUp(at));
  }

  remove(node: number): void {
    const at = this.position[node] ?? -1;
    if (at < 0) return;
    this.position[node] = -1;
    this.length--;
    if (at === this.length) return;
    const last = this.items[this.length] ?? 0;
    this.items[at] = last;
    this.position[last] = at;
    this.siftDown(this.siftUp(at));
  }

  /** Calls `visit` with nodes in key order until it returns true or every node was visited. */
  visitInOrder(visit: (node: number) => boolean): void {
    if (this.length === 0) return;
    const frontier = this.frontier;
    frontier.clear();
    frontier.push(this.keyAt(0));
    for (let key = frontier.pop(); key !== undefined; key = frontier.pop()) {
      const node = key % this.scale;
      if (visit(node)) return;
      const left = 2 * (this.position[node] ?? 0) + 1;
      if (left < this.length) frontier.push(this.keyAt(left));
      if (left + 1 < this.length) frontier.push(this.keyAt(left + 1));
    }
  }

  private keyAt(at: number): number {
    return this.keys[this.items[at] ?? 0] ?? 0;
  }

  private siftUp(start: number): number {
    const items = this.items;
    const node = items[start] ?? 0;
    const key = this.keys[node] ?? 0;
    let at = start;
    while (at > 0) {
      const parent = (at - 1) >>> 1;
      const parentNode = items[parent] ?? 0;
      if ((this.keys[parentNode] ?? 0) <= key) break;
      items[at] = parentNode;
      this.position[parentNode] = at;
      at = parent;
    }
    items[at] = node;
    this.position[node] = at;
    return at;
  }

  private siftDown(start: number): void {
    const items = this.items;
    const node = items[start] ?? 0;
    const key = this.keys[node] ?? 0;
    let at = start;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= this.length) break;
      let child = left;
      let childNode = items[left] ?? 0;
      let childKey = this.keys[childNode] ?? 0;
      if (left + 1 < this.length) {
        const rightNode = items[left + 1] ?? 0;
        const rightKey = this.keys[rightNode] ?? 0;
        if (rightKey < childKey) {
          child = left + 1;
          childNode = rightNode;
          childKey = rightKey;
        }
      }
      if (childKey >= key) break;
      items[at] = childNode;
      this.position[childNode] = at;
      at = child;
    }
    items[at] = node;
    this.position[node] = at;
  }
}
