/**
 * A set of names with O(1) add, delete, membership and uniform random sampling: what gossip
 * needs to pick fanout targets and indirect-probe helpers among thousands of members on
 * every round.
 *
 * It may start from a shared, immutable base list (a formed membership handed to many
 * simulated nodes at once) and record only its own differences (names removed from the base,
 * names added beyond it), so ten thousand simulated nodes do not each copy a ten-thousand
 * name array. Without a base it is a plain array plus index.
 */
import type { Rng } from '../common/rng.ts';

/** An immutable list of names with its index, shareable between many sets. */
export interface SharedNames {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
}

export function sharedNames(names: readonly string[]): SharedNames {
  const frozen = Object.freeze([...names]);
  const index = new Map<string, number>();
  frozen.forEach((n, i) => {
    index.set(n, i);
  });
  return Object.freeze({ names: frozen, index });
}

export class SampledSet {
  private readonly base: SharedNames | undefined;
  private removedBase: Set<string> | undefined;
  private readonly extra: string[] = [];
  private readonly extraIndex = new Map<string, number>();
  private count: number;

  constructor(base?: SharedNames) {
    this.base = base;
    this.count = base ? base.names.length : 0;
  }

  get size(): number {
    return this.count;
  }

  has(name: string): boolean {
    if (this.extraIndex.has(name)) return true;
    return this.base !== undefined && this.base.index.has(name) && !(this.removedBase?.has(name) ?? false);
  }

  /** Adds a name; false when it was present. */
  add(name: string): boolean {
    if (this.base?.index.has(name)) {
      if (!this.removedBase?.delete(name)) return false;
      this.count++;
      return true;
    }
    if (this.extraIndex.has(name)) return false;
    this.extraIndex.set(name, this.extra.length);
    this.extra.push(name);
    this.count++;
    return true;
  }

  /** Removes a name; false when it was absent. */
  delete(name: string): boolean {
    if (this.base?.index.has(name)) {
      this.removedBase ??= new Set();
      if (this.removedBase.has(name)) return false;
      this.removedBase.add(name);
      this.count--;
      return true;
    }
    const i = this.extraIndex.get(name);
    if (i === undefined) return false;
    const last = this.extra.pop()!;
    if (last !== name) {
      this.extra[i] = last;
      this.extraIndex.set(last, i);
    }
    this.extraIndex.delete(name);
    this.count--;
    return true;
  }

  /** Size of the slot space at(): base length plus added names. */
  slotCount(): number {
    return (this.base?.names.length ?? 0) + this.extra.length;
  }

  /** The name in a slot, or undefined when that slot is empty (removed from the base). */
  at(slot: number): string | undefined {
    const baseLen = this.base?.names.length ?? 0;
    if (slot < baseLen) {
      const n = this.base!.names[slot]!;
      return this.removedBase?.has(n) ? undefined : n;
    }
    return this.extra[slot - baseLen];
  }

  forEach(fn: (name: string) => void): void {
    if (this.base) {
      for (const n of this.base.names) if (!this.removedBase?.has(n)) fn(n);
    }
    for (const n of this.extra) fn(n);
  }

  toArray(): string[] {
    const out: string[] = [];
    this.forEach((n) => {
      out.push(n);
    });
    return out;
  }

  /**
   * Up to k distinct names chosen uniformly, skipping those `reject` refuses. Rejection
   * sampling over slots; falls back to a full scan when the set is small or mostly
   * rejected, so the answer is exact either way.
   */
  sample(rng: Rng, k: number, reject?: (name: string) => boolean): string[] {
    if (k <= 0 || this.count === 0) return [];
    const slots = this.slotCount();
    if (this.count > 4 * k + 8) {
      const chosen: string[] = [];
      for (let attempt = 0; attempt < 4 * k + 16 && chosen.length < k; attempt++) {
        const n = this.at(rng.int(slots));
        if (n === undefined || chosen.includes(n) || (reject && reject(n))) continue;
        chosen.push(n);
      }
      if (chosen.length === k) return chosen;
    }
    const eligible: string[] = [];
    this.forEach((n) => {
      if (!reject || !reject(n)) eligible.push(n);
    });
    return rng.sample(eligible, k);
  }
}
