/**
 * IPv4/IPv6 address and CIDR text: parsing, canonical formatting, containment.
 *
 * Two representations, chosen by cost: the allocation hot path parses and formats through
 * allocation-free helpers (IPv4 as an unsigned 32-bit number, IPv6 as eight 16-bit words
 * in a caller-owned array); everything else (CIDRs, carving, overlap checks, messages) uses
 * bigint values, which are simple and exact at any width. Canonical text: dotted quad
 * without leading zeros; IPv6 per RFC 5952 (lowercase, longest zero run as '::').
 */
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

// ---------------------------------------------------------------- IPv4, numbers

/** Parses dotted-quad IPv4 in s[start, end); returns the unsigned value or -1. No leading zeros. */
export function parseV4Range(s: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < 4) {
    let octet = 0;
    let digits = 0;
    const first = i;
    while (i < end) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

export function parseV4(s: string): number {
  return parseV4Range(s, 0, s.length);
}

export function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

// ---------------------------------------------------------------- IPv6, 16-bit words

/** Value of each ASCII hex digit, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[97 + i] = 10 + i;
  HEX_VALUE[65 + i] = 10 + i;
}

function hexDigit(c: number): number {
  return c < 128 ? HEX_VALUE[c]! : -1;
}

/**
 * Parses IPv6 text (with '::' and a trailing dotted IPv4 allowed, no zone) into out[0..8).
 * Returns false if the text is not an IPv6 address. Allocation-free.
 */
export function parseV6(s: string, out: Uint16Array | number[]): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let i = 0;
  let w = 0;
  let gap = -1;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    i = 2;
    gap = 0;
  }
  while (i < n) {
    if (w >= 8) return false;
    const start = i;
    let v = 0;
    let d = 0;
    while (i < n) {
      const h = hexDigit(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      d++;
      i++;
      if (d > 4) return false;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      if (w > 6) return false;
      const v4 = parseV4Range(s, start, n);
      if (v4 < 0) return false;
      out[w++] = v4 >>> 16;
      out[w++] = v4 & 0xffff;
      i = n;
      break;
    }
    if (d === 0) return false;
    out[w++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = w;
      i++;
    } else if (i === n) {
      return false;
    }
  }
  if (gap < 0) return w === 8;
  if (w >= 8) return false;
  const tail = w - gap;
  for (let k = tail - 1; k >= 0; k--) out[8 - tail + k] = out[gap + k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/** Hex text of every byte, without and with a leading zero: two lookups per 16-bit word. */
const HEX1: string[] = [];
const HEX2: string[] = [];
for (let i = 0; i < 256; i++) {
  HEX1.push(i.toString(16));
  HEX2.push(i.toString(16).padStart(2, '0'));
}

/** Hex text of a 16-bit word without leading zeros. */
export function hex16(v: number): string {
  return v < 256 ? HEX1[v]! : HEX1[v >>> 8]! + HEX2[v & 255]!;
}

/** RFC 5952 text of eight 16-bit words (lowercase, no leading zeros, longest zero run as '::'). */
export function formatV6(words: Uint16Array | readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) {
    return `${hex16(words[0]!)}:${hex16(words[1]!)}:${hex16(words[2]!)}:${hex16(words[3]!)}:${hex16(words[4]!)}:${hex16(words[5]!)}:${hex16(words[6]!)}:${hex16(words[7]!)}`;
  }
  let out = '';
  for (let i = 0; i < bestStart; i++) out += i > 0 ? `:${hex16(words[i]!)}` : hex16(words[i]!);
  out += '::';
  const after = bestStart + bestLen;
  for (let i = after; i < 8; i++) out += i > after ? `:${hex16(words[i]!)}` : hex16(words[i]!);
  return out;
}

export function wordsToBigint(words: Uint16Array | readonly number[]): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 16n) | BigInt(words[i]!);
  return v;
}

export function bigintToWords(v: bigint, out: Uint16Array | number[] = new Uint16Array(8)): Uint16Array | number[] {
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return out;
}

// ---------------------------------------------------------------- generic (bigint)

const scratchWords = new Uint16Array(8);

/** Parses an address of either family; undefined if it is neither. */
export function parseAddress(text: string): { family: IpFamily; value: bigint } | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes(':')) {
    return parseV6(text, scratchWords) ? { family: 6, value: wordsToBigint(scratchWords) } : undefined;
  }
  const v4 = parseV4(text);
  return v4 < 0 ? undefined : { family: 4, value: BigInt(v4) };
}

export function formatAddress(family: IpFamily, value: bigint): string {
  return family === 4 ? formatV4(Number(value)) : formatV6(bigintToWords(value, scratchWords));
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
  return ipamError('SHOAL_ERR_IPAM_BAD_CIDR', `${what} ${JSON.stringify(text)} is not a valid CIDR (want address/prefix, e.g. 10.1.0.0/16 or fd00:1::/64)`, { cidr: text });
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
    throw ipamError('SHOAL_ERR_IPAM_HOST_BITS_SET', `${what} ${text} has host bits set (did you mean ${suggestion}?)`, { cidr: text, suggestion });
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
