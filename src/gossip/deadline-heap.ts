/**
 * A min-heap of (deadline, key) pairs with lazy deletion: the state machines keep hundreds of
 * suspicion deadlines during a partition and must find the earliest on every step without
 * scanning them all. An entry is stale when its key's current deadline differs; callers
 * check with `current(key)` and stale entries are dropped as they surface.
 */

interface Entry {
  readonly at: number;
  readonly key: string;
}

export class DeadlineHeap {
  private readonly heap: Entry[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(at: number, key: string): void {
    const h = this.heap;
    h.push({ at, key });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** The earliest live deadline; `current(key)` gives a key's live deadline (undefined if none). */
  peek(current: (key: string) => number | undefined): number {
    for (;;) {
      const top = this.heap[0];
      if (!top) return Infinity;
      if (current(top.key) === top.at) return top.at;
      this.pop();
    }
  }

  /** Removes and returns the keys whose live deadline is at or before `now`. */
  popDue(now: number, current: (key: string) => number | undefined): string[] {
    const out: string[] = [];
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > now) return out;
      this.pop();
      if (current(top.key) === top.at) out.push(top.key);
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.at < h[m]!.at) m = l;
      if (r < h.length && h[r]!.at < h[m]!.at) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
}
