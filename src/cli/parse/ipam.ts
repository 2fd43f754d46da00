/**
 * Builds a network's subnet list from `network create`'s flags, as Docker's CLI does:
 * --subnet (repeatable) names the subnets, and each --gateway, --ip-range and --aux-address
 * belongs to the subnet that contains it.
 *
 * With a single subnet everything is attached to it without checking containment: the
 * manager validates the whole spec (bad CIDR, host bits, gateway or range outside the
 * subnet) and says precisely what is wrong. With several subnets the CLI must decide which
 * subnet each value belongs to, so it refuses what it cannot place, in Docker's words.
 */
import { isIP } from 'node:net';
import type { IpamConfig } from '../../manager/api-types.ts';
import { UsageError } from './usage-error.ts';

export interface IpamFlags {
  readonly subnets: readonly string[];
  readonly gateways: readonly string[];
  readonly ipRanges: readonly string[];
  /** name -> address */
  readonly auxAddresses: Readonly<Record<string, string>>;
}

interface Cidr {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

function ipBits(ip: string): { family: 4 | 6; bits: bigint } | undefined {
  const family = isIP(ip);
  if (family === 4) {
    return { family: 4, bits: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  }
  if (family === 6) {
    let text = ip;
    // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
      const n = ipBits(v4[1] as string)?.bits ?? 0n;
      text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head = '', tail] = text.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === undefined || tail === '' ? [] : tail.split(':');
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return { family: 6, bits: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  return undefined;
}

function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = ipBits(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const width = ip.family === 4 ? 32 : 128;
  if (prefix > width) return undefined;
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - prefix)) - 1n);
  return { family: ip.family, base: ip.bits & mask, prefix };
}

function contains(c: Cidr, ip: { family: 4 | 6; bits: bigint }): boolean {
  if (c.family !== ip.family) return false;
  const width = c.family === 4 ? 32 : 128;
  return ip.bits >> BigInt(width - c.prefix) === c.base >> BigInt(width - c.prefix);
}

function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefix <= b.prefix ? contains(a, { family: b.family, bits: b.base }) : contains(b, { family: a.family, bits: a.base });
}

/** The IPAM configs of a network spec from the flags; throws a UsageError naming what cannot be placed. */
export function buildIpamConfigs(flags: IpamFlags): IpamConfig[] {
  const aux = Object.entries(flags.auxAddresses);
  if (flags.subnets.length === 0) {
    if (flags.gateways.length > 0 || flags.ipRanges.length > 0 || aux.length > 0) {
      throw new UsageError('every ip-range, gateway or aux-address must have a corresponding subnet (give --subnet)');
    }
    return [];
  }
  if (flags.subnets.length < flags.gateways.length || flags.subnets.length < flags.ipRanges.length) {
    throw new UsageError('every ip-range or gateway must have a corresponding subnet');
  }
  const configs: IpamConfig[] = flags.subnets.map((subnet) => ({ subnet, auxAddresses: {} }));
  if (configs.length === 1) {
    const only = configs[0] as IpamConfig;
    if (flags.gateways[0] !== undefined) only.gateway = flags.gateways[0];
    if (flags.ipRanges[0] !== undefined) only.ipRange = flags.ipRanges[0];
    only.auxAddresses = Object.fromEntries(aux);
    return configs;
  }
  const cidrs = flags.subnets.map((s) => {
    const c = parseCidr(s);
    if (!c) throw new UsageError(`invalid subnet ${JSON.stringify(s)}: not an IPv4 or IPv6 CIDR`, { subnet: s });
    return c;
  });
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = i + 1; j < cidrs.length; j++) {
      if (overlaps(cidrs[i] as Cidr, cidrs[j] as Cidr)) {
        throw new UsageError(`multiple overlapping subnet configuration is not allowed (${flags.subnets[i]} and ${flags.subnets[j]})`);
      }
    }
  }
  const owner = (what: string, value: string, ip: { family: 4 | 6; bits: bigint } | undefined): IpamConfig => {
    const idx = ip ? cidrs.findIndex((c) => contains(c, ip)) : -1;
    if (idx < 0) throw new UsageError(`no matching subnet for ${what} ${value}`, { [what]: value });
    return configs[idx] as IpamConfig;
  };
  for (const r of flags.ipRanges) {
    const range = parseCidr(r);
    const cfg = owner('range', r, range ? { family: range.family, bits: range.base } : undefined);
    if (cfg.ipRange !== undefined) throw new UsageError(`cannot configure multiple ranges (${cfg.ipRange}, ${r}) on the same subnet (${cfg.subnet})`);
    cfg.ipRange = r;
  }
  for (const g of flags.gateways) {
    const cfg = owner('gateway', g, ipBits(g));
    if (cfg.gateway !== undefined) throw new UsageError(`cannot configure multiple gateways (${cfg.gateway}, ${g}) for the same subnet (${cfg.subnet})`);
    cfg.gateway = g;
  }
  for (const [name, addr] of aux) {
    owner('aux-address', `${name}=${addr}`, ipBits(addr)).auxAddresses[name] = addr;
  }
  return configs;
}
