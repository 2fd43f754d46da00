/**
 * Address space configuration: defaults in one table, validation that reports every
 * problem at once, frozen result. Field docs live on AddressSpaceConfig (types.ts).
 */
import { ShoalError } from '../common/errors.ts';
import { cidrsOverlap, parseCidr, type Cidr } from './address.ts';
import type { AddressSpaceConfig, AddressSpaceConfigInput, NetworkRequest } from './types.ts';

/** Docker's global-scope default pool. */
export const DEFAULT_IPV4_POOL = '10.0.0.0/8';
/** The documented ULA block for `--ipv6` without a subnet: fd73:686f:616c (ASCII "shoal") /48. */
export const DEFAULT_IPV6_POOL = 'fd73:686f:616c::/48';
/** The ingress network's fixed subnet and gateway (skipped by the default carving). */
export const INGRESS_SUBNET = '10.255.0.0/16';
export const INGRESS_GATEWAY = '10.255.0.1';

const DEFAULTS: AddressSpaceConfig = Object.freeze({
  defaultAddrPools: Object.freeze([DEFAULT_IPV4_POOL]),
  defaultAddrPoolMaskLength: 24,
  defaultIpv6Pool: DEFAULT_IPV6_POOL,
  defaultIpv6PoolMaskLength: 64,
  carveExclude: Object.freeze([INGRESS_SUBNET]),
});

export function defaultAddressSpaceConfig(): AddressSpaceConfig {
  return DEFAULTS;
}

/** The request that creates the ingress network (10.255.0.0/16, gateway 10.255.0.1). */
export function ingressNetworkRequest(id: string, name = 'ingress'): NetworkRequest {
  return { id, name, subnets: [{ subnet: INGRESS_SUBNET, gateway: INGRESS_GATEWAY }] };
}

/** Parsed forms of a validated config, for the address space. */
export interface ParsedConfig {
  readonly config: AddressSpaceConfig;
  readonly v4Pools: readonly Cidr[];
  readonly v6Pool: Cidr;
  readonly exclude: readonly Cidr[];
}

/** Merges input over the defaults, validates (every problem reported), freezes. */
export function validateAddressSpaceConfig(input: AddressSpaceConfigInput = {}): AddressSpaceConfig {
  return parseAddressSpaceConfig(input).config;
}

export function parseAddressSpaceConfig(input: AddressSpaceConfigInput = {}): ParsedConfig {
  const config: AddressSpaceConfig = Object.freeze({
    defaultAddrPools: Object.freeze([...(input.defaultAddrPools ?? DEFAULTS.defaultAddrPools)]),
    defaultAddrPoolMaskLength: input.defaultAddrPoolMaskLength ?? DEFAULTS.defaultAddrPoolMaskLength,
    defaultIpv6Pool: input.defaultIpv6Pool ?? DEFAULTS.defaultIpv6Pool,
    defaultIpv6PoolMaskLength: input.defaultIpv6PoolMaskLength ?? DEFAULTS.defaultIpv6PoolMaskLength,
    carveExclude: Object.freeze([...(input.carveExclude ?? DEFAULTS.carveExclude)]),
  });
  const problems: string[] = [];
  const tryCidr = (text: string, what: string): Cidr | undefined => {
    try {
      return parseCidr(text, what);
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };

  const v4Pools: Cidr[] = [];
  if (config.defaultAddrPools.length === 0) problems.push('defaultAddrPools must list at least one pool');
  for (const text of config.defaultAddrPools) {
    const c = tryCidr(text, 'default address pool');
    if (!c) continue;
    if (c.family !== 4) problems.push(`default address pool ${c.text} must be IPv4 (set defaultIpv6Pool for IPv6)`);
    else v4Pools.push(c);
  }
  for (let i = 0; i < v4Pools.length; i++) {
    for (let j = i + 1; j < v4Pools.length; j++) {
      if (cidrsOverlap(v4Pools[i]!, v4Pools[j]!))
        problems.push(`default address pools ${v4Pools[i]!.text} and ${v4Pools[j]!.text} overlap`);
    }
  }
  const mask = config.defaultAddrPoolMaskLength;
  if (!Number.isInteger(mask) || mask < 1 || mask > 30) {
    problems.push(`defaultAddrPoolMaskLength ${mask} is out of range 1-30`);
  } else {
    for (const p of v4Pools) {
      if (mask < p.prefix) problems.push(`defaultAddrPoolMaskLength ${mask} is shorter than the prefix of default address pool ${p.text}`);
    }
  }

  const v6Pool = tryCidr(config.defaultIpv6Pool, 'default IPv6 pool');
  if (v6Pool && v6Pool.family !== 6) problems.push(`default IPv6 pool ${v6Pool.text} must be IPv6`);
  const mask6 = config.defaultIpv6PoolMaskLength;
  if (!Number.isInteger(mask6) || mask6 < 1 || mask6 > 126) {
    problems.push(`defaultIpv6PoolMaskLength ${mask6} is out of range 1-126`);
  } else if (v6Pool && mask6 < v6Pool.prefix) {
    problems.push(`defaultIpv6PoolMaskLength ${mask6} is shorter than the prefix of default IPv6 pool ${v6Pool.text}`);
  }

  const exclude: Cidr[] = [];
  for (const text of config.carveExclude) {
    const c = tryCidr(text, 'carveExclude entry');
    if (c) exclude.push(c);
  }

  if (problems.length > 0 || !v6Pool) {
    throw new ShoalError('SHOAL_ERR_INVALID_CONFIG', `invalid IPAM configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  return { config, v4Pools, v6Pool, exclude };
}
