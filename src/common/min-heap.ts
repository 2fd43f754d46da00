/**
 * A binary min-heap: push and pop in O(log n), peek in O(1). Used where a loop needs the
 * earliest of many pending things without scanning them all (FakeClock's timers in
 * 1,000-node simulations, the gossip state machine's suspicion deadlines).
 *
 * Order is the comparator's, and items it ranks equal come out in the order they were
 * pushed, so a run that pushes the same items in the same order pops them in the same order
 * (simulations replay from a seed). Removal before the top is not offered: users that cancel
 * keep a mark on the item (or a current value per key) and drop stale items as they reach the
 * top, which costs less than finding an item inside the heap.
 */

/** Negative when `a` comes first, positive when `b` does, zero for a tie. */
export type Compare<T> = (a: T, b: T) => number;

export class MinHeap<T> {
  // Parallel arrays: the item and its insertion number, which breaks the comparator's ties.
  private readonly items: T[] = [];
  private readonly seqs: number[] = [];
  private nextSeq = 0;

  constructor(private readonly compare: Compare<T>) {}

  /** A heap ordered by a number per item, smallest first (equal numbers, Infinity too, tie). */
  static byPriority<T>(priority: (item: T) => number): MinHeap<T> {
    return new MinHeap<T>((a, b) => {
      const pa = priority(a);
      const pb = priority(b);
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    });
  }

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.seqs.push(this.nextSeq++);
    this.up(this.items.length - 1);
  }

  /** The first item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Removes and returns the first item; undefined when empty. */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    const lastSeq = this.seqs.pop();
    if (items.length > 0 && last !== undefined && lastSeq !== undefined) {
      items[0] = last;
      this.seqs[0] = lastSeq;
      this.down(0);
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
    this.seqs.length = 0;
  }

  /** Every item, in no particular order (for counting or inspecting, not for draining). */
  [Symbol.iterator](): IterableIterator<T> {
    return this.items.values();
  }

  private before(i: number, j: number): boolean {
    const c = this.compare(this.items[i]!, this.items[j]!);
    return c < 0 || (c === 0 && this.seqs[i]! < this.seqs[j]!);
  }

  private swap(i: number, j: number): void {
    const items = this.items;
    const seqs = this.seqs;
    const item = items[i]!;
    items[i] = items[j]!;
    items[j] = item;
    const seq = seqs[i]!;
    seqs[i] = seqs[j]!;
    seqs[j] = seq;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let first = i;
      if (l < n && this.before(l, first)) first = l;
      if (r < n && this.before(r, first)) first = r;
      if (first === i) return;
      this.swap(i, first);
      i = first;
    }
  }
}
