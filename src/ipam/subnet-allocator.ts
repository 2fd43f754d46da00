/**
 * One subnet of a network: its reserved addresses, its dynamic range, the held set and the
 * serial cursor.
 *
 * Addresses map to positions (key, bit) in a SparseBitmap over a "window": the whole subnet
 * when it has at most 2^64 addresses (every IPv4 subnet, IPv6 /64 and smaller), otherwise
 * the 2^64-aligned block holding the start of the dynamic range. Held addresses of a larger
 * IPv6 subnet that fall outside the window (static ones) go into a small `far` set, and
 * dynamic allocation there stays inside the window: 2^64 addresses is plenty.
 *
 * Reserved addresses (network + broadcast for IPv4, the subnet-router anycast address for
 * IPv6, the gateway, aux addresses) are set in the bitmap so the search skips them, and
 * are listed separately so release and status can tell them from held ones.
 *
 * Dynamic allocation is serial: it takes the first free position at or after the cursor,
 * wraps at the end of the range, and moves the cursor past what it took. A just-released
 * address is therefore not handed out again until the range has been walked round.
 */
import { ShoalError } from '../common/errors.ts';
import { cidrContains, formatAddress, formatV4, formatV6, hex16, makeCidr, parseCidr, requireAddress, type Cidr } from './address.ts';
import { ipamError } from './errors.ts';
import { MAX_CHUNK_BITS, SparseBitmap } from './sparse-bitmap.ts';
import type { IpFamily, SubnetInfo, SubnetRequest } from './types.ts';

/** A validated subnet configuration. */
export interface SubnetSpec {
  readonly cidr: Cidr;
  readonly gateway: bigint;
  readonly ipRange: Cidr | undefined;
  /** Aux addresses in the order given. */
  readonly aux: readonly (readonly [name: string, value: bigint])[];
  /** Position in the default carving order; 0 for a subnet the user gave. */
  readonly carveSeq: number;
}

export type ReservedKind = 'gateway' | 'aux' | 'network' | 'broadcast' | 'anycast';

export interface Reserved {
  readonly kind: ReservedKind;
  readonly name: string | undefined;
  readonly value: bigint;
}

/** Smallest usable subnets: room for network/broadcast (or anycast), a gateway and one more. */
const MAX_PREFIX: Record<IpFamily, number> = { 4: 30, 6: 126 };

/** Validates a user subnet request (throws the IPAM error that explains what is wrong). */
export function buildSubnetSpec(req: SubnetRequest, carveSeq = 0): SubnetSpec {
  const cidr = parseCidr(req.subnet, 'subnet');
  if (cidr.prefix > MAX_PREFIX[cidr.family]) {
    throw ipamError(
      'SHOAL_ERR_IPAM_SUBNET_TOO_SMALL',
      `subnet ${cidr.text} is too small: IPv${cidr.family} subnets need a prefix of /${MAX_PREFIX[cidr.family]} or shorter`,
      { subnet: cidr.text },
    );
  }
  const gateway = req.gateway === undefined ? cidr.base + 1n : insideSubnet(cidr, req.gateway, 'gateway');
  let ipRange: Cidr | undefined;
  if (req.ipRange !== undefined) {
    ipRange = parseCidr(req.ipRange, 'ip-range');
    if (!cidrContains(cidr, ipRange)) {
      throw ipamError('SHOAL_ERR_IPAM_OUTSIDE_SUBNET', `ip-range ${ipRange.text} is outside subnet ${cidr.text}`, {
        subnet: cidr.text,
        ipRange: ipRange.text,
      });
    }
  }
  const aux: [string, bigint][] = [];
  const seen = new Map<bigint, string>([[gateway, 'the gateway']]);
  for (const [name, text] of Object.entries(req.auxAddresses ?? {})) {
    if (name.length === 0)
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `aux-address ${text} needs a name (name=ip)`, { subnet: cidr.text });
    const value = insideSubnet(cidr, text, `aux-address ${name}`);
    const other = seen.get(value);
    if (other !== undefined) {
      throw ipamError(
        other === 'the gateway' ? 'SHOAL_ERR_IPAM_ADDRESS_RESERVED' : 'SHOAL_ERR_IPAM_BAD_OPTIONS',
        `aux-address ${name}=${text} is already ${other} of subnet ${cidr.text}`,
        { subnet: cidr.text, name, address: text },
      );
    }
    seen.set(value, `aux-address ${JSON.stringify(name)}`);
    aux.push([name, value]);
  }
  return { cidr, gateway, ipRange, aux, carveSeq };
}

/** An address of the subnet that is not its network/broadcast/anycast address, or throws. */
function insideSubnet(cidr: Cidr, text: string, what: string): bigint {
  const a = requireAddress(text, what);
  if (a.family !== cidr.family || a.value < cidr.base || a.value > cidr.last) {
    throw ipamError('SHOAL_ERR_IPAM_OUTSIDE_SUBNET', `${what} ${text} is outside subnet ${cidr.text}`, {
      subnet: cidr.text,
      address: text,
    });
  }
  const kind: ReservedKind | undefined =
    a.value === cidr.base
      ? cidr.family === 4
        ? 'network'
        : 'anycast'
      : cidr.family === 4 && a.value === cidr.last
        ? 'broadcast'
        : undefined;
  if (kind) {
    throw ipamError('SHOAL_ERR_IPAM_ADDRESS_RESERVED', `${what} ${text} is the ${describeKind(kind)} of subnet ${cidr.text}`, {
      subnet: cidr.text,
      address: text,
    });
  }
  return a.value;
}

export function describeKind(kind: ReservedKind): string {
  switch (kind) {
    case 'network':
      return 'network address';
    case 'broadcast':
      return 'broadcast address';
    case 'anycast':
      return 'subnet-router anycast address';
    case 'gateway':
      return 'gateway';
    case 'aux':
      return 'aux address';
  }
}

/** What a subnet knows of its network. */
export interface SubnetOwner {
  readonly id: string;
  readonly name: string;
}

/** Reserved positions of plain-shaped subnets by family * 1000 + prefix (see constructor). */
const PLAIN_RESERVED = new Map<number, { resPos: number[]; inRange: number }>();
const NO_OWNER: SubnetOwner = Object.freeze({ id: '', name: '' });
const WINDOW_MAX_HOST_BITS = 64;
const EMPTY_FAR: Set<bigint> = new Set();
const NO_WORDS = new Uint16Array(0);
const fmtWords = new Uint16Array(8);
// Module-local aliases for the hot path: the TypeScript loader turns each use of an
// imported binding into a getter call, measurable at millions of calls per second.
const fmt4 = formatV4;
const fmt6 = formatV6;
const hx16 = hex16;
const NO_AUX: SubnetSpec['aux'] = Object.freeze([]);

export class SubnetAllocator {
  readonly spec: SubnetSpec;
  /** The network this subnet belongs to (set by the network; used in messages). */
  owner: SubnetOwner = NO_OWNER;
  readonly family: IpFamily;
  readonly cidr: Cidr;
  private infoCache: SubnetInfo | undefined = undefined;

  // ---- window (see header)
  readonly windowBase: bigint;
  readonly windowHostBits: number;
  readonly chunkBits: number;
  readonly chunkShift: number;
  private bm: SparseBitmap | undefined = undefined;
  /** Held addresses outside the window (absolute values); only for IPv6 subnets above 2^64. */
  readonly far: Set<bigint> = EMPTY_FAR;
  /** IPv4: subnet base and size as numbers. */
  readonly base4: number;
  readonly size4: number;
  /** IPv6: window base words and window netmask words. */
  readonly winWords: Uint16Array = NO_WORDS;
  readonly winMask: Uint16Array = NO_WORDS;

  // ---- dynamic range, in window positions (inclusive), and the serial cursor
  readonly rsKey: number;
  readonly rsBit: number;
  readonly reKey: number;
  readonly reBit: number;
  /** Positions in the range (a power of two, so exact as a double even at 2^64). */
  readonly rangeSize: number;
  curKey: number;
  curBit: number;

  // ---- reserved: network/broadcast (IPv4) or anycast (IPv6), gateway, aux addresses, in
  // that order. Only their window positions are kept (pairs key, bit; key -1 = outside the
  // window); the descriptive Reserved objects are built when an error or status needs one.
  readonly resPos: readonly number[];
  readonly reservedInRange: number;

  // ---- counters
  used = 0;
  usedInRange = 0;

  /** Position found by the last locate/allocate. */
  key = 0;
  bit = 0;
  /** Cursor before the last allocateDynamic (for undo). */
  prevCurKey = 0;
  prevCurBit = 0;

  constructor(spec: SubnetSpec) {
    this.spec = spec;
    const cidr = spec.cidr;
    this.cidr = cidr;
    this.family = cidr.family;
    const hostBits = cidr.bits - cidr.prefix;
    this.windowHostBits = Math.min(hostBits, WINDOW_MAX_HOST_BITS);
    const rangeCidr = spec.ipRange ?? cidr;
    this.windowBase = hostBits <= WINDOW_MAX_HOST_BITS ? cidr.base : (rangeCidr.base >> 64n) << 64n;
    this.chunkBits = Math.min(MAX_CHUNK_BITS, 2 ** this.windowHostBits);
    this.chunkShift = Math.log2(this.chunkBits);
    this.base4 = cidr.family === 4 ? Number(cidr.base) : 0;
    this.size4 = cidr.family === 4 ? 2 ** hostBits : 0;
    if (cidr.family === 6) {
      this.winWords = new Uint16Array(8);
      this.winMask = new Uint16Array(8);
      if (hostBits > WINDOW_MAX_HOST_BITS) this.far = new Set();
      let wb = this.windowBase;
      for (let i = 7; i >= 0; i--) {
        this.winWords[i] = Number(wb & 0xffffn);
        wb >>= 16n;
      }
      const netBits = 128 - this.windowHostBits;
      for (let i = 0; i < 8; i++) {
        const bitsHere = Math.max(0, Math.min(16, netBits - i * 16));
        this.winMask[i] = bitsHere === 0 ? 0 : (0xffff << (16 - bitsHere)) & 0xffff;
      }
    }

    if (cidr.family === 4) {
      const rb = Number(rangeCidr.base);
      const rl = Number(rangeCidr.last);
      this.rangeSize = rl - rb + 1;
      this.locate4(rb);
      this.rsKey = this.key;
      this.rsBit = this.bit;
      this.locate4(rl);
      this.reKey = this.key;
      this.reBit = this.bit;
    } else {
      const windowLast = this.windowBase + (1n << BigInt(this.windowHostBits)) - 1n;
      // biome-ignore lint/complexity/useMathMinMax: bigint, which Math.max does not take
      const rs = rangeCidr.base > this.windowBase ? rangeCidr.base : this.windowBase;
      const re = rangeCidr.last < windowLast ? rangeCidr.last : windowLast;
      this.rangeSize = Number(re - rs + 1n);
      this.positionOf(rs);
      this.rsKey = this.key;
      this.rsBit = this.bit;
      this.positionOf(re);
      this.reKey = this.key;
      this.reBit = this.bit;
    }
    this.curKey = this.rsKey;
    this.curBit = this.rsBit;

    // Subnets of the plain shape (default gateway, no range, no aux: every carved one)
    // share one frozen position list per family and prefix length.
    const plain = spec.aux.length === 0 && spec.ipRange === undefined && spec.gateway === cidr.base + 1n && this.windowBase === cidr.base;
    const shared = plain ? PLAIN_RESERVED.get(cidr.family * 1000 + cidr.prefix) : undefined;
    if (shared) {
      this.resPos = shared.resPos;
      this.reservedInRange = shared.inRange;
      return;
    }
    const fixed = cidr.family === 4 ? 3 : 2;
    const n = fixed + spec.aux.length;
    const resPos = new Array<number>(2 * n);
    let inRange = 0;
    for (let i = 0; i < n; i++) {
      if (this.positionOf(this.reservedValue(i))) {
        resPos[2 * i] = this.key;
        resPos[2 * i + 1] = this.bit;
        if (this.inRange(this.key, this.bit)) inRange++;
      } else {
        resPos[2 * i] = -1;
        resPos[2 * i + 1] = -1;
      }
    }
    this.resPos = resPos;
    this.reservedInRange = inRange;
    if (plain) PLAIN_RESERVED.set(cidr.family * 1000 + cidr.prefix, { resPos: Object.freeze(resPos) as number[], inRange });
  }

  /**
   * The held set, with the reserved positions set in it. Built on first use: creating
   * 65,536 networks should not cost 65,536 bitmaps before any of them hands out an address.
   */
  get bitmap(): SparseBitmap {
    let bm = this.bm;
    if (bm === undefined) {
      bm = new SparseBitmap(this.chunkBits, this.windowHostBits <= this.chunkShift);
      const p = this.resPos;
      for (let i = 0; i < p.length; i += 2) if (p[i]! >= 0) bm.set(p[i]!, p[i + 1]!);
      this.bm = bm;
    }
    return bm;
  }

  get reservedCount(): number {
    return this.resPos.length >>> 1;
  }

  /** Address value of reservation i (see resPos). */
  private reservedValue(i: number): bigint {
    const spec = this.spec;
    if (i === 0) return spec.cidr.base;
    if (this.family === 4) {
      if (i === 1) return spec.cidr.last;
      if (i === 2) return spec.gateway;
      return spec.aux[i - 3]![1];
    }
    if (i === 1) return spec.gateway;
    return spec.aux[i - 2]![1];
  }

  private reservedEntry(i: number): Reserved {
    const fixed = this.family === 4 ? 3 : 2;
    const value = this.reservedValue(i);
    if (i >= fixed) return { kind: 'aux', name: this.spec.aux[i - fixed]![0], value };
    if (i === fixed - 1) return { kind: 'gateway', name: undefined, value };
    return { kind: i === 0 ? (this.family === 4 ? 'network' : 'anycast') : 'broadcast', name: undefined, value };
  }

  /** The subnet as configured (built on first use: most of 65,536 networks never need it). */
  get info(): SubnetInfo {
    if (this.infoCache === undefined) {
      const spec = this.spec;
      const auxAddresses: Record<string, string> = {};
      for (const [name, value] of spec.aux) auxAddresses[name] = formatAddress(this.family, value);
      this.infoCache = Object.freeze({
        subnet: spec.cidr.text,
        family: this.family,
        gateway: formatAddress(this.family, spec.gateway),
        ipRange: spec.ipRange?.text,
        auxAddresses: Object.freeze(auxAddresses),
        fromDefaultPool: spec.carveSeq > 0,
      });
    }
    return this.infoCache;
  }

  // ---------------------------------------------------------------- positions

  /** Slow path: sets key/bit for an absolute address value; false if outside the window. */
  positionOf(value: bigint): boolean {
    if (this.family === 4) return value >= this.cidr.base && value <= this.cidr.last && this.locate4(Number(value));
    const off = value - this.windowBase;
    if (off < 0n || off >> BigInt(this.windowHostBits) !== 0n) return false;
    this.key = Number(off >> BigInt(this.chunkShift));
    this.bit = Number(off & BigInt(this.chunkBits - 1));
    return true;
  }

  /** Absolute value of a window position. */
  valueOf(key: number, bit: number): bigint {
    return this.windowBase + (BigInt(key) << BigInt(this.chunkShift)) + BigInt(bit);
  }

  /** Window offset of a position (for the durable form). */
  offsetOf(key: number, bit: number): bigint {
    return (BigInt(key) << BigInt(this.chunkShift)) + BigInt(bit);
  }

  /** IPv4 fast path: sets key/bit; false if the address is outside this subnet. */
  locate4(a: number): boolean {
    const off = a - this.base4;
    if (off < 0 || off >= this.size4) return false;
    this.key = Math.floor(off / this.chunkBits);
    this.bit = off & (this.chunkBits - 1);
    return true;
  }

  /**
   * IPv6 fast path: 1 = in the window (key/bit set), 2 = in the subnet but outside the
   * window (use the bigint value), 0 = outside the subnet.
   */
  locate6(w: Uint16Array): 0 | 1 | 2 {
    const m = this.winMask;
    const b = this.winWords;
    if (
      (w[0]! & m[0]!) === b[0] &&
      (w[1]! & m[1]!) === b[1] &&
      (w[2]! & m[2]!) === b[2] &&
      (w[3]! & m[3]!) === b[3] &&
      (w[4]! & m[4]!) === b[4] &&
      (w[5]! & m[5]!) === b[5] &&
      (w[6]! & m[6]!) === b[6] &&
      (w[7]! & m[7]!) === b[7]
    ) {
      const o7 = w[7]! & ~m[7]!;
      if (this.chunkBits === MAX_CHUNK_BITS) {
        this.key =
          (w[4]! & ~m[4]! & 0xffff) * 68719476736 + (w[5]! & ~m[5]! & 0xffff) * 1048576 + (w[6]! & ~m[6]! & 0xffff) * 16 + (o7 >>> 12);
        this.bit = o7 & 4095;
      } else {
        this.key = 0;
        this.bit = o7;
      }
      return 1;
    }
    if (this.windowHostBits === this.cidr.bits - this.cidr.prefix) return 0;
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 16n) | BigInt(w[i]!);
    return v >= this.cidr.base && v <= this.cidr.last ? 2 : 0;
  }

  // IPv6 text cache: the text of everything before the last word, for the words 4-6 last
  // seen. Serial allocation changes only the last word for 65,536 addresses in a row, and
  // when that word is not zero the address text is this head plus its hex.
  private headW4 = -1;
  private headW5 = -1;
  private headW6 = -1;
  private head = '';

  /** Text of a window position. */
  format(key: number, bit: number): string {
    if (this.family === 4) return fmt4(this.base4 + key * this.chunkBits + bit);
    const o = fmtWords;
    o.set(this.winWords);
    if (this.chunkBits === MAX_CHUNK_BITS) {
      o[4]! |= Math.floor(key / 68719476736) & 0xffff;
      o[5]! |= Math.floor(key / 1048576) & 0xffff;
      o[6]! |= Math.floor(key / 16) & 0xffff;
      o[7]! |= ((key & 15) << 12) | bit;
    } else {
      o[7]! |= bit;
    }
    const w7 = o[7]!;
    if (w7 === 0) return fmt6(o);
    if (o[4] === this.headW4 && o[5] === this.headW5 && o[6] === this.headW6) return this.head + hx16(w7);
    const text = fmt6(o);
    // A non-zero last word is never compressed, so the text ends with its hex.
    this.head = text.slice(0, text.length - hx16(w7).length);
    this.headW4 = o[4]!;
    this.headW5 = o[5]!;
    this.headW6 = o[6]!;
    return text;
  }

  inRange(key: number, bit: number): boolean {
    return (
      (key > this.rsKey || (key === this.rsKey && bit >= this.rsBit)) && (key < this.reKey || (key === this.reKey && bit <= this.reBit))
    );
  }

  /** The reservation at a window position, if any. */
  reservedAt(key: number, bit: number): Reserved | undefined {
    const p = this.resPos;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] === key && p[i + 1] === bit) return this.reservedEntry(i >>> 1);
    }
    return undefined;
  }

  /** The reservation at an address outside the window, if any. */
  reservedFarAt(value: bigint): Reserved | undefined {
    const p = this.resPos;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] === -1 && this.reservedValue(i >>> 1) === value) return this.reservedEntry(i >>> 1);
    }
    return undefined;
  }

  /** True when the position is set in the bitmap and is not a reserved one. */
  isHeld(key: number, bit: number): boolean {
    return this.bitmap.has(key, bit) && this.reservedAt(key, bit) === undefined;
  }

  // ---------------------------------------------------------------- allocation

  /** Addresses dynamic allocation can still hand out (exact below 2^53). */
  get dynamicFree(): number {
    return this.rangeSize - this.reservedInRange - this.usedInRange;
  }

  /** Serial dynamic allocation; sets key/bit and moves the cursor. false when the range is full. */
  allocateDynamic(): boolean {
    if (this.rangeSize - this.reservedInRange - this.usedInRange <= 0) return false;
    const bm = this.bitmap;
    if (
      !bm.findClear(this.curKey, this.curBit, this.reKey, this.reBit) &&
      !bm.findClear(this.rsKey, this.rsBit, this.curKey, this.curBit)
    ) {
      return false;
    }
    const k = bm.foundKey;
    const b = bm.foundBit;
    bm.set(k, b);
    this.used++;
    this.usedInRange++;
    this.prevCurKey = this.curKey;
    this.prevCurBit = this.curBit;
    if (k === this.reKey && b === this.reBit) {
      this.curKey = this.rsKey;
      this.curBit = this.rsBit;
    } else if (b + 1 === this.chunkBits) {
      this.curKey = k + 1;
      this.curBit = 0;
    } else {
      this.curKey = k;
      this.curBit = b + 1;
    }
    this.key = k;
    this.bit = b;
    return true;
  }

  /** Undoes an allocateDynamic exactly (address and cursor). */
  undoDynamic(key: number, bit: number, prevCurKey: number, prevCurBit: number): void {
    this.releaseAt(key, bit);
    this.curKey = prevCurKey;
    this.curBit = prevCurBit;
  }

  /** Marks a non-reserved window position held; false if it already was. */
  claimAt(key: number, bit: number): boolean {
    if (!this.bitmap.set(key, bit)) return false;
    this.used++;
    if (this.inRange(key, bit)) this.usedInRange++;
    return true;
  }

  /** Frees a non-reserved window position; false if it was not held. */
  releaseAt(key: number, bit: number): boolean {
    if (!this.bitmap.clear(key, bit)) return false;
    this.used--;
    if (this.inRange(key, bit)) this.usedInRange--;
    return true;
  }

  claimFar(value: bigint): boolean {
    if (this.far === EMPTY_FAR) throw new ShoalError('SHOAL_ERR_INTERNAL', `subnet ${this.cidr.text} has no addresses outside its window`);
    if (this.far.has(value)) return false;
    this.far.add(value);
    this.used++;
    return true;
  }

  releaseFar(value: bigint): boolean {
    if (!this.far.delete(value)) return false;
    this.used--;
    return true;
  }

  /** Held window positions in ascending order. */
  *heldPositions(): Generator<[number, number]> {
    const words = Math.max(1, this.chunkBits >>> 5);
    for (const key of this.bitmap.sortedKeys()) {
      const data = this.bitmap.chunkWords(key)!;
      for (let w = 0; w < words; w++) {
        let x = data[w]!;
        while (x !== 0) {
          const low = x & -x;
          const bit = (w << 5) + (31 - Math.clz32(low));
          x ^= low;
          if (this.reservedAt(key, bit) === undefined) yield [key, bit];
        }
      }
    }
  }

  /** Usable addresses of the dynamic range (for messages), exact. */
  get dynamicUsableBig(): bigint {
    return BigInt(this.rangeSize) - BigInt(this.reservedInRange);
  }
}

/** The spec of a subnet carved from a default pool: gateway at the first host address. */
export function carvedSubnetSpec(family: IpFamily, base: bigint, prefix: number, carveSeq: number): SubnetSpec {
  const cidr = makeCidr(family, base, prefix);
  return { cidr, gateway: base + 1n, ipRange: undefined, aux: NO_AUX, carveSeq };
}
