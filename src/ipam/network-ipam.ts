/**
 * The IPAM of one network: its subnets (SubnetAllocator each) and the API the manager
 * calls to hand out and take back addresses. Strings in, strings out; the parse and
 * format helpers used here allocate nothing but the returned string.
 *
 * Every change is recorded in the owning address space's journal when a transaction is
 * open, as a closure that undoes exactly that change (see AddressSpace.transaction).
 */
import type { ShoalError } from '../common/errors.ts';
import { formatAddress, parseV4, parseV6, requireAddress } from './address.ts';
import { encodeNetwork } from './durable-form.ts';
import { ipamError } from './errors.ts';
import { describeKind, type Reserved, type SubnetAllocator } from './subnet-allocator.ts';
import type {
  AddressCounts,
  AddressStatus,
  EndpointAddresses,
  IpFamily,
  NetworkIpam,
  NetworkUsage,
  SubnetInfo,
  SubnetUsage,
} from './types.ts';

/** What a network needs from its address space. */
export interface NetworkHost {
  /** Undo log of the open transaction, or null. */
  journal: (() => void)[] | null;
}

const scratch6 = new Uint16Array(8);
// Module-local aliases for the hot path (see subnet-allocator.ts).
const parse4 = parseV4;
const parse6 = parseV6;
const NONE: readonly SubnetAllocator[] = Object.freeze([]);

export class Network implements NetworkIpam {
  readonly id: string;
  readonly name: string;
  private subnetsCache: readonly SubnetInfo[] | undefined = undefined;
  readonly allocators: readonly SubnetAllocator[];
  private readonly v4: readonly SubnetAllocator[];
  private readonly v6: readonly SubnetAllocator[];
  private readonly host: NetworkHost;
  live = true;

  constructor(id: string, name: string, allocators: readonly SubnetAllocator[], host: NetworkHost) {
    this.id = id;
    this.name = name;
    this.allocators = allocators;
    for (const s of allocators) s.owner = this;
    const mixed = allocators.some((s) => s.family !== allocators[0]!.family);
    this.v4 = mixed ? allocators.filter((s) => s.family === 4) : allocators[0]!.family === 4 ? allocators : NONE;
    this.v6 = mixed ? allocators.filter((s) => s.family === 6) : allocators[0]!.family === 6 ? allocators : NONE;
    this.host = host;
  }

  get subnets(): readonly SubnetInfo[] {
    return (this.subnetsCache ??= Object.freeze(this.allocators.map((s) => s.info)));
  }

  hasFamily(family: IpFamily): boolean {
    return (family === 4 ? this.v4 : this.v6).length > 0;
  }

  private familyList(family: IpFamily | undefined): readonly SubnetAllocator[] {
    const fam = family ?? (this.v4.length > 0 ? 4 : 6);
    const list = fam === 4 ? this.v4 : this.v6;
    if (list.length === 0) {
      throw ipamError('SHOAL_ERR_IPAM_NO_SUBNET', `network "${this.name}" has no IPv${fam} subnet`, {
        network: this.name,
        networkId: this.id,
        family: fam,
      });
    }
    return list;
  }

  gateway(family?: IpFamily): string {
    return this.familyList(family)[0]!.info.gateway;
  }

  private requireLive(): void {
    if (!this.live) {
      throw ipamError('SHOAL_ERR_IPAM_NETWORK_NOT_FOUND', `network "${this.name}" was removed`, { network: this.name, networkId: this.id });
    }
  }

  /** Dynamic allocation in a family; returns the subnet with key/bit set to the address. */
  private dynamic(family: IpFamily | undefined): SubnetAllocator {
    const list = this.familyList(family);
    this.requireLive();
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.allocateDynamic()) {
        const j = this.host.journal;
        if (j !== null) {
          const k = s.key;
          const b = s.bit;
          const pk = s.prevCurKey;
          const pb = s.prevCurBit;
          j.push(() => s.undoDynamic(k, b, pk, pb));
        }
        return s;
      }
    }
    throw this.exhausted(list);
  }

  private exhausted(list: readonly SubnetAllocator[]): ShoalError {
    let usable = 0n;
    for (const s of list) usable += s.dynamicUsableBig;
    const family = list[0]!.family;
    const subnets = list.map((s) => (s.spec.ipRange ? `${s.cidr.text} range ${s.spec.ipRange.text}` : s.cidr.text));
    const what = this.v4.length > 0 && this.v6.length > 0 ? `IPv${family} address` : 'address';
    return ipamError(
      'SHOAL_ERR_IPAM_EXHAUSTED',
      `network "${this.name}" (${subnets.join(', ')}, ${usable} usable addresses) has no free ${what}; free some or use a network with a larger subnet`,
      { network: this.name, networkId: this.id, family, subnets: list.map((s) => s.cidr.text), usable: usable.toString() },
    );
  }

  allocate(family?: IpFamily): string {
    const s = this.dynamic(family);
    return s.format(s.key, s.bit);
  }

  allocateEndpoint(): EndpointAddresses {
    this.requireLive();
    let ipv4: string | undefined;
    let s4: SubnetAllocator | undefined;
    let k = 0;
    let b = 0;
    let pk = 0;
    let pb = 0;
    if (this.v4.length > 0) {
      s4 = this.dynamic(4);
      ipv4 = s4.format(s4.key, s4.bit);
      k = s4.key;
      b = s4.bit;
      pk = s4.prevCurKey;
      pb = s4.prevCurBit;
    }
    let ipv6: string | undefined;
    if (this.v6.length > 0) {
      try {
        const s = this.dynamic(6);
        ipv6 = s.format(s.key, s.bit);
      } catch (err) {
        // All or nothing: give the IPv4 address back, cursor included.
        if (s4) {
          s4.undoDynamic(k, b, pk, pb);
          this.host.journal?.pop();
        }
        throw err;
      }
    }
    return { ipv4, ipv6 };
  }

  /** Set by locate: the address value when it lies outside its subnet's window. */
  private locFar: bigint | undefined = undefined;

  /**
   * Finds the subnet holding an address: returns it with key/bit set (locFar undefined),
   * or with locFar = the address value when outside the window; undefined when the
   * address is in no subnet. Throws for text that is not an address. Allocation-free on
   * the common path.
   */
  private locate(address: string, verb: string): SubnetAllocator | undefined {
    this.locFar = undefined;
    if (typeof address === 'string' && address.indexOf(':') < 0) {
      const a = parse4(address);
      if (a >= 0) {
        const list = this.v4;
        for (let i = 0; i < list.length; i++) {
          const s = list[i]!;
          if (s.locate4(a)) return s;
        }
        return undefined;
      }
    } else if (typeof address === 'string' && parse6(address, scratch6)) {
      const list = this.v6;
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        const r = s.locate6(scratch6);
        if (r === 1) return s;
        if (r === 2) {
          this.locFar = requireAddress(address).value;
          return s;
        }
      }
      return undefined;
    }
    requireAddress(address, `address to ${verb}`);
    return undefined;
  }

  private outside(address: string): ShoalError {
    return ipamError(
      'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
      `address ${address} is outside network "${this.name}" (${this.allocators.map((s) => s.cidr.text).join(', ')})`,
      { network: this.name, networkId: this.id, address },
    );
  }

  private reservedError(address: string, r: Reserved, action: string): ShoalError {
    const what = r.kind === 'aux' ? `aux address ${JSON.stringify(r.name)}` : `the ${describeKind(r.kind)}`;
    return ipamError('SHOAL_ERR_IPAM_ADDRESS_RESERVED', `address ${address} is ${what} of network "${this.name}" and cannot be ${action}`, {
      network: this.name,
      networkId: this.id,
      address,
      reserved: r.kind,
    });
  }

  allocateStatic(address: string): string {
    const s = this.locate(address, 'assign');
    if (!s) throw this.outside(address);
    const far = this.locFar;
    this.requireLive();
    let text: string;
    if (far === undefined) {
      const k = s.key;
      const b = s.bit;
      const r = s.reservedAt(k, b);
      text = s.format(k, b);
      if (r) throw this.reservedError(text, r, 'assigned');
      if (!s.claimAt(k, b)) throw this.inUse(text);
      this.host.journal?.push(() => s.releaseAt(k, b));
    } else {
      const r = s.reservedFarAt(far);
      text = formatAddress(s.family, far);
      if (r) throw this.reservedError(text, r, 'assigned');
      if (!s.claimFar(far)) throw this.inUse(text);
      this.host.journal?.push(() => s.releaseFar(far));
    }
    return text;
  }

  private inUse(address: string): ShoalError {
    return ipamError('SHOAL_ERR_IPAM_ADDRESS_IN_USE', `address ${address} is already in use on network "${this.name}"`, {
      network: this.name,
      networkId: this.id,
      address,
    });
  }

  release(address: string): boolean {
    if (!this.live) return false;
    const s = this.locate(address, 'release');
    if (!s) throw this.outside(address);
    const far = this.locFar;
    if (far === undefined) {
      const k = s.key;
      const b = s.bit;
      const r = s.reservedAt(k, b);
      if (r) throw this.reservedError(address, r, 'released');
      if (!s.releaseAt(k, b)) return false;
      const j = this.host.journal;
      if (j !== null) j.push(() => s.claimAt(k, b));
      return true;
    }
    const r = s.reservedFarAt(far);
    if (r) throw this.reservedError(address, r, 'released');
    if (!s.releaseFar(far)) return false;
    this.host.journal?.push(() => s.claimFar(far));
    return true;
  }

  status(address: string): AddressStatus {
    const s = this.locate(address, 'look up');
    if (!s) return 'outside';
    const far = this.locFar;
    if (far === undefined) {
      const r = s.reservedAt(s.key, s.bit);
      if (r) return r.kind;
      return s.bitmap.has(s.key, s.bit) ? 'allocated' : 'free';
    }
    const r = s.reservedFarAt(far);
    if (r) return r.kind;
    return s.far.has(far) ? 'allocated' : 'free';
  }

  subnetOf(address: string): SubnetInfo | undefined {
    return this.locate(address, 'look up')?.info;
  }

  *allocatedAddresses(): IterableIterator<string> {
    for (const s of this.allocators) {
      const farBelow = [...s.far].filter((v) => v < s.windowBase).sort((a, b) => (a < b ? -1 : 1));
      const farAbove = [...s.far].filter((v) => v > s.windowBase).sort((a, b) => (a < b ? -1 : 1));
      for (const v of farBelow) yield formatAddress(s.family, v);
      for (const [k, b] of s.heldPositions()) yield s.format(k, b);
      for (const v of farAbove) yield formatAddress(s.family, v);
    }
  }

  usage(): NetworkUsage {
    const subnets: SubnetUsage[] = this.allocators.map((s) => {
      const size = Number(s.cidr.size);
      const reserved = s.reservedCount;
      return {
        subnet: s.cidr.text,
        family: s.family,
        size,
        reserved,
        used: s.used,
        free: size - reserved - s.used,
        dynamicFree: s.dynamicFree,
      };
    });
    const total = (family: IpFamily): AddressCounts | undefined => {
      const list = subnets.filter((u) => u.family === family);
      if (list.length === 0) return undefined;
      const t: AddressCounts = { size: 0, reserved: 0, used: 0, free: 0, dynamicFree: 0 };
      for (const u of list) {
        t.size += u.size;
        t.reserved += u.reserved;
        t.used += u.used;
        t.free += u.free;
        t.dynamicFree += u.dynamicFree;
      }
      return t;
    };
    return { id: this.id, name: this.name, subnets, ipv4: total(4), ipv6: total(6) };
  }

  serialize(): string {
    return encodeNetwork(this);
  }
}
