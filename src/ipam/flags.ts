/**
 * Docker-style network create flags -> per-subnet requests.
 *
 * `docker network create` takes flat, repeatable `--subnet`, `--gateway`, `--ip-range` and
 * `--aux-address` flags; each gateway, range and aux address belongs to the subnet that
 * contains it. This does that grouping (validating as it goes) so the CLI and the manager
 * hand createNetwork one SubnetRequest per subnet.
 */
import { cidrContains, parseCidr, requireAddress, type Cidr } from './address.ts';
import { ipamError } from './errors.ts';
import type { SubnetRequest } from './types.ts';

export interface SubnetFlags {
  /** `--subnet`, repeatable. */
  subnets: readonly string[];
  /** `--gateway`, repeatable: at most one per subnet. */
  gateways?: readonly string[];
  /** `--ip-range`, repeatable: at most one per subnet. */
  ipRanges?: readonly string[];
  /** `--aux-address`, repeatable: 'name=ip' strings, or a name -> ip record. */
  auxAddresses?: readonly string[] | Readonly<Record<string, string>>;
}

export function subnetRequestsFromFlags(flags: SubnetFlags): SubnetRequest[] {
  const cidrs = flags.subnets.map((s) => parseCidr(s, 'subnet'));
  const requests: { subnet: string; gateway?: string; ipRange?: string; aux: Record<string, string> }[] = cidrs.map((c) => ({
    subnet: c.text,
    aux: {},
  }));
  const owner = (value: bigint, family: 4 | 6, what: string, text: string): number => {
    const i = cidrs.findIndex((c) => c.family === family && value >= c.base && value <= c.last);
    if (i < 0) {
      throw ipamError(
        'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
        `${what} ${text} is not inside any --subnet (${cidrs.map((c) => c.text).join(', ') || 'none given'})`,
        { [what]: text },
      );
    }
    return i;
  };
  for (const g of flags.gateways ?? []) {
    const a = requireAddress(g, 'gateway');
    const i = owner(a.value, a.family, 'gateway', g);
    const r = requests[i]!;
    if (r.gateway !== undefined) {
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `subnet ${r.subnet} has two gateways (${r.gateway}, ${g})`, { subnet: r.subnet });
    }
    r.gateway = g;
  }
  for (const text of flags.ipRanges ?? []) {
    const range: Cidr = parseCidr(text, 'ip-range');
    const i = cidrs.findIndex((c) => cidrContains(c, range));
    if (i < 0) {
      throw ipamError(
        'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
        `ip-range ${range.text} is not inside any --subnet (${cidrs.map((c) => c.text).join(', ') || 'none given'})`,
        { ipRange: text },
      );
    }
    const r = requests[i]!;
    if (r.ipRange !== undefined) {
      throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `subnet ${r.subnet} has two ip-ranges (${r.ipRange}, ${range.text})`, {
        subnet: r.subnet,
      });
    }
    r.ipRange = range.text;
  }
  const aux = flags.auxAddresses ?? [];
  const auxEntries: [string, string][] = Array.isArray(aux)
    ? (aux as readonly string[]).map((s) => {
        const eq = s.indexOf('=');
        if (eq <= 0) throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `aux-address ${JSON.stringify(s)} must be name=ip`, { auxAddress: s });
        return [s.slice(0, eq), s.slice(eq + 1)];
      })
    : Object.entries(aux as Readonly<Record<string, string>>);
  const seen = new Set<string>();
  for (const [name, ip] of auxEntries) {
    if (seen.has(name)) throw ipamError('SHOAL_ERR_IPAM_BAD_OPTIONS', `aux-address name ${JSON.stringify(name)} is given twice`, { name });
    seen.add(name);
    const a = requireAddress(ip, `aux-address ${name}`);
    requests[owner(a.value, a.family, 'aux-address', `${name}=${ip}`)]!.aux[name] = ip;
  }
  return requests.map((r) => ({
    subnet: r.subnet,
    ...(r.gateway !== undefined ? { gateway: r.gateway } : {}),
    ...(r.ipRange !== undefined ? { ipRange: r.ipRange } : {}),
    ...(Object.keys(r.aux).length > 0 ? { auxAddresses: r.aux } : {}),
  }));
}
