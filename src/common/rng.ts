/**
 * Seeded randomness. Decisions that depend on chance (probe order, jitter, gossip
 * targets, test shuffles) draw from an Rng so that a seed replays a run exactly.
 * Algorithm: xoshiro128** seeded through splitmix32 (small, fast, good enough for
 * simulation; not for keys — use node:crypto for anything secret).
 */

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[];
  /** Up to k distinct items chosen uniformly. */
  sample<T>(items: readonly T[], k: number): T[];
  /** A new independent generator derived from this one. */
  fork(): Rng;
  readonly seed: number;
}

export function createRng(seed: number = (Math.random() * 2 ** 32) >>> 0): Rng {
  return new Xoshiro128(seed >>> 0);
}

class Xoshiro128 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
  }

  private nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  next(): number {
    return this.nextU32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  sample<T>(items: readonly T[], k: number): T[] {
    if (k >= items.length) return this.shuffle([...items]);
    // Partial Fisher-Yates over an index map: O(k) for small k over large arrays.
    const picked = new Map<number, number>();
    const out: T[] = [];
    for (let i = 0; i < k; i++) {
      const j = i + this.int(items.length - i);
      const vj = picked.get(j) ?? j;
      const vi = picked.get(i) ?? i;
      picked.set(j, vi);
      out.push(items[vj]!);
    }
    return out;
  }

  fork(): Rng {
    return new Xoshiro128(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
