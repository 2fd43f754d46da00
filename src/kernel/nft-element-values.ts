/**
 * Element values of nft sets and maps as FakeNft reads them: the key and data types of the
 * subset (`type` names and the `typeof` expressions shoal writes) and the parsing of one
 * element into the JSON value `nft -j` prints for it, so dumps of the fake and of the kernel
 * compare. What is modelled, each checked against nft 1.0.6:
 *   - ipv4_addr, ipv6_addr: printed in canonical form (RFC 5952 for IPv6); IPv4 with a
 *     leading zero in an octet and IPv6 with an embedded IPv4 part are refused; in an
 *     interval set a prefix (host bits masked away, as nft does) or a range, printed back as
 *     an address, a prefix or a range, whichever is exact;
 *   - inet_proto: a number or a name nft knows, printed as the name when it has one;
 *   - inet_service: port numbers only (service names are outside the subset);
 *   - mark, integer: decimal or 0x hex, 32 bits;
 *   - ether_addr: six hex octets, printed in lower case; ifname: 1 to 15 characters;
 *   - verdict (map data only): accept, drop, continue, return, jump/goto CHAIN, the chain
 *     having to exist;
 *   - concatenations `a . b` of any of these but verdict.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatIpValue, parseIpValue } from '../common/ip.ts';
import { ParseError, type Token } from './nft-script.ts';

/** A value that is not of its type; the fake reports it with the element it is part of. */
export class ElementValueError extends Error {}

const PROTO_NAMES: Record<number, string> = {
  1: 'icmp',
  2: 'igmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'ipv6-icmp',
  132: 'sctp',
  136: 'udplite',
};
const PROTO_NUMBERS: Record<string, number> = {
  ...Object.fromEntries(Object.entries(PROTO_NAMES).map(([n, name]) => [name, Number(n)])),
  icmpv6: 58,
};

/** The `type` names of the subset (`integer` only through `typeof numgen ...`). */
export const ELEMENT_TYPES: ReadonlySet<string> = new Set([
  'ipv4_addr',
  'ipv6_addr',
  'inet_proto',
  'inet_service',
  'mark',
  'integer',
  'ether_addr',
  'ifname',
  'verdict',
]);

/** One parsed element key or data: its JSON as nft prints it, and its span in an interval set. */
export interface ParsedValue {
  json: unknown;
  interval?: [bigint, bigint];
}

/** Chains a verdict may jump to (only `has` is asked). */
export interface ChainNames {
  has(name: string): boolean;
}

/**
 * Parses one element component of `type`. Throws ElementValueError on a bad value, and
 * ParseError (ENOENT) on a jump to a chain that does not exist.
 */
function parseValue(type: string, words: string[], interval: boolean, chains: ChainNames | undefined): ParsedValue & { chainRef?: string } {
  const bad = (why: string): never => {
    throw new ElementValueError(`${JSON.stringify(words.join(' '))} is not a valid ${type}${why ? `: ${why}` : ''}`);
  };
  if (type === 'verdict') {
    const [v, target] = words;
    if (words.length === 1 && (v === 'accept' || v === 'drop' || v === 'continue' || v === 'return')) return { json: { [v]: null } };
    if (words.length === 2 && (v === 'jump' || v === 'goto') && target !== undefined) {
      if (!chains?.has(target)) throw new ParseError(0, `chain ${target} does not exist: No such file or directory`, 'ENOENT');
      return { json: { [v]: { target } }, chainRef: target };
    }
    return bad('');
  }
  if (words.length !== 1) return bad('');
  const w = words[0]!;
  switch (type) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const v4 = type === 'ipv4_addr';
      const bits = v4 ? 32n : 128n;
      const isAddr = (s: string): boolean => (v4 ? isIPv4(s) && !/(^|\.)0\d/.test(s) : isIPv6(s) && !s.includes('.'));
      const toBig = (s: string): bigint => parseIpValue(s)!.value; // s passed isAddr
      const toText = (n: bigint): string => formatIpValue(v4 ? 4 : 6, n); // RFC 5952, as nft prints
      const slash = w.indexOf('/');
      const dash = v4 ? w.indexOf('-') : w.indexOf('-');
      if (slash >= 0 || dash >= 0) {
        if (!interval) bad('prefixes and ranges need a set with flags interval');
        let lo: bigint;
        let hi: bigint;
        if (slash >= 0) {
          const addr = w.slice(0, slash);
          const lenText = w.slice(slash + 1);
          if (!isAddr(addr) || !/^\d{1,3}$/.test(lenText) || BigInt(lenText) > bits) bad('');
          const len = BigInt(lenText);
          const hostMask = (1n << (bits - len)) - 1n;
          lo = toBig(addr) & ~hostMask; // nft masks host bits away
          hi = lo | hostMask;
        } else {
          const a = w.slice(0, dash);
          const b = w.slice(dash + 1);
          if (!isAddr(a) || !isAddr(b)) bad('');
          lo = toBig(a);
          hi = toBig(b);
          if (lo > hi) bad('range start is after its end');
        }
        return { json: intervalJson(lo, hi, bits, toText), interval: [lo, hi] };
      }
      if (!isAddr(w)) bad('');
      const n = toBig(w);
      return interval ? { json: toText(n), interval: [n, n] } : { json: toText(n) };
    }
    case 'inet_proto': {
      if (/^\d+$/.test(w)) {
        const n = Number(w);
        if (n > 255) bad('protocol out of range');
        return { json: PROTO_NAMES[n] ?? n };
      }
      const n = PROTO_NUMBERS[w];
      if (n === undefined) bad('unknown protocol name (the fake knows a few; use a number)');
      return { json: PROTO_NAMES[n!]! };
    }
    case 'inet_service': {
      if (!/^\d+$/.test(w) || Number(w) > 65535) bad('ports are numbers 0-65535 (service names are outside the subset)');
      return { json: Number(w) };
    }
    case 'mark':
    case 'integer': {
      const n = /^0x[0-9a-f]+$/i.test(w) ? Number.parseInt(w, 16) : /^\d+$/.test(w) ? Number(w) : NaN;
      if (!Number.isSafeInteger(n) || n > 0xffffffff) bad('');
      return { json: n };
    }
    case 'ether_addr': {
      if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(w)) bad('');
      return { json: w.toLowerCase() };
    }
    case 'ifname':
      if (w.length === 0 || w.length > 15) bad('');
      return { json: w };
    default:
      return bad('unknown type');
  }
}

function intervalJson(lo: bigint, hi: bigint, bits: bigint, toText: (n: bigint) => string): unknown {
  if (lo === hi) return toText(lo);
  const size = hi - lo + 1n;
  if ((size & (size - 1n)) === 0n && (lo & (size - 1n)) === 0n) {
    let len = bits;
    for (let s = size; s > 1n; s >>= 1n) len--;
    return { prefix: { addr: toText(lo), len: Number(len) } };
  }
  return { range: [toText(lo), toText(hi)] };
}

/** typeof expressions shoal uses, and the type each stands for. */
export function typeofType(words: string[]): string | undefined {
  const [a, b] = words;
  if (a === 'numgen') return /^numgen (inc|random) mod \d+( offset \d+)?$/.test(words.join(' ')) ? 'integer' : undefined;
  if (words.length !== 2) return undefined;
  const e = `${a} ${b}`;
  if (e === 'ip saddr' || e === 'ip daddr') return 'ipv4_addr';
  if (e === 'ip6 saddr' || e === 'ip6 daddr') return 'ipv6_addr';
  if (e === 'meta l4proto' || e === 'ip protocol' || e === 'ip6 nexthdr') return 'inet_proto';
  if (/^(th|tcp|udp|sctp) (sport|dport)$/.test(e)) return 'inet_service';
  if (e === 'meta mark' || e === 'ct mark') return 'mark';
  if (e === 'meta iifname' || e === 'meta oifname') return 'ifname';
  if (e === 'ether saddr' || e === 'ether daddr') return 'ether_addr';
  return undefined;
}

/**
 * Parses an element key or data (`10.0.0.1 . tcp . 80`) of the types `types`. `interval`:
 * the set has `flags interval`; `chains`: what a verdict may jump to (map data only).
 * Throws ElementValueError or ParseError as parseValue does.
 */
export function parseElementValue(
  types: readonly string[],
  tokens: readonly Token[],
  interval: boolean,
  chains: ChainNames | undefined,
): ParsedValue & { chainRef?: string } {
  const parts: string[][] = [[]];
  for (const t of tokens) {
    if (t.kind === 'word' && t.text === '.') parts.push([]);
    else parts[parts.length - 1]!.push(t.text);
  }
  if (parts.length !== types.length)
    throw new ElementValueError(`has ${parts.length} part(s) where the type ${types.join(' . ')} has ${types.length}`);
  const values = parts.map((p, k) => parseValue(types[k]!, p, interval, chains));
  if (values.length === 1) return values[0]!;
  return { json: { concat: values.map((v) => v.json) } };
}
