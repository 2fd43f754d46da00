/**
 * The canonical text dump of one namespace's routing-netlink state: links, addresses,
 * routes, neighbours and fdb entries, one canonical line each (canonical.ts), sorted.
 *
 * It reads through the Rtnl interface only, so it works on the real kernel and on a
 * FakeKernel alike; the conformance test compares the two dumps line by line, golden
 * tests compare a fake's dump with a file, and `doctor` can print it.
 *
 * By default the dump leaves out what the kernel makes by itself, which depends on
 * carrier, timing, traffic and random MACs rather than on what shoal programmed:
 * - IPv6 link-local addresses (fe80::/10) and the fe80::/64 routes (made when a link has
 *   carrier, after DAD);
 * - neighbours of multicast and link-local addresses (made by IPv6 neighbour discovery,
 *   MLD and IGMP traffic);
 * - fdb entries of multicast MACs (a device's multicast list, e.g. 33:33:00:00:00:01),
 *   a bridge's local entries (a port's or the bridge's own MAC on that device, which the
 *   bridge keeps by itself), and dynamic entries (learned from traffic; they age out).
 * Link MAC addresses are left out too (random unless programmed). `kernelObjects: true`
 * and `mac: true` put them back, for debugging.
 */
import { isIP } from 'node:net';
import { parseIp } from '../common/ip.ts';
import { addressText, dumpLines, fdbText, linkText, neighborText, routeText } from './canonical.ts';
import type { Address, FdbEntry, Link, Neighbor, Route, Rtnl } from './types.ts';

export interface DumpOptions {
  /**
   * Routing tables to dump, by id. Default [254] (main). Rtnl lists one table at a time and
   * cannot enumerate them, so a caller that uses policy routing names its tables.
   */
  tables?: readonly number[];
  /** Print each link's MAC address. Default false: kernel-chosen MACs differ between runs. */
  mac?: boolean;
  /** Keep the objects the kernel makes by itself (see the module comment). Default false. */
  kernelObjects?: boolean;
}

const DEFAULT_TABLES: readonly number[] = [254];

/** The first 16 bits of an IPv6 address (0 for anything else). */
function firstHextet(address: string): number {
  const ip = parseIp(address);
  return ip?.family === 6 ? (ip.bytes[0]! << 8) | ip.bytes[1]! : 0;
}

/** fe80::/10. */
export function isIpv6LinkLocal(address: string): boolean {
  return isIP(address) === 6 && (firstHextet(address) & 0xffc0) === 0xfe80;
}

/** 224.0.0.0/4 or ff00::/8. */
export function isMulticastIp(address: string): boolean {
  const v = isIP(address);
  if (v === 4) return Number(address.split('.')[0]) >= 224 && Number(address.split('.')[0]) <= 239;
  return v === 6 && (firstHextet(address) & 0xff00) === 0xff00;
}

/** The group bit of the first octet. */
export function isMulticastMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

export function isKernelAddress(a: Address): boolean {
  return isIpv6LinkLocal(a.address);
}

export function isKernelRoute(r: Route): boolean {
  return r.family === 6 && r.dst === 'fe80::/64';
}

export function isKernelNeighbor(n: Neighbor): boolean {
  return isMulticastIp(n.address) || isIpv6LinkLocal(n.address);
}

/** `links` are the namespace's links, to recognise a bridge's local entries by MAC. */
export function isKernelFdb(f: FdbEntry, links: ReadonlyMap<string, Link>): boolean {
  if (isMulticastMac(f.mac)) return true;
  if (!f.permanent) return true;
  return f.master === true && links.get(f.link)?.mac === f.mac;
}

/** The sorted canonical dump of the namespace `rtnl` programs. */
export async function dumpRtnl(rtnl: Rtnl, options: DumpOptions = {}): Promise<string> {
  const all = options.kernelObjects ?? false;
  const links = await rtnl.listLinks();
  const byName = new Map(links.map((l) => [l.name, l]));
  const lines: string[] = links.map((l) => linkText(l, { mac: options.mac ?? false }));
  for (const a of await rtnl.listAddresses()) if (all || !isKernelAddress(a)) lines.push(addressText(a));
  for (const table of options.tables ?? DEFAULT_TABLES) {
    for (const r of await rtnl.listRoutes({ table })) if (all || !isKernelRoute(r)) lines.push(routeText(r));
  }
  for (const n of await rtnl.listNeighbors()) if (all || !isKernelNeighbor(n)) lines.push(neighborText(n));
  for (const f of await rtnl.listFdb()) if (all || !isKernelFdb(f, byName)) lines.push(fdbText(f));
  return dumpLines(lines);
}
