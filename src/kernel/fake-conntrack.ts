/**
 * FakeConntrack: a namespace's connection-tracking table in memory. Tests add flows, the
 * code under test deletes them through the Conntrack interface, and the test reads what is
 * left. Matching follows the conntrack tool (checked by test/kernel/conntrack.test.ts):
 * an entry has an original and a reply tuple; delete by original destination matches the
 * original tuple's dst (and dport), delete by reply source matches the reply tuple's src
 * (and sport) and, given origDst, the original tuple's dst too; protocol and family
 * narrow both; unreplied keeps to entries that never saw a reply. Addresses compare in canonical form, so `fd00:0::1` and `fd00::1` are the
 * same address.
 */
import { ShoalError } from '../common/errors.ts';
import { canonicalIp } from '../common/ip.ts';
import { type ConntrackDeleteFilter, validateConntrackFilter } from './conntrack.ts';
import type { Conntrack, ConntrackDeletion } from './types.ts';
import { validateIp } from './validate.ts';

export interface ConntrackTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

export interface ConntrackEntry {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  orig: ConntrackTuple;
  /** The reply direction; after DNAT its src is the backend, not the original dst. */
  reply: ConntrackTuple;
  /** A packet went the reply way (the kernel's IPS_SEEN_REPLY); false: [UNREPLIED]. */
  replied: boolean;
}

/** What a test adds: the reply tuple defaults to the mirror of the original (no NAT). */
export interface ConntrackEntrySpec {
  protocol: 'tcp' | 'udp';
  orig: ConntrackTuple;
  reply?: ConntrackTuple;
  /** Default true: an answered flow. */
  replied?: boolean;
}

function canonicalTuple(t: ConntrackTuple): ConntrackTuple {
  return { src: canonicalIp(t.src), dst: canonicalIp(t.dst), sport: t.sport, dport: t.dport };
}

/** One line per entry, in the conntrack tool's field order. */
export function conntrackEntryText(e: ConntrackEntry): string {
  const t = (x: ConntrackTuple): string => `src=${x.src} dst=${x.dst} sport=${x.sport} dport=${x.dport}`;
  return `${e.protocol} ${t(e.orig)} ${t(e.reply)}`;
}

export class FakeConntrack implements Conntrack {
  readonly #entries: ConntrackEntry[] = [];
  /** Every delete call made, in order, for tests that check what was asked. */
  readonly deletes: Array<{ direction: 'orig-dst' | 'reply-src'; address: string; filter: ConntrackDeleteFilter; deleted: number }> = [];

  /** Adds a flow. Like the kernel, one original tuple identifies one entry: a duplicate is refused. */
  add(spec: ConntrackEntrySpec): ConntrackEntry {
    const family = validateIp(spec.orig.src);
    for (const t of [spec.orig, spec.reply]) {
      if (t === undefined) continue;
      for (const port of [t.sport, t.dport]) {
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `conntrack port ${port} is out of range 0-65535`);
      }
    }
    for (const a of [spec.orig.dst, spec.reply?.src, spec.reply?.dst]) {
      if (a !== undefined && validateIp(a) !== family)
        throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `conntrack entry mixes IPv4 and IPv6 (${a})`);
    }
    const orig = canonicalTuple(spec.orig);
    const reply = canonicalTuple(spec.reply ?? { src: spec.orig.dst, dst: spec.orig.src, sport: spec.orig.dport, dport: spec.orig.sport });
    const entry: ConntrackEntry = { protocol: spec.protocol, family, orig, reply, replied: spec.replied ?? true };
    // The kernel hashes both directions: a second entry with either tuple equal clashes.
    const same = (x: ConntrackTuple, y: ConntrackTuple): boolean =>
      x.src === y.src && x.dst === y.dst && x.sport === y.sport && x.dport === y.dport;
    if (this.#entries.some((e) => e.protocol === entry.protocol && (same(e.orig, orig) || same(e.reply, reply)))) {
      throw new ShoalError('SHOAL_ERR_ALREADY_EXISTS', `conntrack entry ${conntrackEntryText(entry)} exists`, { errno: 'EEXIST' });
    }
    this.#entries.push(entry);
    return entry;
  }

  /** The entries, in insertion order (copies). */
  list(): ConntrackEntry[] {
    return this.#entries.map((e) => ({ ...e, orig: { ...e.orig }, reply: { ...e.reply } }));
  }

  /** Sorted one-line-per-entry dump. */
  dump(): string {
    return this.#entries.map(conntrackEntryText).sort().join('\n');
  }

  async deleteByOrigDst(address: string, filter: ConntrackDeleteFilter = {}): Promise<number> {
    return this.#delete('orig-dst', address, filter);
  }

  async deleteByReplySrc(address: string, filter: ConntrackDeleteFilter = {}): Promise<number> {
    return this.#delete('reply-src', address, filter);
  }

  /** One pass for the batch: each entry goes to the first deletion that matches it (as in order, one by one). */
  async deleteMatching(deletions: readonly ConntrackDeletion[]): Promise<number[]> {
    for (const d of deletions) validateConntrackFilter(d.address, d.filter ?? {}, d.direction);
    return deletions.map((d) => this.#delete(d.direction, d.address, d.filter ?? {}));
  }

  #delete(direction: 'orig-dst' | 'reply-src', address: string, filter: ConntrackDeleteFilter): number {
    validateConntrackFilter(address, filter, direction);
    const addr = canonicalIp(address);
    const origDst = filter.origDst === undefined ? undefined : canonicalIp(filter.origDst);
    let deleted = 0;
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const e = this.#entries[i]!;
      if (filter.protocol !== undefined && e.protocol !== filter.protocol) continue;
      const [a, port] = direction === 'orig-dst' ? [e.orig.dst, e.orig.dport] : [e.reply.src, e.reply.sport];
      if (a !== addr) continue;
      if (filter.port !== undefined && port !== filter.port) continue;
      if (origDst !== undefined && e.orig.dst !== origDst) continue;
      if (filter.unreplied && e.replied) continue;
      this.#entries.splice(i, 1);
      deleted++;
    }
    this.deletes.push({ direction, address, filter: { ...filter }, deleted });
    return deleted;
  }
}
