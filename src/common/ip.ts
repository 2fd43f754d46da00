/**
 * IP addresses as text, numbers, 16-bit words, bigints and bytes: shoal's address parser and
 * RFC 5952 formatter, shared by IPAM and the kernel layer so that both write every address
 * the same way.
 *
 * Three layers, each built on the one below:
 * - Allocation-free codecs (parseV4/formatV4 on an unsigned 32-bit number, parseV6/formatV6
 *   on eight 16-bit words in a caller-owned array). IPAM's allocation hot paths call these
 *   millions of times a second, so they avoid regular expressions, splits and temporary
 *   arrays. Strict syntax: dotted quads without leading zeros; IPv6 with '::' and a
 *   trailing dotted IPv4 allowed, no zone index.
 * - Values (parseIpValue/formatIpValue): an address as { family, bigint }, for prefix
 *   arithmetic (nftables intervals, CIDR checks).
 * - Bytes (parseIp, requireIp, ipToBytes, formatIp, canonicalIp and the prefix helpers):
 *   network byte order as netlink carries it, for the kernel layer and its fakes.
 *
 * Value and byte parsers accept exactly the text node:net's isIP accepts, so text that the
 * validators let through always converts; a zone index ('fe80::1%eth0') is accepted and
 * dropped, because no netlink attribute or nftables element has room for it.
 *
 * Canonical text: IPv4 as a dotted quad without leading zeros; IPv6 per RFC 5952 section 4
 * (lowercase, no leading zeros, the longest run of two or more zero groups as '::', the
 * first of equal runs). IPv4-mapped addresses are printed in hex ('::ffff:c000:201'), not in
 * the mixed notation RFC 5952 section 5 recommends: that is the form shoal has always
 * stored and compared, and the one WHATWG URLs serialise to.
 */
import { ShoalError } from './errors.ts';

export type IpFamily = 4 | 6;

// ---------------------------------------------------------------- IPv4, numbers

/**
 * Parses a dotted-quad IPv4 address in s[start, end); returns its unsigned value, or -1 if
 * that range is not exactly an address (leading zeros are refused, as node:net does).
 */
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

/** The unsigned 32-bit value of a dotted-quad IPv4 address, or -1 if s is not one. */
export function parseV4(s: string): number {
  return parseV4Range(s, 0, s.length);
}

/** Dotted-quad text of an unsigned 32-bit value. */
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
 * Parses IPv6 text (with '::' and a trailing dotted IPv4 allowed, no zone index) into
 * out[0..8). Returns false, with out partly written, if the text is not an IPv6 address.
 * Allocation-free.
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

/** Lowercase hex text of a 16-bit word without leading zeros. */
export function hex16(v: number): string {
  return v < 256 ? HEX1[v]! : HEX1[v >>> 8]! + HEX2[v & 255]!;
}

/**
 * RFC 5952 text of eight 16-bit words: lowercase, no leading zeros, the longest run of two
 * or more zero words as '::' (the first one when runs are equal), a lone zero word kept.
 */
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

/** The 128-bit value of eight 16-bit words (most significant first). */
export function wordsToBigint(words: Uint16Array | readonly number[]): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 16n) | BigInt(words[i]!);
  return v;
}

/** Eight 16-bit words of a 128-bit value, written into `out` (a new array by default). */
export function bigintToWords(v: bigint, out: Uint16Array | number[] = new Uint16Array(8)): Uint16Array | number[] {
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return out;
}

// ---------------------------------------------------------------- zone index

/** Characters node:net accepts in an IPv6 zone index ('%eth0', '%1'). */
const ZONE_RE = /^[0-9a-zA-Z.:-]+$/;

/**
 * The position of a well-formed zone index ('%...' as node:net accepts it), s.length if
 * there is none, or -1 if there is a '%' that does not start a valid zone.
 */
function zoneStart(s: string): number {
  const pct = s.indexOf('%');
  if (pct < 0) return s.length;
  return ZONE_RE.test(s.slice(pct + 1)) ? pct : -1;
}

// ---------------------------------------------------------------- values (bigint)

/** An address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpValue {
  readonly family: IpFamily;
  readonly value: bigint;
}

const scratchWords = new Uint16Array(8);

/**
 * Parses either family to its integer value; undefined if node:net's isIP would refuse the
 * text. A zone index is dropped.
 */
export function parseIpValue(text: string): IpValue | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes(':')) {
    const end = zoneStart(text);
    if (end < 0) return undefined;
    const s = end === text.length ? text : text.slice(0, end);
    return parseV6(s, scratchWords) ? { family: 6, value: wordsToBigint(scratchWords) } : undefined;
  }
  const v4 = parseV4(text);
  return v4 < 0 ? undefined : { family: 4, value: BigInt(v4) };
}

/** Canonical text of an address value of the given family. */
export function formatIpValue(family: IpFamily, value: bigint): string {
  return family === 4 ? formatV4(Number(value)) : formatV6(bigintToWords(value, scratchWords));
}

// ---------------------------------------------------------------- bytes (network order)

/** An address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export interface IpBytes {
  readonly family: IpFamily;
  readonly bytes: Buffer;
}

/**
 * Parses either family to bytes; undefined if node:net's isIP would refuse the text. A zone
 * index is dropped. Every call returns a new Buffer the caller may keep or modify.
 */
export function parseIp(text: string): IpBytes | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes(':')) {
    const end = zoneStart(text);
    if (end < 0) return undefined;
    const s = end === text.length ? text : text.slice(0, end);
    if (!parseV6(s, scratchWords)) return undefined;
    const bytes = Buffer.alloc(16);
    for (let i = 0; i < 8; i++) bytes.writeUInt16BE(scratchWords[i]!, i * 2);
    return { family: 6, bytes };
  }
  const v4 = parseV4(text);
  if (v4 < 0) return undefined;
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(v4, 0);
  return { family: 4, bytes };
}

/** Like parseIp, but throws SHOAL_ERR_BAD_ADDRESS; `what` names the value in the message. */
export function requireIp(text: string, what = 'address'): IpBytes {
  const ip = parseIp(text);
  if (!ip)
    throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `${what} ${JSON.stringify(text)} is not an IPv4 or IPv6 address`, {
      details: { address: text },
    });
  return ip;
}

/** The bytes of an address (4 or 16); throws SHOAL_ERR_BAD_ADDRESS. */
export function ipToBytes(text: string, what = 'address'): Buffer {
  return requireIp(text, what).bytes;
}

/**
 * Canonical text of an address in network byte order: 4 bytes as a dotted quad, 16 per
 * RFC 5952. Any other length is not an address and is shown as plain hex, so that an
 * unexpected netlink attribute still prints.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
  for (let i = 0; i < 8; i++) scratchWords[i] = (bytes[i * 2]! << 8) | bytes[i * 2 + 1]!;
  return formatV6(scratchWords);
}

/** The canonical text of an address ('FD00:0::1' -> 'fd00::1'); throws SHOAL_ERR_BAD_ADDRESS. */
export function canonicalIp(text: string, what = 'address'): string {
  return formatIp(requireIp(text, what).bytes);
}

// ---------------------------------------------------------------- prefixes (bytes)

/** The bits of byte i that belong to a prefix of `prefixLen` bits (0x00-0xff). */
function prefixMaskByte(i: number, prefixLen: number): number {
  const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
  return (0xff << (8 - bits)) & 0xff;
}

/** A copy of `bytes` with the bits after the first `prefixLen` cleared (the network address). */
export function networkBytes(bytes: Uint8Array, prefixLen: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! & prefixMaskByte(i, prefixLen);
  return out;
}

/** A copy of `bytes` with the bits after the first `prefixLen` set (the IPv4 broadcast address). */
export function broadcastBytes(bytes: Uint8Array, prefixLen: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! | (~prefixMaskByte(i, prefixLen) & 0xff);
  return out;
}

/** True when both hold the same bytes (so also the same family). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when `addr` lies in the network `net`/`prefixLen` of the same family. `net` must be
 * a network address (host bits clear), as networkBytes returns.
 */
export function inPrefix(addr: Uint8Array, net: Uint8Array, prefixLen: number): boolean {
  if (addr.length !== net.length) return false;
  for (let i = 0; i < addr.length; i++) if ((addr[i]! & prefixMaskByte(i, prefixLen)) !== net[i]) return false;
  return true;
}

/**
 * The prefix length of a netmask in network byte order ('255.255.255.0' as bytes -> 24), or
 * -1 when its one bits are not contiguous from the top.
 */
export function maskToPrefixLen(mask: Uint8Array): number {
  let len = 0;
  let i = 0;
  while (i < mask.length && mask[i] === 0xff) {
    len += 8;
    i++;
  }
  if (i === mask.length) return len;
  const b = mask[i]!;
  const ones = Math.clz32(~(b << 24));
  if (((0xff << (8 - ones)) & 0xff) !== b) return -1;
  for (let k = i + 1; k < mask.length; k++) if (mask[k] !== 0) return -1;
  return len + ones;
}

/** The address of `ADDR/LEN` (or of a bare address, unchanged). */
export function bareIp(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}
