/**
 * The member table of one node: a record per known member (address, incarnation, state,
 * when the state last changed) plus the indexes the protocol samples from on every round:
 * the live set (alive or suspect, self excluded) for probe targets, helpers and gossip
 * fanout, and the failed set (dead, not left) for reconnect attempts. A round-robin probe
 * order walks the live set as a random permutation (random offset, random stride coprime to
 * the size), one cycle after another, without an array per node.
 *
 * It may start from a shared MembershipSnapshot (an already formed cluster handed to many
 * simulated nodes); a base member's record is copied into this table the first time it is
 * read, and every later change stays local.
 */
import type { Rng } from '../common/rng.ts';
import { SampledSet, sharedNames, type SharedNames } from './sampled-set.ts';
import type { MemberStatus } from './messages.ts';

export interface MemberRecord {
  readonly name: string;
  addr: string;
  incarnation: number;
  state: MemberStatus;
  /** When `state` last changed, ms (state machine time). */
  since: number;
  /** Last time we told this member directly that we hold it dead or suspect, ms. */
  accusedAt: number;
}

/** A network of a snapshot and the members on it (joined at Lamport time 1). */
export interface SnapshotNetwork {
  readonly id: string;
  readonly members: SharedNames;
}

/**
 * An already formed membership shared (read-only) by many nodes: every name alive at
 * `incarnation`, and which of them are on which network.
 */
export interface MembershipSnapshot {
  readonly names: SharedNames;
  readonly addrs: readonly string[];
  readonly incarnation: number;
  readonly networks: readonly SnapshotNetwork[];
}

/**
 * Builds a snapshot. `networks` maps a network to the indexes (into `members`) of the nodes
 * on it, or 'all'.
 */
export function membershipSnapshot(
  members: ReadonlyArray<{ name: string; addr: string }>,
  incarnation: number,
  networks: ReadonlyArray<{ id: string; members: readonly number[] | 'all' }> = [],
): MembershipSnapshot {
  const names = sharedNames(members.map((m) => m.name));
  return Object.freeze({
    names,
    addrs: Object.freeze(members.map((m) => m.addr)),
    incarnation,
    networks: Object.freeze(
      networks.map((n) =>
        Object.freeze({ id: n.id, members: n.members === 'all' ? names : sharedNames(n.members.map((i) => members[i]!.name)) }),
      ),
    ),
  });
}

export class MemberTable {
  /** Alive or suspect members other than self. */
  readonly live: SampledSet;
  /** Dead (not left) members other than self that have an address. */
  readonly failed: SampledSet;
  private readonly records = new Map<string, MemberRecord | null>();
  private readonly base: MembershipSnapshot | undefined;
  private readonly self: string;
  private baseCount: number;
  private extraCount = 0;
  private probeOffset = 0;
  private probeStride = 1;
  private probeModulus = 0;
  private probeCursor = 0;

  constructor(self: string, base?: MembershipSnapshot) {
    this.self = self;
    this.base = base;
    this.live = new SampledSet(base?.names);
    if (base?.names.index.has(self)) this.live.delete(self);
    this.failed = new SampledSet();
    this.baseCount = base ? base.names.names.length : 0;
  }

  /** Known members (any state), self included. */
  get size(): number {
    return this.baseCount + this.extraCount;
  }

  /** Live members including self: the N of the protocol's formulas. */
  get liveCount(): number {
    return this.live.size + 1;
  }

  /**
   * The record of `name` for reading only: a base member never changed here is returned as a
   * transient copy that is not kept (so reads do not grow the table). Use get() to change it.
   */
  peek(name: string): Readonly<MemberRecord> | undefined {
    const r = this.records.get(name);
    if (r) return r;
    if (r === null || !this.base) return undefined;
    const i = this.base.names.index.get(name);
    if (i === undefined) return undefined;
    return { name, addr: this.base.addrs[i]!, incarnation: this.base.incarnation, state: 'alive', since: 0, accusedAt: -Infinity };
  }

  /** The record of `name` to change (copied from the shared base on first use), or undefined. */
  get(name: string): MemberRecord | undefined {
    const r = this.records.get(name);
    if (r) return r;
    if (r === null || !this.base) return undefined;
    const i = this.base.names.index.get(name);
    if (i === undefined) return undefined;
    const rec: MemberRecord = {
      name,
      addr: this.base.addrs[i]!,
      incarnation: this.base.incarnation,
      state: 'alive',
      since: 0,
      accusedAt: -Infinity,
    };
    this.records.set(name, rec);
    return rec;
  }

  /** Adds a member not known before. */
  add(rec: MemberRecord): void {
    const inBase = this.base?.names.index.has(rec.name) ?? false;
    const prev = this.records.get(rec.name);
    if (inBase && prev === undefined) {
      // a base member never read before is replaced outright
    } else if (inBase && prev === null) {
      this.baseCount++;
    } else if (!inBase) {
      this.extraCount++;
    }
    this.records.set(rec.name, rec);
    this.index(rec);
  }

  /** Changes a member's state, keeping the indexes in step. */
  setState(rec: MemberRecord, state: MemberStatus, now: number): void {
    if (rec.state !== state) {
      rec.state = state;
      rec.since = now;
    }
    this.index(rec);
  }

  /** Re-indexes after an address change (an address-less member cannot be reconnected). */
  reindex(rec: MemberRecord): void {
    this.index(rec);
  }

  /** Forgets a member entirely. */
  remove(name: string): void {
    const r = this.get(name);
    if (!r) return;
    this.live.delete(name);
    this.failed.delete(name);
    if (this.base?.names.index.has(name)) {
      this.records.set(name, null);
      this.baseCount--;
    } else {
      this.records.delete(name);
      this.extraCount--;
    }
  }

  /** Every record, self included. Base members are visited without being copied. */
  forEach(fn: (rec: Readonly<MemberRecord>) => void): void {
    if (this.base) {
      const { names, addrs, incarnation } = { names: this.base.names.names, addrs: this.base.addrs, incarnation: this.base.incarnation };
      for (let i = 0; i < names.length; i++) {
        const n = names[i]!;
        const r = this.records.get(n);
        if (r === null) continue;
        if (r !== undefined) fn(r);
        else fn({ name: n, addr: addrs[i]!, incarnation, state: 'alive', since: 0, accusedAt: -Infinity });
      }
    }
    for (const r of this.records.values()) {
      if (r && !(this.base?.names.index.has(r.name) ?? false)) fn(r);
    }
  }

  /** The next member to probe, in a per-cycle random permutation of the live set. */
  nextProbeTarget(rng: Rng): string | undefined {
    const slots = this.live.slotCount();
    if (this.live.size === 0 || slots === 0) return undefined;
    for (let attempts = 0; attempts <= slots; attempts++) {
      if (this.probeCursor >= this.probeModulus) this.newProbeCycle(rng, slots);
      const slot = (this.probeOffset + this.probeCursor * this.probeStride) % this.probeModulus;
      this.probeCursor++;
      const name = this.live.at(slot);
      if (name !== undefined) return name;
    }
    return undefined;
  }

  private newProbeCycle(rng: Rng, slots: number): void {
    this.probeModulus = slots;
    this.probeCursor = 0;
    this.probeOffset = rng.int(slots);
    let stride = slots > 1 ? 1 + rng.int(slots - 1) : 1;
    while (gcd(stride, slots) !== 1) stride = (stride % (slots - 1)) + 1;
    this.probeStride = stride;
  }

  private index(rec: MemberRecord): void {
    if (rec.name === this.self) return;
    if (rec.state === 'alive' || rec.state === 'suspect') {
      this.live.add(rec.name);
      this.failed.delete(rec.name);
    } else {
      this.live.delete(rec.name);
      if (rec.state === 'dead' && rec.addr !== '') this.failed.add(rec.name);
      else this.failed.delete(rec.name);
    }
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
