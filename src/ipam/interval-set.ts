/**
 * Disjoint closed intervals [start, end] kept sorted by start, for subnet overlap checks.
 *
 * Because the stored intervals never overlap one another, a query [s, e] overlaps some
 * interval exactly when the interval with the largest start <= e ends at or after s: one
 * binary search per check, whatever the number of networks. Insertion and removal splice
 * sorted arrays (O(n) moves, which is a memmove; appending, as sequential carving does, is
 * O(1)).
 */
export class IntervalSet<T> {
  private readonly starts: bigint[] = [];
  private readonly ends: bigint[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.starts.length;
  }

  /** Index of the last interval whose start <= x, or -1. */
  private floor(x: bigint): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= x) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return ans;
  }

  /** An interval overlapping [start, end], if any. */
  findOverlap(start: bigint, end: bigint): { start: bigint; end: bigint; item: T } | undefined {
    const i = this.floor(end);
    if (i < 0 || this.ends[i]! < start) return undefined;
    return { start: this.starts[i]!, end: this.ends[i]!, item: this.items[i]! };
  }

  /** Adds an interval; the caller has checked it overlaps nothing. */
  insert(start: bigint, end: bigint, item: T): void {
    const n = this.starts.length;
    const i = n === 0 || this.starts[n - 1]! < start ? n : this.floor(start) + 1;
    if (i === this.starts.length) {
      this.starts.push(start);
      this.ends.push(end);
      this.items.push(item);
    } else {
      this.starts.splice(i, 0, start);
      this.ends.splice(i, 0, end);
      this.items.splice(i, 0, item);
    }
  }

  /** Removes the interval starting at start; false if there is none. */
  remove(start: bigint): boolean {
    const i = this.floor(start);
    if (i < 0 || this.starts[i] !== start) return false;
    this.starts.splice(i, 1);
    this.ends.splice(i, 1);
    this.items.splice(i, 1);
    return true;
  }

  *entries(): Generator<{ start: bigint; end: bigint; item: T }> {
    for (let i = 0; i < this.starts.length; i++) yield { start: this.starts[i]!, end: this.ends[i]!, item: this.items[i]! };
  }
}
