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
import { inPrefix, networkBytes, parseIp } from '../../common/ip.ts';
import type { IpamConfig } from '../../api/api-types.ts';
import { UsageError } from './usage-error.ts';

export interface IpamFlags {
  readonly subnets: readonly string[];
  readonly gateways: readonly string[];
  readonly ipRanges: readonly string[];
  /** name -> address */
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/** A subnet as its network address (host bits cleared) and prefix length. */
interface Cidr {
  readonly net: Buffer;
  readonly prefix: number;
}

function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > ip.bytes.length * 8) return undefined;
  return { net: networkBytes(ip.bytes, prefix), prefix };
}

/** True when `ip` lies in `c` (addresses of the other family never do). */
function contains(c: Cidr, ip: Uint8Array): boolean {
  return inPrefix(ip, c.net, c.prefix);
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return a.prefix <= b.prefix ? contains(a, b.net) : contains(b, a.net);
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
  const owner = (what: string, value: string, ip: Uint8Array | undefined): IpamConfig => {
    const idx = ip ? cidrs.findIndex((c) => contains(c, ip)) : -1;
    if (idx < 0) throw new UsageError(`no matching subnet for ${what} ${value}`, { [what]: value });
    return configs[idx] as IpamConfig;
  };
  for (const r of flags.ipRanges) {
    const range = parseCidr(r);
    const cfg = owner('range', r, range?.net);
    if (cfg.ipRange !== undefined)
      throw new UsageError(`cannot configure multiple ranges (${cfg.ipRange}, ${r}) on the same subnet (${cfg.subnet})`);
    cfg.ipRange = r;
  }
  for (const g of flags.gateways) {
    const cfg = owner('gateway', g, parseIp(g)?.bytes);
    if (cfg.gateway !== undefined)
      throw new UsageError(`cannot configure multiple gateways (${cfg.gateway}, ${g}) for the same subnet (${cfg.subnet})`);
    cfg.gateway = g;
  }
  for (const [name, addr] of aux) {
    owner('aux-address', `${name}=${addr}`, parseIp(addr)?.bytes).auxAddresses[name] = addr;
  }
  return configs;
}
