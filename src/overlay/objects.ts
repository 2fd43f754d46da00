/**
 * The overlay's desired kernel state and the canonical key and text of each object.
 *
 * planOverlay() returns an OverlayDesired: one NsDesired per namespace ('' = the host
 * namespace the agent runs in), each listing complete objects. Keys and texts come from
 * src/kernel/canonical.ts where they fit; links have their own text because the overlay
 * also checks what canonical.ts leaves out (a veth's peer, a programmed MAC) and leaves
 * out what it does not manage (lo's MTU).
 *
 * Pure: types and string functions only.
 */
import { addressKey, addressText, fdbKey, fdbText, neighborKey, neighborText, routeKey, routeText } from '../kernel/canonical.ts';
import type { Address, FdbEntry, Link, LinkKind, Neighbor, Route, VxlanOptions } from '../kernel/types.ts';
import { isFloodMac } from '../common/mac.ts';

/** What a namespace is to the overlay; it decides which objects in it are ours. */
export type NsRole = 'host' | 'overlay' | 'sandbox';

/**
 * How a desired link comes to exist:
 * - existing: made by the kernel (lo); only its state is managed;
 * - bridge: created here, then its MTU pinned (a bridge's MTU otherwise follows its ports);
 * - vxlan: created in the host namespace under `tempName`, moved here and renamed, then
 *   enslaved and brought up (its UDP socket stays in the host namespace);
 * - veth: created here together with its peer (`peer`) directly in the peer's namespace;
 * - veth-peer: the far end of a veth another link creates.
 */
export type LinkCreate = 'existing' | 'bridge' | 'vxlan' | 'veth' | 'veth-peer';

export interface DesiredLink {
  name: string;
  kind: LinkKind;
  /** Managed MTU; undefined = left as it is (lo). */
  mtu?: number;
  up: boolean;
  /** Bridge this link is a port of; undefined = none. */
  master?: string;
  /** MAC we program (sandbox interfaces); undefined = whatever the kernel picked. */
  mac?: string;
  vxlan?: VxlanOptions;
  /** A veth's other end. `netns` '' is the host namespace. */
  peer?: { netns: string; name: string };
  create: LinkCreate;
  /** vxlan: its name in the host namespace between creation and the move. */
  tempName?: string;
}

/** The one nftables table of the host's egress, as a whole. */
export interface DesiredNftTable {
  family: 'ip';
  name: string;
  /** The transaction that replaces the table atomically (add, delete, then build). */
  script: string;
  /** Canonical text (kernel/nft.ts canonicalNftTable form) the table must read back as. */
  canonical: string;
}

export interface DesiredSysctl {
  name: string;
  value: string;
}

export interface NsDesired {
  /** Namespace name; '' = the host namespace. */
  name: string;
  role: NsRole;
  links: DesiredLink[];
  addresses: Address[];
  routes: Route[];
  neighbors: Neighbor[];
  fdb: FdbEntry[];
  nft: DesiredNftTable[];
  sysctls: DesiredSysctl[];
}

/** A model item the planner left out, and why. */
export interface OverlayProblem {
  code: 'SHOAL_ERR_OVERLAY_BAD_MODEL' | 'SHOAL_ERR_OVERLAY_CONFLICT';
  /** What was left out: `network ID`, `sandbox ID`, `remote NET/IP`. */
  item: string;
  message: string;
}

export interface OverlayDesired {
  prefix: string;
  /** By namespace name; '' (the host namespace) is always present. */
  namespaces: Map<string, NsDesired>;
  problems: OverlayProblem[];
}

/** Any object of the overlay, as a diff change carries it. */
export type OverlayItem =
  | { type: 'netns'; name: string; role: 'overlay' | 'sandbox' }
  | { type: 'link'; link: DesiredLink; peerLink?: DesiredLink }
  | { type: 'addr'; addr: Address }
  | { type: 'route'; route: Route }
  | { type: 'neigh'; neigh: Neighbor }
  | { type: 'fdb'; fdb: FdbEntry }
  | { type: 'nft'; table: { family: string; name: string; canonical: string; script?: string } }
  | { type: 'sysctl'; sysctl: DesiredSysctl };

export type OverlayItemType = OverlayItem['type'];

/** A namespace name as people read it: '' is `host`. */
export function netnsLabel(netns: string): string {
  return netns === '' ? 'host' : netns;
}

// ---------------------------------------------------------------------------------------
// Keys and texts

export function linkItemKey(name: string): string {
  return `link ${name}`;
}

/**
 * `link vx4097 vxlan id 4097 dstport 4789 local 192.0.2.11 nolearning proxy l2miss l3miss
 * mtu 1450 master br0 up`, in canonical.ts's field order, plus `address MAC` when the MAC
 * is programmed and `peer NETNS/NAME` for a veth.
 */
export function desiredLinkText(l: DesiredLink): string {
  const parts = [`link ${l.name} ${l.kind}`];
  if (l.vxlan) parts.push(vxlanText(l.vxlan));
  if (l.mtu !== undefined) parts.push(`mtu ${l.mtu}`);
  if (l.mac !== undefined) parts.push(`address ${l.mac}`);
  if (l.master !== undefined) parts.push(`master ${l.master}`);
  parts.push(l.up ? 'up' : 'down');
  if (l.peer) parts.push(`peer ${netnsLabel(l.peer.netns)}/${l.peer.name}`);
  return parts.join(' ');
}

export function vxlanText(v: VxlanOptions): string {
  const parts = [`id ${v.vni} dstport ${v.dstport}`];
  if (v.local) parts.push(`local ${v.local}`);
  parts.push(v.learning ? 'learning' : 'nolearning');
  if (v.proxy) parts.push('proxy');
  if (v.l2miss) parts.push('l2miss');
  if (v.l3miss) parts.push('l3miss');
  if (v.ttl) parts.push(`ttl ${v.ttl}`);
  return parts.join(' ');
}

/**
 * An existing link in the form of `desired` (the fields it manages), so the two texts
 * compare; without `desired`, every field we could manage. `peer` is the resolved peer
 * (`NETNS/NAME`, or `?` when it could not be confirmed).
 */
export function actualLinkText(a: Link, desired?: DesiredLink, peer?: string): string {
  const parts = [`link ${a.name} ${a.kind}`];
  if (a.vxlan) parts.push(vxlanText(a.vxlan));
  if (!desired || desired.mtu !== undefined) parts.push(`mtu ${a.mtu}`);
  if (desired?.mac !== undefined) parts.push(`address ${a.mac}`);
  if (a.master !== undefined) parts.push(`master ${a.master}`);
  parts.push(a.up ? 'up' : 'down');
  if (desired?.peer && peer !== undefined) parts.push(`peer ${peer}`);
  return parts.join(' ');
}

/**
 * The part of a link that cannot be changed in place: kind, VXLAN options, a programmed
 * MAC (it names the attachment) and a veth's peer. When it differs, the link is deleted
 * and created again.
 */
export function linkIdentity(l: { kind: LinkKind; vxlan?: VxlanOptions | undefined; mac?: string | undefined }, mac: boolean): string {
  return [l.kind, l.vxlan ? vxlanText(l.vxlan) : '', mac ? (l.mac ?? '') : ''].join('|');
}

export const addrItemKey = addressKey;
export const addrItemText = addressText;
export const routeItemKey = routeKey;
export const routeItemText = routeText;
export const neighItemKey = neighborKey;
export const neighItemText = neighborText;

/**
 * `fdb MAC dev LINK`: a unicast MAC has one destination on a VXLAN device, so a new VTEP
 * for it is a change of that entry (replaced in place), not another entry. The all-zero
 * and multicast MACs hold several destinations and keep the destination in their key.
 */
export function fdbItemKey(f: Pick<FdbEntry, 'link' | 'mac' | 'dst'>): string {
  return isFloodMac(f.mac) ? fdbKey(f) : fdbKey({ link: f.link, mac: f.mac });
}
export const fdbItemText = fdbText;

export function nftItemKey(family: string, name: string): string {
  return `nft table ${family} ${name}`;
}

/** One line: the canonical table text with its lines joined by ` ; `. */
export function nftItemText(family: string, name: string, canonical: string): string {
  const body = canonical
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return `nft table ${family} ${name}${body.length > 0 ? `: ${body.join(' ; ')}` : ''}`;
}

export function sysctlItemKey(name: string): string {
  return `sysctl ${name}`;
}

export function sysctlItemText(s: DesiredSysctl): string {
  return `sysctl ${s.name}=${s.value}`;
}

export function netnsItemKey(name: string): string {
  return `netns ${name}`;
}

/** Key and text of any item. */
export function itemKey(item: OverlayItem): string {
  switch (item.type) {
    case 'netns':
      return netnsItemKey(item.name);
    case 'link':
      return linkItemKey(item.link.name);
    case 'addr':
      return addrItemKey(item.addr);
    case 'route':
      return routeItemKey(item.route);
    case 'neigh':
      return neighItemKey(item.neigh);
    case 'fdb':
      return fdbItemKey(item.fdb);
    case 'nft':
      return nftItemKey(item.table.family, item.table.name);
    case 'sysctl':
      return sysctlItemKey(item.sysctl.name);
  }
}

export function itemText(item: OverlayItem): string {
  switch (item.type) {
    case 'netns':
      return `netns ${item.name}`;
    case 'link':
      return desiredLinkText(item.link);
    case 'addr':
      return addrItemText(item.addr);
    case 'route':
      return routeItemText(item.route);
    case 'neigh':
      return neighItemText(item.neigh);
    case 'fdb':
      return fdbItemText(item.fdb);
    case 'nft':
      return nftItemText(item.table.family, item.table.name, item.table.canonical);
    case 'sysctl':
      return sysctlItemText(item.sysctl);
  }
}

/** Every object of one namespace as canonical text lines, sorted: the namespace's fingerprint. */
export function nsDesiredLines(ns: NsDesired): string[] {
  const lines: string[] = [];
  for (const l of ns.links) lines.push(desiredLinkText(l));
  for (const a of ns.addresses) lines.push(addrItemText(a));
  for (const r of ns.routes) lines.push(routeItemText(r));
  for (const n of ns.neighbors) lines.push(neighItemText(n));
  for (const f of ns.fdb) lines.push(fdbItemText(f));
  for (const t of ns.nft) lines.push(nftItemText(t.family, t.name, t.canonical));
  for (const s of ns.sysctls) lines.push(sysctlItemText(s));
  return lines.sort();
}

/** The whole desired state as text, namespace by namespace (for golden tests and logs). */
export function desiredText(d: OverlayDesired): string {
  const out: string[] = [];
  for (const name of [...d.namespaces.keys()].sort()) {
    const ns = d.namespaces.get(name)!;
    out.push(`netns ${netnsLabel(name)} (${ns.role})`);
    for (const line of nsDesiredLines(ns)) out.push(`  ${line}`);
  }
  return out.join('\n');
}
