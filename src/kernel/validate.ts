/**
 * Validation of names and values before any kernel call: a bad value is an error with a
 * code and nothing is changed. The kernel would refuse most of these too, but often
 * after part of a multi-step operation has happened, and with a bare EINVAL.
 */
import { isIP } from 'node:net';
import { ShoalError } from '../common/errors.ts';
import { bytesEqual, ipToBytes, networkBytes } from '../common/ip.ts';
import { normalizeMac } from '../common/mac.ts';
import type { Address, FdbEntry, LinkChanges, LinkSpec, Neighbor, Route } from './types.ts';

/** IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

export function validateIfname(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > IFNAME_MAX) {
    throw new ShoalError('SHOAL_ERR_BAD_IFNAME', `interface name ${JSON.stringify(name)} must be 1-${IFNAME_MAX} characters`, {
      details: { name },
    });
  }
  if (name === '.' || name === '..' || /[\s/:]/.test(name) || !/^[\x21-\x7e]+$/.test(name)) {
    throw new ShoalError('SHOAL_ERR_BAD_IFNAME', `interface name ${JSON.stringify(name)} contains a character the kernel refuses`, {
      details: { name },
    });
  }
}

export function validateNetnsName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || name.includes('/') || name === '.' || name === '..') {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `namespace name ${JSON.stringify(name)} is not valid`, { details: { name } });
  }
}

/** MAC text is validated by the shared helper; re-exported so callers keep one import. */
export { normalizeMac } from '../common/mac.ts';

export function validateIp(address: string, what = 'address'): 4 | 6 {
  const v = typeof address === 'string' ? isIP(address) : 0;
  if (v !== 4 && v !== 6)
    throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `${what} ${JSON.stringify(address)} is not an IPv4 or IPv6 address`, {
      details: { address },
    });
  return v;
}

export function validatePrefixLen(prefixLen: number, family: 4 | 6): void {
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new ShoalError('SHOAL_ERR_BAD_PREFIX', `prefix length ${prefixLen} is out of range 0-${max}`, { details: { prefixLen } });
  }
}

export const VNI_MAX = 0xffffff;

export function validateVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > VNI_MAX) {
    throw new ShoalError('SHOAL_ERR_BAD_VNI', `VXLAN ID ${vni} is out of range 1-${VNI_MAX}`, { details: { vni } });
  }
}

export function validateMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new ShoalError('SHOAL_ERR_BAD_MTU', `MTU ${mtu} is out of range 68-65535`, { details: { mtu } });
  }
}

function validatePort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `${what} ${port} is out of range 1-65535`, { details: { port } });
  }
}

export function validateLinkSpec(spec: LinkSpec): void {
  validateIfname(spec.name);
  if (spec.mtu !== undefined) validateMtu(spec.mtu);
  if (spec.mac !== undefined) normalizeMac(spec.mac);
  if (spec.master !== undefined) validateIfname(spec.master);
  switch (spec.kind) {
    case 'bridge':
      break;
    case 'vxlan': {
      const v = spec.vxlan;
      if (!v) throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `vxlan link ${spec.name} needs vxlan options`);
      validateVni(v.vni);
      validatePort(v.dstport, 'VXLAN destination port');
      if (v.local !== undefined) validateIp(v.local, 'VXLAN local address');
      if (v.ttl !== undefined && (!Number.isInteger(v.ttl) || v.ttl < 0 || v.ttl > 255)) {
        throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `VXLAN ttl ${v.ttl} is out of range 0-255`);
      }
      break;
    }
    case 'veth': {
      const v = spec.veth;
      if (!v) throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `veth link ${spec.name} needs a peer name`);
      validateIfname(v.peerName);
      if (v.peerMac !== undefined) normalizeMac(v.peerMac);
      if (v.peerNetns !== undefined) validateNetnsName(v.peerNetns);
      if (v.peerNetns === undefined && v.peerName === spec.name) {
        throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `veth ${spec.name} cannot be its own peer`);
      }
      break;
    }
    default:
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `link kind ${JSON.stringify((spec as { kind: unknown }).kind)} is not supported`);
  }
}

export function validateLinkChanges(name: string, changes: LinkChanges): void {
  validateIfname(name);
  if (changes.mtu !== undefined) validateMtu(changes.mtu);
  if (changes.mac !== undefined) normalizeMac(changes.mac);
  if (changes.master !== undefined && changes.master !== null) validateIfname(changes.master);
  if (changes.name !== undefined) validateIfname(changes.name);
  if (changes.netns !== undefined) validateNetnsName(changes.netns);
}

export function validateAddress(addr: Address): 4 | 6 {
  validateIfname(addr.link);
  const family = validateIp(addr.address);
  validatePrefixLen(addr.prefixLen, family);
  return family;
}

/** Parses 'a.b.c.d/len' and checks host bits are clear. */
export function parseCidr(cidr: string): { address: string; prefixLen: number; family: 4 | 6 } {
  const slash = typeof cidr === 'string' ? cidr.indexOf('/') : -1;
  if (slash < 0)
    throw new ShoalError('SHOAL_ERR_BAD_PREFIX', `${JSON.stringify(cidr)} is not in CIDR form (address/length)`, { details: { cidr } });
  const address = cidr.slice(0, slash);
  const lenText = cidr.slice(slash + 1);
  const family = validateIp(address);
  if (!/^\d{1,3}$/.test(lenText))
    throw new ShoalError('SHOAL_ERR_BAD_PREFIX', `prefix length in ${JSON.stringify(cidr)} is not a number`, { details: { cidr } });
  const prefixLen = Number(lenText);
  validatePrefixLen(prefixLen, family);
  const bytes = ipToBytes(address);
  if (!bytesEqual(networkBytes(bytes, prefixLen), bytes)) {
    throw new ShoalError('SHOAL_ERR_BAD_PREFIX', `${JSON.stringify(cidr)} has host bits set`, { details: { cidr } });
  }
  return { address, prefixLen, family };
}

export function validateRoute(route: Route): void {
  if (route.family !== 4 && route.family !== 6) throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `route family must be 4 or 6`);
  if (route.dst !== 'default') {
    const { family } = parseCidr(route.dst);
    if (family !== route.family) throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `route ${route.dst} is not IPv${route.family}`);
  }
  if (route.gateway !== undefined && validateIp(route.gateway, 'gateway') !== route.family) {
    throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `gateway ${route.gateway} is not IPv${route.family}`);
  }
  if (route.src !== undefined) validateIp(route.src, 'source');
  if (route.dev !== undefined) validateIfname(route.dev);
  if (route.gateway === undefined && route.dev === undefined) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `route ${route.dst} needs a gateway or a device`);
  }
  if (route.table !== undefined && (!Number.isInteger(route.table) || route.table < 1 || route.table > 0xfffffffe)) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `route table ${route.table} is out of range`);
  }
}

export function validateNeighbor(n: Pick<Neighbor, 'link' | 'address'> & Partial<Neighbor>): void {
  validateIfname(n.link);
  validateIp(n.address);
  if (n.lladdr !== undefined) normalizeMac(n.lladdr);
}

export function validateFdb(f: Pick<FdbEntry, 'link' | 'mac'> & Partial<FdbEntry>): void {
  validateIfname(f.link);
  normalizeMac(f.mac);
  if (f.dst !== undefined) validateIp(f.dst, 'VTEP address');
}
