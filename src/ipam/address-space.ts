/**
 * The cluster's address space: every network's subnets (no two may overlap), the default
 * pools that subnets are carved from, and transactions that undo IPAM changes when the
 * store write that goes with them fails.
 *
 * Carving. A network created without a subnet of some family takes the first free subnet
 * (default /24 for IPv4, /64 for IPv6) after the subnet of the most recently carved
 * network that still exists, scanning the pools in order and wrapping round; the ingress
 * range (carveExclude) is never carved. With defaults the first network gets 10.0.0.0/24,
 * the next 10.0.1.0/24, and a removed network's subnet is not handed out again at once
 * (unless it was the newest carved one: then the carving continues after the network
 * carved before it). "Most recently carved" is a sequence number stored in each carved
 * subnet's durable form, so the carving position is derived from the stored networks
 * alone and restores exactly: the live behaviour and the restored one follow the same
 * rule, also after the newest network has been removed. No cursor is stored anywhere.
 *
 * Overlap checks use one IntervalSet per family (binary search, see interval-set.ts).
 */
import { cidrsOverlap, parseCidr, type Cidr } from './address.ts';
import { parseAddressSpaceConfig, type ParsedConfig } from './config.ts';
import { decodeNetworkAllocators } from './durable-form.ts';
import { ipamError } from './errors.ts';
import { IntervalSet } from './interval-set.ts';
import { Network, type NetworkHost } from './network-ipam.ts';
import { buildSubnetSpec, carvedSubnetSpec, SubnetAllocator, type SubnetSpec } from './subnet-allocator.ts';
import type {
  AddressSpace,
  AddressSpaceConfig,
  AddressSpaceConfigInput,
  IpFamily,
  NetworkIpam,
  NetworkRequest,
  OverlapInfo,
  StoredNetwork,
} from './types.ts';

/**
 * Interval set items and carve order entries are the SubnetAllocators themselves (their
 * `owner` names the network): no extra object per subnet.
 */
type CarveEntry = SubnetAllocator;

/** A family's default pools, prepared for carving. */
interface CarvePools {
  readonly pools: readonly Cidr[];
  readonly mask: number;
  /** Addresses per carved subnet. */
  readonly step: bigint;
  /** Carved subnets per pool. */
  readonly counts: readonly bigint[];
  readonly exclude: readonly Cidr[];
  cachedTop: CarveEntry | undefined;
  cachedStart: [number, bigint];
}

function compareCarve(a: CarveEntry, b: CarveEntry): number {
  const ab = a.cidr.base;
  const bb = b.cidr.base;
  return a.spec.carveSeq - b.spec.carveSeq || (ab < bb ? -1 : ab > bb ? 1 : 0);
}

/** Carved subnets of one family ordered by carve sequence; the last is the newest. */
class CarveOrder {
  entries: CarveEntry[] = [];

  top(): CarveEntry | undefined {
    return this.entries[this.entries.length - 1];
  }

  nextSeq(): number {
    return (this.top()?.spec.carveSeq ?? 0) + 1;
  }

  private lowerBound(e: CarveEntry): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCarve(this.entries[mid]!, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(e: CarveEntry): void {
    const top = this.top();
    if (top === undefined || compareCarve(top, e) < 0) {
      this.entries.push(e); // a new carving is always the newest
      return;
    }
    const i = this.lowerBound(e);
    if (i === this.entries.length) this.entries.push(e);
    else this.entries.splice(i, 0, e);
  }

  remove(e: CarveEntry): void {
    for (let i = this.lowerBound(e); i < this.entries.length && compareCarve(this.entries[i]!, e) === 0; i++) {
      if (this.entries[i] === e) {
        this.entries.splice(i, 1);
        return;
      }
    }
  }
}

class Space implements AddressSpace, NetworkHost {
  readonly config: AddressSpaceConfig;
  journal: (() => void)[] | null = null;
  private readonly byId = new Map<string, Network>();
  private readonly taken: Record<IpFamily, IntervalSet<SubnetAllocator>> = { 4: new IntervalSet(), 6: new IntervalSet() };
  private readonly carved: Record<IpFamily, CarveOrder> = { 4: new CarveOrder(), 6: new CarveOrder() };

  private readonly carvePools: Record<IpFamily, CarvePools>;

  constructor(parsed: ParsedConfig) {
    this.config = parsed.config;
    const make = (family: IpFamily, pools: readonly Cidr[], mask: number): CarvePools => {
      const step = 1n << BigInt((family === 4 ? 32 : 128) - mask);
      return {
        pools,
        mask,
        step,
        counts: pools.map((p) => p.size / step),
        exclude: parsed.exclude.filter((x) => x.family === family),
        cachedTop: undefined,
        cachedStart: [0, 0n],
      };
    };
    this.carvePools = {
      4: make(4, parsed.v4Pools, parsed.config.defaultAddrPoolMaskLength),
      6: make(6, [parsed.v6Pool], parsed.config.defaultIpv6PoolMaskLength),
    };
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): NetworkIpam | undefined {
    return this.byId.get(id);
  }

  require(id: string): NetworkIpam {
    const net = this.byId.get(id);
    if (!net)
      throw ipamError('SHOAL_ERR_IPAM_NETWORK_NOT_FOUND', `no network with ID ${JSON.stringify(id)} in the address space`, {
        networkId: id,
      });
    return net;
  }

  networks(): IterableIterator<NetworkIpam> {
    return this.byId.values();
  }

  findOverlap(cidr: string): OverlapInfo | undefined {
    const c = parseCidr(cidr, 'subnet');
    const hit = this.taken[c.family].findOverlap(c.base, c.last);
    return hit ? { networkId: hit.item.owner.id, networkName: hit.item.owner.name, subnet: hit.item.cidr.text } : undefined;
  }

  createNetwork(request: NetworkRequest): NetworkIpam {
    const { id, name } = request;
    if (typeof id !== 'string' || id.length === 0)
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', 'a network needs a non-empty ID', { networkId: id });
    if (typeof name !== 'string') throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `network ${id} needs a name`, { networkId: id });
    const existing = this.byId.get(id);
    if (existing) {
      throw ipamError('SHOAL_ERR_IPAM_NETWORK_EXISTS', `network ID ${id} is already taken by network "${existing.name}"`, {
        networkId: id,
        network: existing.name,
      });
    }
    const specs: SubnetSpec[] = (request.subnets ?? []).map((r) => buildSubnetSpec(r));
    const hasV4 = specs.some((s) => s.cidr.family === 4);
    const hasV6 = specs.some((s) => s.cidr.family === 6);
    const ipv4 = request.ipv4 ?? true;
    const ipv6 = request.ipv6 ?? hasV6;
    if (!ipv4 && hasV4)
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `network "${name}" has IPv4 disabled but an IPv4 subnet was given`, { network: name });
    if (!ipv6 && hasV6)
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `network "${name}" has IPv6 disabled but an IPv6 subnet was given`, { network: name });
    if (!ipv4 && !ipv6) throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `network "${name}" needs IPv4 or IPv6`, { network: name });

    for (let i = 0; i < specs.length; i++) {
      const a = specs[i]!.cidr;
      for (let j = i + 1; j < specs.length; j++) {
        const b = specs[j]!.cidr;
        if (cidrsOverlap(a, b)) {
          throw ipamError('SHOAL_ERR_IPAM_OVERLAP', `subnet ${b.text} overlaps ${a.text} of the same network "${name}"`, {
            network: name,
            subnet: b.text,
            otherSubnet: a.text,
          });
        }
      }
      const hit = this.taken[a.family].findOverlap(a.base, a.last);
      if (hit) {
        const other = hit.item;
        throw ipamError('SHOAL_ERR_IPAM_OVERLAP', `subnet ${a.text} overlaps ${other.cidr.text} of network "${other.owner.name}"`, {
          network: name,
          subnet: a.text,
          otherNetwork: other.owner.name,
          otherNetworkId: other.owner.id,
          otherSubnet: other.cidr.text,
        });
      }
    }
    if (ipv4 && !hasV4) specs.push(this.carve(4));
    if (ipv6 && !hasV6) specs.push(this.carve(6));

    const net = new Network(
      id,
      name,
      specs.map((s) => new SubnetAllocator(s)),
      this,
    );
    this.attach(net);
    this.journal?.push(() => this.detach(net));
    return net;
  }

  removeNetwork(id: string): boolean {
    const net = this.byId.get(id);
    if (!net) return false;
    this.detach(net);
    this.journal?.push(() => this.attach(net));
    return true;
  }

  transaction<T>(fn: () => T): T {
    const outer = this.journal;
    const log = outer ?? [];
    const mark = log.length;
    if (outer === null) this.journal = log;
    try {
      return fn();
    } catch (err) {
      for (let i = log.length - 1; i >= mark; i--) log[i]!();
      log.length = mark;
      throw err;
    } finally {
      if (outer === null) this.journal = null;
    }
  }

  serializeAll(): StoredNetwork[] {
    return [...this.byId.values()].map((n) => ({ id: n.id, name: n.name, state: n.serialize() }));
  }

  // ---------------------------------------------------------------- internals

  attach(net: Network): void {
    this.byId.set(net.id, net);
    for (const s of net.allocators) {
      this.taken[s.family].insert(s.cidr.base, s.cidr.last, s);
      if (s.spec.carveSeq > 0) this.carved[s.family].insert(s);
    }
    net.live = true;
  }

  private detach(net: Network): void {
    this.byId.delete(net.id);
    for (const s of net.allocators) {
      this.taken[s.family].remove(s.cidr.base);
      if (s.spec.carveSeq > 0) this.carved[s.family].remove(s);
    }
    net.live = false;
  }

  /** Bulk load used by restore: networks already checked against each other, subnets sorted. */
  load(nets: readonly Network[], sorted: Record<IpFamily, SubnetAllocator[]>): void {
    for (const net of nets) this.byId.set(net.id, net);
    for (const family of [4, 6] as const) {
      const carved = this.carved[family].entries;
      for (const s of sorted[family]) {
        this.taken[family].insert(s.cidr.base, s.cidr.last, s); // in order: appends
        if (s.spec.carveSeq > 0) carved.push(s);
      }
      carved.sort(compareCarve);
    }
  }

  /** Where the carving of a family starts: just after the newest carved subnet still present. */
  private carveStart(c: CarvePools, top: CarveEntry | undefined): [number, bigint] {
    if (!top) return [0, 0n];
    const pools = c.pools;
    const base = top.cidr.base;
    const p = pools.findIndex((pool) => base >= pool.base && base <= pool.last);
    if (p < 0) return [0, 0n];
    const i = (base - pools[p]!.base) / c.step + 1n;
    return i < c.counts[p]! ? [p, i] : [(p + 1) % pools.length, 0n];
  }

  /** The next subnet the default carving gives (not yet attached), or POOL_EXHAUSTED. */
  private carve(family: IpFamily): SubnetSpec {
    const c = this.carvePools[family];
    const { pools, mask, step, exclude } = c;
    const order = this.carved[family];
    const top = order.top();
    // The start only changes when the newest carved network does: remember it.
    if (c.cachedTop !== top) {
      c.cachedTop = top;
      c.cachedStart = this.carveStart(c, top);
    }
    const [p0, i0] = c.cachedStart;
    const taken = this.taken[family];
    const n = pools.length;
    for (let k = 0; k <= n; k++) {
      const p = (p0 + k) % n;
      const pool = pools[p]!;
      const lo = k === 0 ? i0 : 0n;
      const hi = k === n ? i0 : c.counts[p]!;
      let i = lo;
      while (i < hi) {
        const cs = pool.base + i * step;
        const ce = cs + step - 1n;
        let blockEnd: bigint | undefined;
        for (const x of exclude) {
          if (x.base <= ce && x.last >= cs) {
            blockEnd = x.last;
            break;
          }
        }
        if (blockEnd === undefined) blockEnd = taken.findOverlap(cs, ce)?.end;
        if (blockEnd === undefined) return carvedSubnetSpec(family, cs, mask, order.nextSeq());
        const next = (blockEnd - pool.base) / step + 1n;
        i = next > i ? next : i + 1n;
      }
    }
    const poolText = pools.map((c) => c.text).join(', ');
    throw ipamError(
      'SHOAL_ERR_IPAM_POOL_EXHAUSTED',
      family === 4
        ? `no free /${mask} subnet left in the default address pools (${poolText}); remove unused networks, give --subnet, or configure more pools (--default-addr-pool) or a longer mask (--default-addr-pool-mask-length)`
        : `no free /${mask} subnet left in the default IPv6 pool (${poolText}); remove unused networks or give an IPv6 --subnet`,
      { family, pools: pools.map((c) => c.text), mask },
    );
  }
}

/** A new, empty address space. Throws SHOAL_ERR_INVALID_CONFIG listing every problem. */
export function createAddressSpace(config: AddressSpaceConfigInput = {}): AddressSpace {
  return new Space(parseAddressSpaceConfig(config));
}

/**
 * Rebuilds an address space from every stored network (any order) and the config.
 * Throws SHOAL_ERR_IPAM_BAD_STATE listing every unreadable network, duplicate ID or
 * overlap between stored networks; nothing is returned half-built.
 */
export function restoreAddressSpace(config: AddressSpaceConfigInput | undefined, stored: Iterable<StoredNetwork>): AddressSpace {
  const space = new Space(parseAddressSpaceConfig(config ?? {}));
  const problems: string[] = [];
  const nets: Network[] = [];
  const ids = new Set<string>();
  for (const row of stored) {
    if (ids.has(row.id)) {
      problems.push(`network ID ${row.id} is stored twice`);
      continue;
    }
    ids.add(row.id);
    try {
      nets.push(new Network(row.id, row.name, decodeNetworkAllocators(row.id, row.name, row.state), space));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const sorted: Record<IpFamily, SubnetAllocator[]> = { 4: [], 6: [] };
  for (const net of nets) for (const s of net.allocators) sorted[s.family].push(s);
  sorted[4].sort((a, b) => a.base4 - b.base4 || a.cidr.prefix - b.cidr.prefix);
  sorted[6].sort((a, b) => (a.cidr.base < b.cidr.base ? -1 : a.cidr.base > b.cidr.base ? 1 : a.cidr.prefix - b.cidr.prefix));
  for (const family of [4, 6] as const) {
    let widest: SubnetAllocator | undefined;
    for (const s of sorted[family]) {
      if (widest && s.cidr.base <= widest.cidr.last) {
        problems.push(`subnet ${s.cidr.text} of network "${s.owner.name}" overlaps ${widest.cidr.text} of network "${widest.owner.name}"`);
      }
      if (!widest || s.cidr.last > widest.cidr.last) widest = s;
    }
  }
  if (problems.length > 0) {
    throw ipamError('SHOAL_ERR_IPAM_BAD_STATE', `stored IPAM state is inconsistent: ${problems.join('; ')}`, { problems });
  }
  space.load(nets, sorted);
  return space;
}
