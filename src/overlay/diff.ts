/**
 * The overlay diff: desired (planOverlay) against actual (readOverlayActual) -> the
 * changes that make the kernel right, and nothing else. Pure. `doctor` prints this list;
 * the applier applies it.
 *
 * What counts as ours, and so is deleted when not desired:
 * - namespaces `<prefix>ov-*` and `<prefix>sb-*`;
 * - in the host namespace, links named by names.ts's host roles (`<lp>gw0`, `<lp>e?????`,
 *   `<lp>v*`; a temporary VXLAN name is never desired, so one left by a crash between
 *   creation and move is always removed), addresses on them, the table `ip <prefix>egress`;
 * - in an overlay namespace, every link but lo, their addresses (IPv6 link-local ones are
 *   the kernel's), and the IPv4 neighbours and `self` permanent fdb entries of VXLAN
 *   devices;
 * - in a sandbox namespace, links `eth<N>`, their addresses and the IPv4 default route.
 * Anything else (lo's addresses, kernel-made routes and neighbours, bridge port entries,
 * other subsystems' tables and links) is left alone.
 *
 * Namespaces whose contents were not read (an incremental sync reads only those whose
 * desired part changed) are not diffed, except that a desired namespace that does not
 * exist is created with everything in it, and one of ours that is not desired is deleted.
 *
 * Links: kind, VXLAN options, a programmed MAC and a veth's peer cannot change in place;
 * when they differ the link is deleted and created again (`recreate`), and the objects on
 * it (addresses, routes, neighbours, fdb entries, ports of a bridge) count as gone. A veth
 * pair is one change, made from the end that creates it. Other link fields (MTU, master,
 * up) change in place. A veth's peer is confirmed by ifindex when both namespaces were
 * read, and assumed right otherwise.
 */
import { isKernelAddress, isKernelFdb, isKernelNeighbor } from '../kernel/dump.ts';
import type { Link, LinkChanges } from '../kernel/types.ts';
import { emptyNsActual, type NsActual, type OverlayActual } from './actual.ts';
import { hostLinkRole, isSandboxIfname, netnsRole } from './names.ts';
import {
  actualLinkText,
  addrItemKey,
  addrItemText,
  type DesiredLink,
  desiredLinkText,
  fdbItemKey,
  fdbItemText,
  itemKey,
  itemText,
  linkIdentity,
  linkItemKey,
  neighItemKey,
  neighItemText,
  netnsLabel,
  type NsDesired,
  type NsRole,
  nftItemKey,
  nftItemText,
  type OverlayDesired,
  type OverlayItem,
  type OverlayItemType,
  routeItemKey,
  routeItemText,
  sysctlItemKey,
  sysctlItemText,
} from './objects.ts';

export type ChangeKind = 'add' | 'delete' | 'change';

export interface OverlayChange {
  kind: ChangeKind;
  type: OverlayItemType;
  /** Namespace ('' = host). */
  netns: string;
  key: string;
  /** add, change: the desired object's text; delete: the text of what is there. */
  text: string;
  /** change: the text of what is there. */
  before?: string;
  /** change: made by deleting the object and creating it again. */
  recreate?: boolean;
  /** add, change: the desired object; delete: what is there. */
  item: OverlayItem;
  /** change of a route: the route that is there (deleted first). */
  previous?: OverlayItem;
  /** change of a link in place: the fields to set. */
  linkChanges?: LinkChanges;
}

/** A link being deleted or created again, by namespace and name. */
const at = (netns: string, name: string): string => `${netns}\0${name}`;

function isOwnedLink(role: NsRole, prefix: string, l: Link): boolean {
  if (role === 'overlay') return l.name !== 'lo';
  if (role === 'sandbox') return isSandboxIfname(l.name);
  return hostLinkRole(prefix, l.name) !== undefined;
}

function linkFromActual(a: Link): DesiredLink {
  const l: DesiredLink = { name: a.name, kind: a.kind, mtu: a.mtu, up: a.up, create: 'existing' };
  if (a.master !== undefined) l.master = a.master;
  if (a.vxlan) l.vxlan = a.vxlan;
  return l;
}

class Differ {
  readonly changes: OverlayChange[] = [];
  /** Links whose objects count as gone: deleted, or deleted and created again. */
  readonly gone = new Set<string>();
  readonly views = new Map<string, NsActual>();

  constructor(
    readonly desired: OverlayDesired,
    readonly actual: OverlayActual,
  ) {}

  push(c: OverlayChange): void {
    this.changes.push(c);
  }

  add(netns: string, item: OverlayItem): void {
    this.push({ kind: 'add', type: item.type, netns, key: itemKey(item), text: itemText(item), item });
  }

  run(): OverlayChange[] {
    const prefix = this.desired.prefix;
    // Namespaces
    for (const name of [...this.actual.namespaces].sort()) {
      const role = netnsRole(prefix, name);
      if (this.desired.namespaces.has(name) || role === undefined) continue;
      const item: OverlayItem = { type: 'netns', name, role };
      this.push({ kind: 'delete', type: 'netns', netns: name, key: itemKey(item), text: itemText(item), item });
    }
    for (const [name, ns] of [...this.desired.namespaces].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (name !== '' && !this.actual.namespaces.has(name)) {
        this.add(name, { type: 'netns', name, role: ns.role === 'overlay' ? 'overlay' : 'sandbox' });
        this.views.set(name, emptyNsActual(name, ns.role));
      } else {
        const read = this.actual.read.get(name);
        if (read) this.views.set(name, read);
      }
    }
    const diffed = [...this.desired.namespaces.values()].filter((ns) => this.views.has(ns.name));
    for (const ns of diffed) this.linkIdentities(ns);
    for (const ns of diffed) this.linkStates(ns);
    for (const ns of diffed) this.linkDeletes(ns, prefix);
    for (const ns of diffed) this.addresses(ns, prefix);
    for (const ns of diffed) this.routes(ns);
    for (const ns of diffed) this.neighbors(ns);
    for (const ns of diffed) this.fdb(ns);
    for (const ns of diffed) this.nft(ns);
    for (const ns of diffed) this.sysctls(ns);
    return this.changes;
  }

  view(netns: string): NsActual | undefined {
    return this.views.get(netns);
  }

  desiredLink(netns: string, name: string): DesiredLink | undefined {
    return this.desired.namespaces.get(netns)?.links.find((l) => l.name === name);
  }

  /** `NETNS/NAME` of a veth's peer as confirmed by ifindex, `?` when it is not the expected one. */
  peerText(a: Link, expected: { netns: string; name: string }): string | undefined {
    const pv = this.view(expected.netns);
    if (!pv) return `${netnsLabel(expected.netns)}/${expected.name}`; // not read: assumed right
    const p = pv.links.find((l) => l.name === expected.name);
    if (p && p.kind === 'veth' && p.index === a.peerIndex && p.peerIndex === a.index)
      return `${netnsLabel(expected.netns)}/${expected.name}`;
    return '?';
  }

  /** Whether the existing link `a` is the desired `d` in what cannot change in place. */
  sameIdentity(d: DesiredLink, a: Link | undefined): boolean {
    if (!a) return false;
    if (linkIdentity(d, d.mac !== undefined) !== linkIdentity(a, d.mac !== undefined)) return false;
    return !(d.peer && this.peerText(a, d.peer) === '?');
  }

  /**
   * Pass 1: links missing or needing re-creation. A veth pair is decided once, from its
   * creating end, or from its peer when the creating end's namespace was not read.
   */
  linkIdentities(ns: NsDesired): void {
    const view = this.view(ns.name)!;
    for (const d of ns.links) {
      if (d.create === 'existing') continue;
      if (d.create === 'veth-peer') {
        const creator = d.peer && !this.view(d.peer.netns) ? this.desiredLink(d.peer.netns, d.peer.name) : undefined;
        if (creator?.create === 'veth') this.vethPair(d.peer!.netns, creator);
        continue;
      }
      if (d.create === 'veth') {
        this.vethPair(ns.name, d);
        continue;
      }
      const a = view.links.find((l) => l.name === d.name);
      if (!a) {
        this.add(ns.name, { type: 'link', link: d });
        this.gone.add(at(ns.name, d.name));
      } else if (!this.sameIdentity(d, a)) {
        this.push({
          kind: 'change',
          type: 'link',
          netns: ns.name,
          key: linkItemKey(d.name),
          text: desiredLinkText(d),
          before: actualLinkText(a, d),
          recreate: true,
          item: { type: 'link', link: d },
        });
        this.gone.add(at(ns.name, d.name));
      }
    }
  }

  /** A veth pair from its creating end `d` in `netns`: nothing, an add, or a re-creation. */
  vethPair(netns: string, d: DesiredLink): void {
    if (!d.peer) return;
    const peer = d.peer;
    const cv = this.view(netns);
    const pv = this.view(peer.netns);
    const pd = this.desiredLink(peer.netns, peer.name);
    const a = cv?.links.find((l) => l.name === d.name);
    const pa = pv?.links.find((l) => l.name === peer.name);
    // An end whose namespace was not read is assumed right.
    const here = !cv || this.sameIdentity(d, a);
    const there = !pv || !pd || this.sameIdentity(pd, pa);
    if (here && there) return;
    const item: OverlayItem = pd ? { type: 'link', link: d, peerLink: pd } : { type: 'link', link: d };
    const text = pd ? `${desiredLinkText(d)} ; ${desiredLinkText(pd)}` : desiredLinkText(d);
    if (!a && !pa) {
      this.push({ kind: 'add', type: 'link', netns, key: linkItemKey(d.name), text, item });
    } else {
      const before = [
        a ? actualLinkText(a, d, this.peerText(a, peer)) : `link ${d.name} ${cv ? 'missing' : 'not read'}`,
        pa && pd?.peer ? actualLinkText(pa, pd, this.peerText(pa, pd.peer)) : `link ${peer.name} ${pv ? 'missing' : 'not read'}`,
      ].join(' ; ');
      this.push({ kind: 'change', type: 'link', netns, key: linkItemKey(d.name), text, before, recreate: true, item });
    }
    this.gone.add(at(netns, d.name));
    this.gone.add(at(peer.netns, peer.name));
  }

  /** Pass 2: MTU, master and up of links that stay. */
  linkStates(ns: NsDesired): void {
    const view = this.view(ns.name)!;
    for (const d of ns.links) {
      if (this.gone.has(at(ns.name, d.name))) continue;
      const a = view.links.find((l) => l.name === d.name);
      if (!a) continue; // an existing-kind link that is missing, or a peer whose namespace was not read
      // A port of a bridge that is created again is released from it.
      const master = a.master !== undefined && !this.gone.has(at(ns.name, a.master)) ? a.master : undefined;
      const changes: LinkChanges = {};
      if (d.mtu !== undefined && a.mtu !== d.mtu) changes.mtu = d.mtu;
      if ((d.master ?? undefined) !== master) changes.master = d.master ?? null;
      if (a.up !== d.up) changes.up = d.up;
      if (Object.keys(changes).length === 0) continue;
      const peer = d.peer ? this.peerText(a, d.peer) : undefined;
      this.push({
        kind: 'change',
        type: 'link',
        netns: ns.name,
        key: linkItemKey(d.name),
        text: desiredLinkText(d),
        before: actualLinkText(a, d, peer),
        item: { type: 'link', link: d },
        linkChanges: changes,
      });
    }
  }

  /** Pass 3: links of ours that are not desired. */
  linkDeletes(ns: NsDesired, prefix: string): void {
    const view = this.view(ns.name)!;
    const wanted = new Set(ns.links.map((l) => l.name));
    for (const a of view.links) {
      if (wanted.has(a.name) || !isOwnedLink(ns.role, prefix, a)) continue;
      // The peer of a veth pair being deleted goes with it; deleting it again is harmless.
      this.push({
        kind: 'delete',
        type: 'link',
        netns: ns.name,
        key: linkItemKey(a.name),
        text: actualLinkText(a),
        item: { type: 'link', link: linkFromActual(a) },
      });
      this.gone.add(at(ns.name, a.name));
    }
  }

  ownedLink(ns: NsDesired, prefix: string, name: string): boolean {
    const a = this.view(ns.name)!.links.find((l) => l.name === name);
    return a !== undefined && isOwnedLink(ns.role, prefix, a);
  }

  /** Generic keyed diff of one kind of object in a namespace. */
  keyed<T>(
    ns: NsDesired,
    type: 'addr' | 'route' | 'neigh' | 'fdb',
    desired: readonly T[],
    actual: readonly T[],
    key: (o: T) => string,
    text: (o: T) => string,
    item: (o: T) => OverlayItem,
    linkOf: (o: T) => string | undefined,
  ): void {
    const have = new Map<string, T>();
    for (const o of actual) {
      const l = linkOf(o);
      if (l !== undefined && this.gone.has(at(ns.name, l))) continue; // went with its link
      have.set(key(o), o);
    }
    const want = new Set<string>();
    for (const d of desired) {
      const k = key(d);
      want.add(k);
      const a = have.get(k);
      if (a === undefined) {
        this.push({ kind: 'add', type, netns: ns.name, key: k, text: text(d), item: item(d) });
      } else if (text(a) !== text(d)) {
        this.push({ kind: 'change', type, netns: ns.name, key: k, text: text(d), before: text(a), item: item(d), previous: item(a) });
      }
    }
    for (const [k, a] of have) {
      if (!want.has(k)) this.push({ kind: 'delete', type, netns: ns.name, key: k, text: text(a), item: item(a) });
    }
  }

  addresses(ns: NsDesired, prefix: string): void {
    const actual = this.view(ns.name)!.addresses.filter((a) => !isKernelAddress(a) && this.ownedLink(ns, prefix, a.link));
    this.keyed(
      ns,
      'addr',
      ns.addresses,
      actual,
      addrItemKey,
      addrItemText,
      (addr) => ({ type: 'addr', addr }),
      (a) => a.link,
    );
  }

  routes(ns: NsDesired): void {
    if (ns.role !== 'sandbox') return;
    const actual = this.view(ns.name)!.routes.filter((r) => r.family === 4 && r.dst === 'default' && (r.table ?? 254) === 254);
    this.keyed(
      ns,
      'route',
      ns.routes,
      actual,
      routeItemKey,
      routeItemText,
      (route) => ({ type: 'route', route }),
      (r) => r.dev,
    );
  }

  vxlanLinks(ns: NsDesired): Set<string> {
    return new Set(
      this.view(ns.name)!
        .links.filter((l) => l.kind === 'vxlan')
        .map((l) => l.name),
    );
  }

  neighbors(ns: NsDesired): void {
    if (ns.role !== 'overlay') return;
    const vx = this.vxlanLinks(ns);
    const actual = this.view(ns.name)!.neighbors.filter((n) => vx.has(n.link) && !isKernelNeighbor(n));
    this.keyed(
      ns,
      'neigh',
      ns.neighbors,
      actual,
      neighItemKey,
      neighItemText,
      (neigh) => ({ type: 'neigh', neigh }),
      (n) => n.link,
    );
  }

  fdb(ns: NsDesired): void {
    if (ns.role !== 'overlay') return;
    const view = this.view(ns.name)!;
    const vx = this.vxlanLinks(ns);
    const byName = new Map(view.links.map((l) => [l.name, l]));
    const actual = view.fdb.filter((f) => vx.has(f.link) && f.self === true && !isKernelFdb(f, byName));
    this.keyed(
      ns,
      'fdb',
      ns.fdb,
      actual,
      fdbItemKey,
      fdbItemText,
      (fdb) => ({ type: 'fdb', fdb }),
      (f) => f.link,
    );
  }

  nft(ns: NsDesired): void {
    if (ns.role !== 'host') return;
    const view = this.view(ns.name)!;
    const have = new Map(view.nft.map((t) => [nftItemKey(t.family, t.name), t]));
    const want = new Set<string>();
    for (const t of ns.nft) {
      const k = nftItemKey(t.family, t.name);
      want.add(k);
      const a = have.get(k);
      const item: OverlayItem = { type: 'nft', table: t };
      if (!a) this.add(ns.name, item);
      else if (a.canonical !== t.canonical) {
        this.push({
          kind: 'change',
          type: 'nft',
          netns: ns.name,
          key: k,
          text: itemText(item),
          before: nftItemText(a.family, a.name, a.canonical),
          item,
        });
      }
    }
    for (const [k, a] of have) {
      if (!want.has(k)) {
        this.push({
          kind: 'delete',
          type: 'nft',
          netns: ns.name,
          key: k,
          text: nftItemText(a.family, a.name, a.canonical),
          item: { type: 'nft', table: a },
        });
      }
    }
  }

  sysctls(ns: NsDesired): void {
    const view = this.view(ns.name)!;
    for (const s of ns.sysctls) {
      const value = view.sysctls.get(s.name);
      if (value === s.value) continue;
      this.push({
        kind: 'change',
        type: 'sysctl',
        netns: ns.name,
        key: sysctlItemKey(s.name),
        text: sysctlItemText(s),
        before: value === undefined ? `sysctl ${s.name} unknown` : sysctlItemText({ name: s.name, value }),
        item: { type: 'sysctl', sysctl: s },
      });
    }
  }
}

/** The changes that turn `actual` into `desired`, in the order the applier applies them. */
export function diffOverlay(desired: OverlayDesired, actual: OverlayActual): OverlayChange[] {
  return orderChanges(new Differ(desired, actual).run());
}

// ---------------------------------------------------------------------------------------
// Order

/**
 * The phase of a change; the applier runs phases in this order, the changes of one phase
 * concurrently:
 *  0 clear the way: delete VXLAN devices and overlay namespaces that are not desired (a
 *    VXLAN ID stays taken in the host namespace, whose VNI table a moved device stays in,
 *    until its device is gone; a crash-left temporary device holds the name we create under);
 *  1 create namespaces;
 *  2 bridges and lo; 3 VXLAN devices and veth pairs; 4 other links changed in place;
 *  5 addresses; 6 routes; 7 neighbours and fdb entries; 8 sysctls and nftables;
 *  then the deletes, in the reverse order: 9 nftables, 10 neighbours and fdb entries,
 *  11 routes, 12 addresses, 13 links, 14 sandbox namespaces.
 */
export function changePhase(c: OverlayChange): number {
  if (c.kind === 'delete') {
    switch (c.type) {
      case 'netns':
        return c.item.type === 'netns' && c.item.role === 'overlay' ? 0 : 14;
      case 'link':
        return c.item.type === 'link' && c.item.link.kind === 'vxlan' ? 0 : 13;
      case 'nft':
      case 'sysctl':
        return 9;
      case 'neigh':
      case 'fdb':
        return 10;
      case 'route':
        return 11;
      case 'addr':
        return 12;
    }
  }
  switch (c.type) {
    case 'netns':
      return 1;
    case 'link': {
      const l = c.item.type === 'link' ? c.item.link : undefined;
      if (l && (l.create === 'bridge' || l.create === 'existing')) return 2;
      if (!c.linkChanges) return 3;
      return 4;
    }
    case 'addr':
      return 5;
    case 'route':
      return 6;
    case 'neigh':
    case 'fdb':
      return 7;
    case 'sysctl':
    case 'nft':
      return 8;
  }
}

const TYPE_ORDER: Record<OverlayItemType, number> = { netns: 0, link: 1, addr: 2, route: 3, neigh: 4, fdb: 5, sysctl: 6, nft: 7 };

export function orderChanges(changes: OverlayChange[]): OverlayChange[] {
  return changes
    .map((c, i) => ({ c, i, p: changePhase(c) }))
    .sort(
      (a, b) =>
        a.p - b.p ||
        TYPE_ORDER[a.c.type] - TYPE_ORDER[b.c.type] ||
        (a.c.netns < b.c.netns ? -1 : a.c.netns > b.c.netns ? 1 : 0) ||
        a.i - b.i,
    )
    .map((x) => x.c);
}

// ---------------------------------------------------------------------------------------
// Text

const SIGN: Record<ChangeKind, string> = { add: '+', delete: '-', change: '~' };

/** `<type> <netns> <rest of the text>`: the namespace goes after the object's first word. */
function placeNetns(text: string, netns: string): string {
  const sp = text.indexOf(' ');
  return sp < 0 ? `${text} ${netnsLabel(netns)}` : `${text.slice(0, sp)} ${netnsLabel(netns)}${text.slice(sp)}`;
}

/**
 * Doctor output: one line per change, in apply order.
 *   + neigh shoal-h2-ov-abc 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent
 *   - link host shoal-h2-vlx4 vxlan id 4097 ...
 *   ~ link shoal-h2-ov-abc br0 bridge mtu 1450 up (was: link br0 bridge mtu 1500 up)
 * A namespace line names the namespace once: `+ netns shoal-h2-ov-abc`.
 */
export function formatChanges(changes: readonly OverlayChange[]): string {
  return changes
    .map((c) => {
      const line = c.type === 'netns' ? `${SIGN[c.kind]} ${c.text}` : `${SIGN[c.kind]} ${placeNetns(c.text, c.netns)}`;
      if (c.kind !== 'change' || c.before === undefined) return line;
      return `${line} (${c.recreate ? 'recreate; ' : ''}was: ${c.before})`;
    })
    .join('\n');
}
