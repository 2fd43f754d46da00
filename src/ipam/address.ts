/**
 * IPv4/IPv6 address and CIDR text: parsing, canonical formatting, containment.
 *
 * Two representations, chosen by cost: the allocation hot path parses and formats through
 * allocation-free helpers (IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit words
 * in a caller-owned array); everything else (CIDRs, carving, overlap checks, messages) uses
 * bigint values, which are simple and exact at any width. Canonical text: dotted quad
 * without leading zeros; IPv6 per RFC 5952 (lowercase, longest zero run as '::').
 *
 * The codecs themselves are shoal's one implementation in src/common/ip.ts (the kernel
 * layer formats netlink addresses with the same code); this module re-exports them under
 * IPAM's names and adds IPAM's policy: no zone index, CIDRs with host bits clear.
 */
import { formatIpValue as formatAddress, parseIpValue } from '../common/ip.ts';
import { ipamError } from './errors.ts';
import type { IpFamily } from './types.ts';

/** A parsed CIDR (also used for single addresses' containing blocks). */
export interface Cidr {
  readonly family: IpFamily;
  readonly bits: 32 | 128;
  readonly prefix: number;
  /** First address (network address). */
  readonly base: bigint;
  /** Last address (IPv4 broadcast). */
  readonly last: bigint;
  /** Number of addresses: 2^(bits - prefix). */
  readonly size: bigint;
  /** Canonical text ('10.0.0.0/24', 'fd00::/64'). */
  readonly text: string;
}

// ---------------------------------------------------------------- codecs

// The codecs are shoal's shared ones (src/common/ip.ts), under the names IPAM's modules use.
export {
  bigintToWords,
  formatIpValue as formatAddress,
  formatV4,
  formatV6,
  hex16,
  parseV4,
  parseV4Range,
  parseV6,
  wordsToBigint,
} from '../common/ip.ts';

// ---------------------------------------------------------------- generic (bigint)

/**
 * Parses an address of either family; undefined if it is neither. Stricter than
 * parseIpValue: a zone index ('fe80::1%eth0') is refused, since an IPAM address belongs to
 * a network, not to an interface.
 */
export function parseAddress(text: string): { family: IpFamily; value: bigint } | undefined {
  if (typeof text !== 'string' || text.includes('%')) return undefined;
  return parseIpValue(text);
}

/** Parses an address or throws SHOAL_ERR_IPAM_BAD_ADDRESS; `what` names it in the message. */
export function requireAddress(text: string, what = 'address'): { family: IpFamily; value: bigint } {
  const parsed = parseAddress(text);
  if (!parsed) {
    throw ipamError('SHOAL_ERR_IPAM_BAD_ADDRESS', `${what} ${JSON.stringify(text)} is not an IPv4 or IPv6 address`, { address: text });
  }
  return parsed;
}

/** The canonical text of an address ('FD00:0::1' -> 'fd00::1'); throws SHOAL_ERR_IPAM_BAD_ADDRESS. */
export function canonicalAddress(text: string): string {
  const a = requireAddress(text);
  return formatAddress(a.family, a.value);
}

/** A Cidr whose text and size are built on first use (carving 65,536 networks needs neither). */
class CidrValue implements Cidr {
  readonly family: IpFamily;
  readonly prefix: number;
  readonly base: bigint;
  readonly last: bigint;
  private textCache: string | undefined = undefined;

  constructor(family: IpFamily, base: bigint, prefix: number) {
    this.family = family;
    this.prefix = prefix;
    this.base = base;
    this.last = base + (1n << BigInt((family === 4 ? 32 : 128) - prefix)) - 1n;
  }

  get bits(): 32 | 128 {
    return this.family === 4 ? 32 : 128;
  }

  get size(): bigint {
    return this.last - this.base + 1n;
  }

  get text(): string {
    return (this.textCache ??= `${formatAddress(this.family, this.base)}/${this.prefix}`);
  }
}

export function makeCidr(family: IpFamily, base: bigint, prefix: number): Cidr {
  return new CidrValue(family, base, prefix);
}

/**
 * Parses a CIDR. Throws SHOAL_ERR_IPAM_BAD_CIDR for bad syntax and
 * SHOAL_ERR_IPAM_HOST_BITS_SET when bits after the prefix are set. `what` names it.
 */
function badCidr(text: string, what: string): Error {
  return ipamError(
    'SHOAL_ERR_IPAM_BAD_CIDR',
    `${what} ${JSON.stringify(text)} is not a valid CIDR (want address/prefix, e.g. 10.1.0.0/16 or fd00:1::/64)`,
    { cidr: text },
  );
}

export function parseCidr(text: string, what = 'subnet'): Cidr {
  if (typeof text !== 'string') throw badCidr(text, what);
  const slash = text.indexOf('/');
  if (slash < 0) throw badCidr(text, what);
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) throw badCidr(text, what);
  const addr = parseAddress(text.slice(0, slash));
  if (!addr) throw badCidr(text, what);
  const prefix = Number(prefixText);
  const bits = addr.family === 4 ? 32 : 128;
  if (prefix > bits) throw badCidr(text, what);
  const hostBits = BigInt(bits - prefix);
  const base = (addr.value >> hostBits) << hostBits;
  if (base !== addr.value) {
    const suggestion = `${formatAddress(addr.family, base)}/${prefix}`;
    throw ipamError('SHOAL_ERR_IPAM_HOST_BITS_SET', `${what} ${text} has host bits set (did you mean ${suggestion}?)`, {
      cidr: text,
      suggestion,
    });
  }
  return makeCidr(addr.family, base, prefix);
}

/** The canonical text of a CIDR; throws like parseCidr. */
export function canonicalCidr(text: string): string {
  return parseCidr(text).text;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.base >= outer.base && inner.last <= outer.last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= b.last && b.base <= a.last;
}
