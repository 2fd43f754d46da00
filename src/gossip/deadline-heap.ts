/**
 * Earliest-deadline queue of (deadline, key) pairs with lazy deletion: the state machines keep
 * hundreds of suspicion deadlines during a partition and must find the earliest on every step
 * without scanning them all. An entry is stale when its key's current deadline differs;
 * callers pass `current(key)` and stale entries are dropped as they surface. The ordering is
 * common/min-heap.ts's: equal deadlines surface in the order they were pushed.
 */
import { MinHeap } from '../common/min-heap.ts';

interface Entry {
  readonly at: number;
  readonly key: string;
}

export class DeadlineHeap {
  private readonly heap = MinHeap.byPriority<Entry>((e) => e.at);

  get size(): number {
    return this.heap.size;
  }

  push(at: number, key: string): void {
    this.heap.push({ at, key });
  }

  /** The earliest live deadline; `current(key)` gives a key's live deadline (undefined if none). */
  peek(current: (key: string) => number | undefined): number {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return Infinity;
      if (current(top.key) === top.at) return top.at;
      this.heap.pop();
    }
  }

  /** Removes and returns the keys whose live deadline is at or before `now`. */
  popDue(now: number, current: (key: string) => number | undefined): string[] {
    const out: string[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > now) return out;
      this.heap.pop();
      if (current(top.key) === top.at) out.push(top.key);
    }
  }
}
