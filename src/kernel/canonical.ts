/**
 * Canonical key and text form of every kernel object.
 *
 * One line per object, in iproute2's words, stable field order. Used as Map keys in
 * diffs, in logs, in golden files, and by the conformance tests that compare a Fake's
 * dump with the real kernel's. Only fields we program are shown (no kernel-chosen MACs
 * or ifindexes), so two namespaces built by the same script dump identically.
 */
import type { Address, FdbEntry, Link, Neighbor, Route } from './types.ts';

export function linkKey(link: Pick<Link, 'name'>): string {
  return `link ${link.name}`;
}

/** `link vx4097 vxlan id 4097 dstport 4789 nolearning proxy l2miss l3miss mtu 1450 master br0 up` */
export function linkText(link: Link, options: { mac?: boolean } = {}): string {
  const parts = [`link ${link.name} ${link.kind}`];
  if (link.vxlan) {
    const v = link.vxlan;
    parts.push(`id ${v.vni} dstport ${v.dstport}`);
    if (v.local) parts.push(`local ${v.local}`);
    parts.push(v.learning ? 'learning' : 'nolearning');
    if (v.proxy) parts.push('proxy');
    if (v.l2miss) parts.push('l2miss');
    if (v.l3miss) parts.push('l3miss');
    if (v.ttl) parts.push(`ttl ${v.ttl}`);
  }
  parts.push(`mtu ${link.mtu}`);
  if (options.mac) parts.push(`address ${link.mac}`);
  if (link.master) parts.push(`master ${link.master}`);
  parts.push(link.up ? 'up' : 'down');
  return parts.join(' ');
}

export function addressKey(a: Address): string {
  return `addr ${a.address}/${a.prefixLen} dev ${a.link}`;
}
export const addressText = addressKey;

export function routeKey(r: Route): string {
  return `route ${r.dst}${r.family === 6 && r.dst === 'default' ? ' -6' : ''} table ${r.table ?? 254}${r.metric ? ` metric ${r.metric}` : ''}`;
}

/** `route 10.0.0.0/24 dev br0 table 254` */
export function routeText(r: Route): string {
  const parts = [`route ${r.dst}`];
  if (r.family === 6 && r.dst === 'default') parts.push('-6');
  if (r.gateway) parts.push(`via ${r.gateway}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.src) parts.push(`src ${r.src}`);
  parts.push(`table ${r.table ?? 254}`);
  if (r.metric) parts.push(`metric ${r.metric}`);
  return parts.join(' ');
}

export function neighborKey(n: Pick<Neighbor, 'link' | 'address'>): string {
  return `neigh ${n.address} dev ${n.link}`;
}

/** `neigh 10.0.1.5 lladdr 02:42:0a:00:01:05 dev vx4097 permanent` */
export function neighborText(n: Neighbor): string {
  return `neigh ${n.address} lladdr ${n.lladdr} dev ${n.link}${n.state ? ` ${n.state}` : ''}`;
}

export function fdbKey(f: Pick<FdbEntry, 'link' | 'mac' | 'dst'>): string {
  return `fdb ${f.mac} dev ${f.link}${f.dst ? ` dst ${f.dst}` : ''}`;
}

/** `fdb 02:42:0a:00:01:05 dev vx4097 dst 192.0.2.12 self permanent` */
export function fdbText(f: FdbEntry): string {
  const parts = [fdbKey(f)];
  if (f.self) parts.push('self');
  if (f.master) parts.push('master');
  if (f.permanent) parts.push('permanent');
  return parts.join(' ');
}

/** Sorted, newline-joined canonical lines: the comparable dump of a namespace. */
export function dumpLines(lines: Iterable<string>): string {
  return [...lines].sort().join('\n');
}
