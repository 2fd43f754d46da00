/**
 * FakeKernel: the routing-netlink state of many network namespaces in memory, with the
 * Linux kernel's semantics, for unit tests of everything that programs links, addresses,
 * routes, neighbours and fdb entries.
 *
 * It owns the simulated kernel objects and every cascade the real kernel performs; the
 * handles on it (FakeRtnl, FakeNetns) only validate arguments and apply the Rtnl and
 * NetnsManager contracts, exactly as the real handles do over netlink. Each rule below was
 * checked against Linux 6.18 with ip/bridge in a throwaway namespace, and the conformance
 * test (test/kernel/conformance/) runs shared scripts against this fake and the real
 * kernel and compares transcripts and dumps.
 *
 * Kernel behaviour modelled (defaults of a new namespace: promote_secondaries=0,
 * keep_addr_on_down=0):
 * - Every namespace has `lo` (ifindex 1, MTU 65536, down). Bringing lo up adds 127.0.0.1/8
 *   and ::1/128 (neither gives a route in table main).
 * - ifindexes are per namespace and grow; a veth's peer is registered first. A moved link
 *   keeps its ifindex when it is free in the target namespace.
 * - MTU defaults to 1500 for veth, bridge and vxlan (a vxlan without a lower device is not
 *   1450). A veth's MTU applies to both ends. A bridge's MTU follows the smallest port MTU
 *   (1500 without ports) until someone sets the bridge's MTU; an MTU given at creation
 *   does not count as set.
 * - A bridge starts with a random MAC, then takes the smallest port MAC (00:00:00:00:00:00
 *   when the last port leaves) unless its MAC was given.
 * - Enslaving: the master must be a bridge (EOPNOTSUPP), a bridge cannot be a port
 *   (ELOOP), lo cannot be a port (EINVAL). Bridges and lo cannot change namespace (EINVAL).
 * - A down link keeps its IPv4 addresses. An IPv4 address gives a connected route
 *   (`dev D src A`, scope link, metric 0) in table main while the link is up, except for
 *   /32, secondaries and lo. An IPv6 address gives a prefix route with metric 256 while
 *   the link is up (also for /128).
 * - Taking a link down deletes every route through it (all tables, both families), its
 *   IPv6 addresses, all its neighbours (permanent ones too) and its non-permanent fdb
 *   entries. Bringing it up again restores only the connected/prefix routes.
 * - Deleting a primary IPv4 address deletes its secondaries; deleting an IPv4 address
 *   deletes routes using it as preferred source; deleting the last IPv4 address of a link
 *   deletes every IPv4 route through the link and its IPv4 neighbours. Deleting an IPv6
 *   address deletes its prefix route unless another address of the link has that prefix.
 * - Setting a link's MAC flushes its neighbours. An MTU below 1280 disables IPv6 on the
 *   link (its IPv6 addresses, routes and neighbours go; adding one is EINVAL).
 * - Deleting a link deletes its addresses, the routes through it, routes preferring its
 *   addresses, its neighbours and fdb entries, releases a bridge's ports, and deletes a
 *   veth's peer in whatever namespace it is. Moving a link does the same in the old
 *   namespace (the peer stays); it arrives down with no master. A vxlan keeps its own
 *   permanent fdb entries across the move.
 * - Routes: a gateway must be reachable: IPv4 through a link-scope route (connected or
 *   dev-only) of the route's table, then a local address, then table main (ENETUNREACH);
 *   IPv6 when the longest match in the table or main is not itself via a gateway
 *   (EHOSTUNREACH), and a local address is EINVAL. The device must be up (ENETDOWN). A
 *   preferred source must be a local address (EINVAL). Same table, prefix and metric is
 *   EEXIST (IPv6 user routes default to metric 1024). Deletes only match routes added by
 *   a user (protocol boot), so connected routes cannot be deleted through Rtnl.
 * - VXLAN fdb (device's own table): a unicast MAC has one destination; the all-zero and
 *   multicast MACs have a list of destinations (several flood entries). Deleting a MAC
 *   that exists with a destination it does not have succeeds and changes nothing.
 *   Bridge fdb (master): one entry per MAC on the bridge; each port's MAC and the
 *   bridge's own MAC are permanent local entries the kernel keeps by itself.
 * - Two vxlan devices with the same VNI, UDP port and address family created in one
 *   namespace are EEXIST, also after the first was moved elsewhere (the VNI table, like
 *   the UDP socket, stays with the namespace a vxlan was created in).
 * - Deleting a namespace that still has open handles keeps it alive (as an open netlink
 *   socket does) until the last handle closes; then its links go, and veth peers in
 *   other namespaces with them.
 *
 * Not modelled: IPv6 link-local addresses and fe80::/64 routes (they need carrier and
 * DAD), multicast fdb and neighbour entries, learning from traffic, carrier, the local
 * and broadcast routes of table local, and self fdb entries on anything but a vxlan.
 *
 * Link events are delivered synchronously after each change, before the call's promise
 * resolves: `new` for a created or changed link, `del` for a deleted or moved-away one.
 */
import { codeForErrno, ShoalError } from '../common/errors.ts';
import { bytesEqual, canonicalIp, formatIp, inPrefix, networkBytes, requireIp, type IpBytes } from '../common/ip.ts';
import { formatMac, isFloodMac, isUnicastMac, normalizeMac, ZERO_MAC } from '../common/mac.ts';
import { createRng, type Rng } from '../common/rng.ts';
import { FakeNetns } from './fake-netns.ts';
import { FakeRtnl } from './fake-rtnl.ts';
import type {
  Address,
  FdbEntry,
  Family,
  Link,
  LinkChanges,
  LinkEvent,
  LinkKind,
  LinkSpec,
  Neighbor,
  NeighborMiss,
  NeighborState,
  Route,
  RtnlEvents,
  VxlanOptions,
  Watch,
} from './types.ts';

const MAIN_TABLE = 254;
const DEFAULT_MTU = 1500;
const LOOPBACK_MTU = 65536;
const IPV6_MIN_MTU = 1280;
const IPV6_USER_METRIC = 1024;
const IPV6_KERNEL_METRIC = 256;
/**
 * errno 95, EOPNOTSUPP in the kernel's headers: Node and the netlink package name it
 * ENOTSUP, and the real handle reports that name.
 */
const ENOTSUP = 'ENOTSUP';

export interface FakeKernelOptions {
  /**
   * Seed for the MAC addresses the kernel picks itself (veth, vxlan and bridge links
   * created without one). Default: a random seed, readable as `FakeKernel.seed`.
   */
  seed?: number;
}

// ---------------------------------------------------------------------------------------
// MACs the kernel picks itself

function randomMac(rng: Rng): string {
  const bytes = Array.from({ length: 6 }, () => rng.int(256));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02; // unicast, locally administered (as eth_random_addr)
  return formatMac(Uint8Array.from(bytes));
}

// ---------------------------------------------------------------------------------------
// Errors, mapped from errno as the real handle maps netlink errors

function kernelError(errno: string, message: string, details: Record<string, unknown> = {}): ShoalError {
  return new ShoalError(codeForErrno(errno, 'SHOAL_ERR_NETLINK'), `${message}: ${errno}`, { details, errno });
}

// ---------------------------------------------------------------------------------------
// Kernel objects

interface VxlanFdb {
  mac: string;
  /** One destination for a unicast MAC; any number for the all-zero and multicast MACs. */
  dsts: Array<string | undefined>;
  permanent: boolean;
}

interface BridgeFdb {
  port: FakeLink;
  mac: string;
  permanent: boolean;
}

interface FakeLink {
  ns: FakeNamespace;
  index: number;
  name: string;
  kind: LinkKind;
  mtu: number;
  mac: string;
  up: boolean;
  loopback: boolean;
  master: FakeLink | undefined;
  vxlan: VxlanOptions | undefined;
  /** VXLAN devices: the namespace they were created in, whose VNI table they stay in when moved. */
  vxlanHome: FakeNamespace | undefined;
  peer: FakeLink | undefined;
  /** Bridges: MTU set by a user (stops following the ports). */
  mtuSetByUser: boolean;
  /** Bridges: MAC given by a user (stops following the ports). */
  macSetByUser: boolean;
  /** VXLAN devices: their own forwarding table. */
  vxlanFdb: VxlanFdb[];
  /** Bridges: the user entries of the bridge's forwarding table. */
  bridgeFdb: BridgeFdb[];
  /** IPv6 is off on this link (MTU below 1280). */
  ipv6Disabled: boolean;
}

interface FakeAddress {
  link: FakeLink;
  family: Family;
  address: string;
  bytes: Uint8Array;
  prefixLen: number;
  /** IPv4: another address of the link is primary for this subnet. */
  secondary: boolean;
}

interface FakeRoute {
  family: Family;
  table: number;
  prefixLen: number;
  net: Uint8Array;
  gateway: string | undefined;
  dev: FakeLink;
  src: string | undefined;
  metric: number;
  /** `kernel` for connected and prefix routes, `boot` for routes added through Rtnl. */
  proto: 'kernel' | 'boot';
  scope: 'universe' | 'link' | 'host';
}

interface FakeNeighbor {
  link: FakeLink;
  family: Family;
  address: string;
  lladdr: string;
  state: NeighborState;
}

/** One simulated network namespace. Opaque outside this module. */
export class FakeNamespace {
  readonly name: string;
  readonly links = new Map<number, FakeLink>();
  lastIndex = 0;
  addresses: FakeAddress[] = [];
  routes: FakeRoute[] = [];
  neighbors: FakeNeighbor[] = [];
  /** Reachable by name (created and not deleted). */
  registered = true;
  /** Open handles and watches keeping the namespace alive. */
  refs = 0;
  destroyed = false;
  readonly watchers = new Set<Partial<RtnlEvents>>();

  constructor(name: string) {
    this.name = name;
  }

  linkByName(name: string): FakeLink | undefined {
    for (const l of this.links.values()) if (l.name === name) return l;
    return undefined;
  }
}

function linkView(l: FakeLink): Link {
  const view: Link = { index: l.index, name: l.name, kind: l.kind, mtu: l.mtu, mac: l.mac, up: l.up };
  if (l.master) view.master = l.master.name;
  if (l.vxlan) view.vxlan = { ...l.vxlan };
  if (l.peer) view.peerIndex = l.peer.index;
  return view;
}

function routeView(r: FakeRoute): Route {
  const dst = r.prefixLen === 0 ? 'default' : `${formatIp(r.net)}/${r.prefixLen}`;
  const view: Route = { family: r.family, dst };
  if (r.gateway !== undefined) view.gateway = r.gateway;
  view.dev = r.dev.name;
  if (r.src !== undefined) view.src = r.src;
  view.table = r.table;
  // As the real handle reads them back: metric 0 (IPv4 default) and 1024 (IPv6 default) are left out.
  if (r.metric && !(r.family === 6 && r.metric === IPV6_USER_METRIC)) view.metric = r.metric;
  return view;
}

// ---------------------------------------------------------------------------------------

export class FakeKernel {
  /** The NetnsManager of this kernel. */
  readonly netns: FakeNetns;
  /** Seed of the MACs this kernel picks; print it when a test depends on them. */
  readonly seed: number;
  readonly #rng: Rng;
  readonly #registry = new Map<string, FakeNamespace>();
  readonly #alive = new Set<FakeNamespace>();

  constructor(options: FakeKernelOptions = {}) {
    this.#rng = createRng(options.seed);
    this.seed = this.#rng.seed;
    this.#registry.set('', this.#newNamespace(''));
    this.netns = new FakeNetns(this);
  }

  /** Opens a routing-netlink handle on a namespace ('' = the initial one). */
  async openRtnl(name: string): Promise<FakeRtnl> {
    return new FakeRtnl(this, name, this.acquire(name));
  }

  /**
   * Reports a VXLAN miss to the namespace's watchers, as the device does for a
   * destination without a neighbour (l3miss) or fdb entry (l2miss). Returns false, and
   * reports nothing, when the link is missing, not a vxlan, or lacks that miss flag;
   * SHOAL_ERR_NETNS_NOT_FOUND when no namespace has that name.
   */
  injectMiss(netns: string, miss: NeighborMiss): boolean {
    const ns = this.#registry.get(netns);
    if (!ns) throw this.#netnsNotFound(netns);
    return this.injectMissInto(ns, miss);
  }

  // ----- namespaces (used by FakeNetns and FakeRtnl) -----

  createNamespace(name: string): boolean {
    if (this.#registry.has(name)) return false;
    this.#registry.set(name, this.#newNamespace(name));
    return true;
  }

  deleteNamespace(name: string): boolean {
    const ns = this.#registry.get(name);
    if (!ns || name === '') return false;
    this.#registry.delete(name);
    ns.registered = false;
    if (ns.refs === 0) this.#destroy(ns);
    return true;
  }

  namespaceNames(): string[] {
    return [...this.#registry.keys()].filter((n) => n !== '').sort();
  }

  hasNamespace(name: string): boolean {
    return this.#registry.has(name);
  }

  /** Takes a reference on a namespace by name (a handle or watch holds it open). */
  acquire(name: string): FakeNamespace {
    const ns = this.#registry.get(name);
    if (!ns) throw this.#netnsNotFound(name);
    ns.refs++;
    return ns;
  }

  release(ns: FakeNamespace): void {
    ns.refs = Math.max(0, ns.refs - 1);
    if (ns.refs === 0 && !ns.registered && !ns.destroyed) this.#destroy(ns);
  }

  #netnsNotFound(name: string): ShoalError {
    return new ShoalError('SHOAL_ERR_NETNS_NOT_FOUND', `network namespace ${name} does not exist`, {
      details: { netns: name },
      errno: 'ENOENT',
    });
  }

  #newNamespace(name: string): FakeNamespace {
    const ns = new FakeNamespace(name);
    this.#alive.add(ns);
    this.#addLinkObject(ns, { name: 'lo', kind: 'other', mtu: LOOPBACK_MTU, mac: ZERO_MAC, loopback: true });
    return ns;
  }

  #destroy(ns: FakeNamespace): void {
    this.#mutate(() => {
      for (const link of [...ns.links.values()].sort((a, b) => b.index - a.index)) {
        if (ns.links.has(link.index)) this.#unregister(link, true);
      }
    });
    ns.destroyed = true;
    ns.watchers.clear();
    this.#alive.delete(ns);
  }

  // ----- events -----

  watch(ns: FakeNamespace, handlers: Partial<RtnlEvents>): Watch {
    ns.refs++;
    ns.watchers.add(handlers);
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        ns.watchers.delete(handlers);
        this.release(ns);
      },
    };
  }

  injectMissInto(ns: FakeNamespace, miss: NeighborMiss): boolean {
    const link = ns.linkByName(miss.link);
    if (!link?.vxlan || !(miss.kind === 'l3miss' ? link.vxlan.l3miss : link.vxlan.l2miss)) return false;
    const event: NeighborMiss = { kind: miss.kind, link: miss.link };
    if (miss.address !== undefined) event.address = canonicalIp(miss.address);
    if (miss.mac !== undefined) event.mac = normalizeMac(miss.mac);
    for (const w of [...ns.watchers]) this.#deliver(() => w.miss?.(event));
    return true;
  }

  #deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // A throwing handler is a bug in the test or the code under test: surface it.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Runs a change and reports the links it created, changed, moved or deleted. */
  #mutate<T>(fn: () => T): T {
    const before = new Map<FakeNamespace, Map<FakeLink, string>>();
    for (const ns of this.#alive) {
      if (ns.watchers.size > 0) before.set(ns, new Map([...ns.links.values()].map((l) => [l, JSON.stringify(linkView(l))])));
    }
    if (before.size === 0) return fn();
    try {
      return fn();
    } finally {
      for (const [ns, old] of before) {
        const events: LinkEvent[] = [];
        for (const [link, text] of old) {
          if (ns.links.get(link.index) !== link) events.push({ type: 'del', link: JSON.parse(text) as Link });
        }
        for (const link of [...ns.links.values()].sort((a, b) => a.index - b.index)) {
          const text = JSON.stringify(linkView(link));
          if (old.get(link) !== text) events.push({ type: 'new', link: linkView(link) });
        }
        for (const event of events) for (const w of [...ns.watchers]) this.#deliver(() => w.link?.(event));
      }
    }
  }

  // ----- links -----

  listLinks(ns: FakeNamespace): Link[] {
    return [...ns.links.values()].sort((a, b) => a.index - b.index).map(linkView);
  }

  #requireLink(ns: FakeNamespace, name: string): FakeLink {
    const link = ns.linkByName(name);
    if (!link) {
      throw new ShoalError('SHOAL_ERR_LINK_NOT_FOUND', `link ${name} does not exist in ${ns.name || 'the current namespace'}`, {
        details: { link: name, netns: ns.name },
        errno: 'ENODEV',
      });
    }
    return link;
  }

  #requireNamespace(name: string): FakeNamespace {
    const ns = this.#registry.get(name);
    if (!ns) throw this.#netnsNotFound(name);
    return ns;
  }

  #allocIndex(ns: FakeNamespace, wanted?: number): number {
    if (wanted !== undefined && !ns.links.has(wanted)) return wanted;
    let index = ns.lastIndex + 1;
    while (ns.links.has(index)) index++;
    ns.lastIndex = index;
    return index;
  }

  #addLinkObject(
    ns: FakeNamespace,
    props: { name: string; kind: LinkKind; mtu: number; mac: string; loopback?: boolean; vxlan?: VxlanOptions; macSetByUser?: boolean },
  ): FakeLink {
    const link: FakeLink = {
      ns,
      index: this.#allocIndex(ns),
      name: props.name,
      kind: props.kind,
      mtu: props.mtu,
      mac: props.mac,
      up: false,
      loopback: props.loopback ?? false,
      master: undefined,
      vxlan: props.vxlan,
      vxlanHome: props.vxlan ? ns : undefined,
      peer: undefined,
      mtuSetByUser: false,
      macSetByUser: props.macSetByUser ?? false,
      vxlanFdb: [],
      bridgeFdb: [],
      ipv6Disabled: props.mtu < IPV6_MIN_MTU,
    };
    ns.links.set(link.index, link);
    return link;
  }

  #requireUnicastMac(mac: string, what: string): string {
    const m = normalizeMac(mac);
    if (!isUnicastMac(m)) throw kernelError('EADDRNOTAVAIL', `${what}: ${m} is not a unicast MAC`, { mac: m });
    return m;
  }

  addLink(ns: FakeNamespace, spec: LinkSpec): void {
    this.#mutate(() => {
      // Same order as the real handle and the kernel: names resolved first, then
      // rtnl_newlink (device validation, existing name, kind-specific checks), then the
      // master, whose failure unregisters the new link again.
      const master = spec.master !== undefined ? this.#requireLink(ns, spec.master) : undefined;
      const peerNs = spec.kind === 'veth' && spec.veth?.peerNetns !== undefined ? this.#requireNamespace(spec.veth.peerNetns) : ns;
      const mac = spec.mac !== undefined ? this.#requireUnicastMac(spec.mac, `add link ${spec.name}`) : undefined;
      if (ns.linkByName(spec.name)) throw kernelError('EEXIST', `add ${spec.kind} link ${spec.name}`, { link: spec.name });
      let vxlan: VxlanOptions | undefined;
      if (spec.kind === 'veth') {
        const v = spec.veth!;
        if (v.peerMac !== undefined) this.#requireUnicastMac(v.peerMac, `add veth peer ${v.peerName}`);
        if (peerNs.linkByName(v.peerName)) throw kernelError('EEXIST', `add veth peer ${v.peerName}`, { link: v.peerName });
      } else if (spec.kind === 'vxlan') {
        const v = spec.vxlan!;
        vxlan = { vni: v.vni, dstport: v.dstport, learning: v.learning, proxy: v.proxy, l2miss: v.l2miss, l3miss: v.l3miss };
        if (v.local !== undefined && requireIp(v.local).bytes.some((b) => b !== 0)) vxlan.local = canonicalIp(v.local);
        if (v.ttl) vxlan.ttl = v.ttl;
        // The VNI table is the creating namespace's, and a moved device stays in it.
        const family = vxlan.local !== undefined ? requireIp(vxlan.local).family : 4;
        for (const other of [...this.#alive].flatMap((x) => [...x.links.values()])) {
          const o = other.vxlan;
          if (
            o &&
            other.vxlanHome === ns &&
            o.vni === vxlan.vni &&
            o.dstport === vxlan.dstport &&
            (o.local !== undefined ? requireIp(o.local).family : 4) === family
          ) {
            throw kernelError('EEXIST', `add vxlan link ${spec.name}: VXLAN ID ${vxlan.vni} is in use by ${other.name}`, {
              link: spec.name,
            });
          }
        }
      }
      if (master) this.#checkMaster(spec.kind === 'bridge', false, master, spec.name);

      const mtu = spec.mtu ?? DEFAULT_MTU;
      let link: FakeLink;
      if (spec.kind === 'veth') {
        const v = spec.veth!;
        const peer = this.#addLinkObject(peerNs, {
          name: v.peerName,
          kind: 'veth',
          mtu,
          mac: v.peerMac !== undefined ? normalizeMac(v.peerMac) : randomMac(this.#rng),
        });
        link = this.#addLinkObject(ns, { name: spec.name, kind: 'veth', mtu, mac: mac ?? randomMac(this.#rng) });
        link.peer = peer;
        peer.peer = link;
      } else {
        link = this.#addLinkObject(ns, {
          name: spec.name,
          kind: spec.kind,
          mtu,
          mac: mac ?? randomMac(this.#rng),
          macSetByUser: mac !== undefined,
          ...(vxlan ? { vxlan } : {}),
        });
      }
      if (master) this.#enslave(link, master);
      if (spec.up) this.#setUp(link);
    });
  }

  #checkMaster(isBridge: boolean, isLoopback: boolean, master: FakeLink, name: string): void {
    if (master.kind !== 'bridge')
      throw kernelError(ENOTSUP, `enslave ${name} to ${master.name}: not a bridge`, { link: name, master: master.name });
    if (isBridge)
      throw kernelError('ELOOP', `enslave ${name} to ${master.name}: a bridge cannot be a bridge port`, {
        link: name,
        master: master.name,
      });
    if (isLoopback)
      throw kernelError('EINVAL', `enslave ${name} to ${master.name}: a loopback device cannot be a bridge port`, {
        link: name,
        master: master.name,
      });
  }

  setLink(ns: FakeNamespace, name: string, changes: LinkChanges): void {
    this.#mutate(() => {
      const master = typeof changes.master === 'string' ? this.#requireLink(ns, changes.master) : undefined;
      const target = changes.netns !== undefined ? this.#requireNamespace(changes.netns) : undefined;
      const link = this.#requireLink(ns, name);
      // Every check before any change: nothing is left half-changed.
      const mac = changes.mac !== undefined ? this.#requireUnicastMac(changes.mac, `set link ${name}`) : undefined;
      const home = target ?? ns;
      const newName = changes.name ?? link.name;
      if (target && target !== ns) {
        if (link.kind === 'bridge' || link.loopback)
          throw kernelError('EINVAL', `move ${name} to ${target.name}: the link cannot change namespace`, { link: name });
        if (target.linkByName(newName))
          throw kernelError('EEXIST', `move ${name} to ${target.name}: a link named ${newName} exists there`, { link: newName });
      } else if (changes.name !== undefined && changes.name !== link.name && ns.linkByName(changes.name)) {
        throw kernelError('EEXIST', `rename ${name} to ${changes.name}`, { link: changes.name });
      }
      // After a move the master is looked up where the link now is; like the real handle
      // resolves it here first, a name must exist in both.
      const newMaster = master && target && target !== ns ? this.#requireLink(home, master.name) : master;
      if (newMaster) this.#checkMaster(link.kind === 'bridge', link.loopback, newMaster, name);

      if (target && target !== ns) this.#move(link, target, newName);
      if (mac !== undefined) this.#setMac(link, mac);
      if (changes.mtu !== undefined) this.#setMtu(link, changes.mtu, true);
      if (changes.name !== undefined && (!target || target === ns)) link.name = changes.name;
      if (changes.master === null) {
        if (link.master) this.#release(link);
      } else if (newMaster && link.master !== newMaster) {
        if (link.master) this.#release(link);
        this.#enslave(link, newMaster);
      }
      // The real handle sets the up flag in a second request, and not after a move.
      if (changes.up !== undefined && changes.netns === undefined) {
        if (changes.up) this.#setUp(link);
        else this.#setDown(link);
      }
    });
  }

  deleteLink(ns: FakeNamespace, name: string): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, name);
      if (link.loopback) throw kernelError(ENOTSUP, `delete link ${name}`, { link: name });
      this.#unregister(link, true);
    });
  }

  #enslave(link: FakeLink, bridge: FakeLink): void {
    link.master = bridge;
    this.#bridgeRecalc(bridge);
  }

  #release(link: FakeLink): void {
    const bridge = link.master;
    if (!bridge) return;
    link.master = undefined;
    bridge.bridgeFdb = bridge.bridgeFdb.filter((e) => e.port !== link);
    this.#bridgeRecalc(bridge);
  }

  #ports(bridge: FakeLink): FakeLink[] {
    return [...bridge.ns.links.values()].filter((l) => l.master === bridge);
  }

  #bridgeRecalc(bridge: FakeLink): void {
    const ports = this.#ports(bridge);
    if (!bridge.mtuSetByUser) {
      const mtu = ports.length > 0 ? Math.min(...ports.map((p) => p.mtu)) : DEFAULT_MTU;
      if (mtu !== bridge.mtu) this.#setMtu(bridge, mtu, false);
    }
    if (!bridge.macSetByUser) {
      // The bridge id follows the smallest port MAC; without ports it becomes all-zero.
      const mac = ports.length > 0 ? ports.map((p) => p.mac).sort()[0]! : ZERO_MAC;
      if (mac !== bridge.mac) bridge.mac = mac;
    }
  }

  #setMac(link: FakeLink, mac: string): void {
    link.mac = mac;
    if (link.kind === 'bridge') link.macSetByUser = true;
    // NETDEV_CHANGEADDR flushes the link's neighbours in both families.
    link.ns.neighbors = link.ns.neighbors.filter((n) => n.link !== link);
    if (link.master) this.#bridgeRecalc(link.master);
  }

  #setMtu(link: FakeLink, mtu: number, byUser: boolean): void {
    link.mtu = mtu;
    if (byUser && link.kind === 'bridge') link.mtuSetByUser = true;
    if (mtu < IPV6_MIN_MTU && !link.ipv6Disabled) {
      link.ipv6Disabled = true;
      this.#dropFamily(link, 6);
    } else if (mtu >= IPV6_MIN_MTU) {
      link.ipv6Disabled = false;
    }
    if (link.master) this.#bridgeRecalc(link.master);
  }

  /** Drops a link's addresses, routes and neighbours of one family. */
  #dropFamily(link: FakeLink, family: Family): void {
    const ns = link.ns;
    ns.addresses = ns.addresses.filter((a) => !(a.link === link && a.family === family));
    ns.routes = ns.routes.filter((r) => !(r.dev === link && r.family === family));
    ns.neighbors = ns.neighbors.filter((n) => !(n.link === link && n.family === family));
  }

  #setUp(link: FakeLink): void {
    if (link.up) return;
    link.up = true;
    const ns = link.ns;
    if (link.loopback) {
      if (!ns.addresses.some((a) => a.link === link && a.address === '127.0.0.1' && a.prefixLen === 8))
        this.#insertAddress(link, requireIp('127.0.0.1'), 8);
      if (!ns.addresses.some((a) => a.link === link && a.address === '::1')) this.#insertAddress(link, requireIp('::1'), 128);
    }
    for (const a of ns.addresses.filter((x) => x.link === link)) this.#addPrefixRoute(a);
  }

  #setDown(link: FakeLink): void {
    if (!link.up) return;
    link.up = false;
    const ns = link.ns;
    ns.routes = ns.routes.filter((r) => r.dev !== link);
    ns.addresses = ns.addresses.filter((a) => !(a.link === link && a.family === 6));
    ns.neighbors = ns.neighbors.filter((n) => n.link !== link);
    for (const e of link.vxlanFdb) if (!e.permanent) e.dsts = [];
    link.vxlanFdb = link.vxlanFdb.filter((e) => e.dsts.length > 0);
    if (link.master) link.master.bridgeFdb = link.master.bridgeFdb.filter((e) => e.port !== link || e.permanent);
  }

  /**
   * Takes a link out of its namespace (deletion, or the first half of a move): down,
   * released, bridge ports released, addresses, routes, neighbours and fdb entries gone.
   */
  #unregister(link: FakeLink, destroy: boolean): void {
    const ns = link.ns;
    this.#setDown(link);
    if (link.kind === 'bridge') {
      for (const p of this.#ports(link)) p.master = undefined;
      link.bridgeFdb = [];
    }
    if (link.master) this.#release(link);
    const v4 = ns.addresses.filter((a) => a.link === link && a.family === 4);
    ns.addresses = ns.addresses.filter((a) => a.link !== link);
    for (const a of v4) this.#dropPrefsrcRoutes(ns, a.address);
    ns.routes = ns.routes.filter((r) => r.dev !== link);
    ns.neighbors = ns.neighbors.filter((n) => n.link !== link);
    ns.links.delete(link.index);
    if (destroy) {
      link.vxlanFdb = [];
      const peer = link.peer;
      link.peer = undefined;
      if (peer && peer.ns.links.get(peer.index) === peer) {
        peer.peer = undefined;
        this.#unregister(peer, true);
      }
    }
  }

  #move(link: FakeLink, target: FakeNamespace, name: string): void {
    this.#unregister(link, false);
    link.ns = target;
    link.name = name;
    link.index = this.#allocIndex(target, link.index);
    target.links.set(link.index, link);
  }

  // ----- addresses -----

  listAddresses(ns: FakeNamespace, link?: string): Address[] {
    const order = (a: FakeAddress): number => (a.family === 4 ? 0 : 1);
    return ns.addresses
      .filter((a) => link === undefined || a.link.name === link)
      .sort((x, y) => order(x) - order(y))
      .map((a) => ({ link: a.link.name, address: a.address, prefixLen: a.prefixLen }));
  }

  addAddress(ns: FakeNamespace, addr: Address): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, addr.link);
      const ip = requireIp(addr.address);
      const text = formatIp(ip.bytes);
      if (ip.family === 4) {
        if (ns.addresses.some((a) => a.link === link && a.family === 4 && a.address === text && a.prefixLen === addr.prefixLen)) {
          throw kernelError('EEXIST', `add address ${text}/${addr.prefixLen} to ${link.name}`, { ...addr });
        }
      } else {
        if (link.ipv6Disabled)
          throw kernelError('EINVAL', `add address ${text}/${addr.prefixLen} to ${link.name}: IPv6 is disabled on the link`, { ...addr });
        if (ns.addresses.some((a) => a.link === link && a.family === 6 && a.address === text)) {
          throw kernelError('EEXIST', `add address ${text}/${addr.prefixLen} to ${link.name}`, { ...addr });
        }
      }
      const a = this.#insertAddress(link, ip, addr.prefixLen);
      if (link.up) this.#addPrefixRoute(a);
    });
  }

  #insertAddress(link: FakeLink, ip: IpBytes, prefixLen: number): FakeAddress {
    const ns = link.ns;
    const net = networkBytes(ip.bytes, prefixLen);
    const secondary =
      ip.family === 4 &&
      ns.addresses.some(
        (a) => a.link === link && a.family === 4 && !a.secondary && a.prefixLen === prefixLen && inPrefix(a.bytes, net, prefixLen),
      );
    const a: FakeAddress = { link, family: ip.family, address: formatIp(ip.bytes), bytes: ip.bytes, prefixLen, secondary };
    ns.addresses.push(a);
    return a;
  }

  /** The connected route of an IPv4 primary address, or the prefix route of an IPv6 one. */
  #addPrefixRoute(a: FakeAddress): void {
    const link = a.link;
    const ns = link.ns;
    const net = networkBytes(a.bytes, a.prefixLen);
    if (a.family === 4) {
      // No route for lo (its routes live in table local), a secondary, a /32 or a 0.0.0.0 prefix.
      if (link.loopback || a.secondary || a.prefixLen === 32 || net.every((b) => b === 0)) return;
      ns.routes.push({
        family: 4,
        table: MAIN_TABLE,
        prefixLen: a.prefixLen,
        net,
        gateway: undefined,
        dev: link,
        src: a.address,
        metric: 0,
        proto: 'kernel',
        scope: 'link',
      });
      return;
    }
    if (link.loopback && a.address === '::1') return;
    const exists = ns.routes.some(
      (r) =>
        r.family === 6 &&
        r.table === MAIN_TABLE &&
        r.dev === link &&
        r.proto === 'kernel' &&
        r.prefixLen === a.prefixLen &&
        bytesEqual(r.net, net),
    );
    if (!exists)
      ns.routes.push({
        family: 6,
        table: MAIN_TABLE,
        prefixLen: a.prefixLen,
        net,
        gateway: undefined,
        dev: link,
        src: undefined,
        metric: IPV6_KERNEL_METRIC,
        proto: 'kernel',
        scope: 'universe',
      });
  }

  /** Routes preferring an IPv4 address that is no longer local anywhere go with it. */
  #dropPrefsrcRoutes(ns: FakeNamespace, address: string): void {
    if (ns.addresses.some((a) => a.family === 4 && a.address === address)) return;
    ns.routes = ns.routes.filter((r) => !(r.family === 4 && r.src === address));
  }

  deleteAddress(ns: FakeNamespace, addr: Address): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, addr.link);
      const text = canonicalIp(addr.address);
      const a = ns.addresses.find((x) => x.link === link && x.address === text && x.prefixLen === addr.prefixLen);
      if (!a) throw kernelError('EADDRNOTAVAIL', `delete address ${text}/${addr.prefixLen} from ${link.name}`, { ...addr });
      const net = networkBytes(a.bytes, a.prefixLen);
      if (a.family === 4) {
        // promote_secondaries=0: the primary takes its secondaries with it.
        const victims = a.secondary
          ? [a]
          : ns.addresses.filter(
              (x) =>
                x === a ||
                (x.link === link && x.family === 4 && x.secondary && x.prefixLen === a.prefixLen && inPrefix(x.bytes, net, x.prefixLen)),
            );
        ns.addresses = ns.addresses.filter((x) => !victims.includes(x));
        if (!a.secondary) {
          ns.routes = ns.routes.filter(
            (r) =>
              !(
                r.family === 4 &&
                r.proto === 'kernel' &&
                r.dev === link &&
                r.src === a.address &&
                r.prefixLen === a.prefixLen &&
                bytesEqual(r.net, net)
              ),
          );
        }
        for (const v of victims) this.#dropPrefsrcRoutes(ns, v.address);
        if (!ns.addresses.some((x) => x.link === link && x.family === 4)) {
          // The last IPv4 address of the link: IPv4 is disabled on it (fib_disable_ip).
          ns.routes = ns.routes.filter((r) => !(r.family === 4 && r.dev === link));
          ns.neighbors = ns.neighbors.filter((n) => !(n.family === 4 && n.link === link));
        }
        return;
      }
      ns.addresses = ns.addresses.filter((x) => x !== a);
      const samePrefix = ns.addresses.some(
        (x) => x.link === link && x.family === 6 && x.prefixLen === a.prefixLen && inPrefix(x.bytes, net, x.prefixLen),
      );
      if (!samePrefix) {
        ns.routes = ns.routes.filter(
          (r) => !(r.family === 6 && r.proto === 'kernel' && r.dev === link && r.prefixLen === a.prefixLen && bytesEqual(r.net, net)),
        );
      }
      for (const r of ns.routes) if (r.family === 6 && r.dev === link && r.src === a.address) r.src = undefined;
    });
  }

  // ----- routes -----

  listRoutes(ns: FakeNamespace, options: { table?: number; family?: Family } = {}): Route[] {
    const table = options.table ?? MAIN_TABLE;
    const families: Family[] = options.family ? [options.family] : [4, 6];
    const out: Route[] = [];
    for (const family of families) {
      const routes = ns.routes.filter((r) => r.family === family && r.table === table);
      out.push(...routes.map(routeView));
    }
    return out;
  }

  #parseDst(route: Route): { prefixLen: number; net: Uint8Array } {
    if (route.dst === 'default') return { prefixLen: 0, net: new Uint8Array(route.family === 4 ? 4 : 16) };
    const slash = route.dst.indexOf('/');
    const prefixLen = Number(route.dst.slice(slash + 1));
    return { prefixLen, net: networkBytes(requireIp(route.dst.slice(0, slash)).bytes, prefixLen) };
  }

  #isLocal(ns: FakeNamespace, ip: IpBytes): FakeAddress | undefined {
    return ns.addresses.find((a) => a.family === ip.family && bytesEqual(a.bytes, ip.bytes));
  }

  /** Longest-prefix match, lowest metric on ties. */
  #bestMatch(routes: FakeRoute[], addr: Uint8Array): FakeRoute | undefined {
    let best: FakeRoute | undefined;
    for (const r of routes) {
      if (!inPrefix(addr, r.net, r.prefixLen)) continue;
      if (!best || r.prefixLen > best.prefixLen || (r.prefixLen === best.prefixLen && r.metric < best.metric)) best = r;
    }
    return best;
  }

  /** The device a gateway is reached through, as fib_check_nh / ip6_validate_gw decide. */
  #resolveGateway(ns: FakeNamespace, family: Family, table: number, gw: IpBytes, dev: FakeLink | undefined, what: string): FakeLink {
    const inTable = (t: number): FakeRoute[] => ns.routes.filter((r) => r.family === family && r.table === t && (!dev || r.dev === dev));
    if (family === 4) {
      // Only link-scope routes can reach a gateway; gateway routes are skipped, so a
      // shorter connected route still matches.
      const linkScope = (t: number): FakeRoute | undefined =>
        this.#bestMatch(
          inTable(t).filter((r) => r.scope !== 'universe'),
          gw.bytes,
        );
      const viaTable = table !== MAIN_TABLE ? linkScope(table) : undefined;
      if (viaTable) return viaTable.dev;
      const local = this.#isLocal(ns, gw);
      if (local && (!dev || local.link === dev)) return local.link;
      const viaMain = linkScope(MAIN_TABLE);
      if (viaMain) return viaMain.dev;
      throw kernelError('ENETUNREACH', `${what}: gateway ${formatIp(gw.bytes)} is not reachable`);
    }
    if (this.#isLocal(ns, gw)) throw kernelError('EINVAL', `${what}: gateway ${formatIp(gw.bytes)} is a local address`);
    // The longest match must itself be on-link (not via another gateway).
    for (const t of table !== MAIN_TABLE ? [table, MAIN_TABLE] : [MAIN_TABLE]) {
      const best = this.#bestMatch(
        ns.routes.filter((r) => r.family === 6 && r.table === t),
        gw.bytes,
      );
      if (best && best.gateway === undefined && (!dev || best.dev === dev)) return best.dev;
    }
    throw kernelError('EHOSTUNREACH', `${what}: gateway ${formatIp(gw.bytes)} is not reachable`);
  }

  addRoute(ns: FakeNamespace, route: Route): void {
    this.#mutate(() => {
      const what = `add route ${route.dst}`;
      const dev = route.dev !== undefined ? this.#requireLink(ns, route.dev) : undefined;
      const family = route.family;
      const table = route.table ?? MAIN_TABLE;
      const metric = family === 6 ? route.metric || IPV6_USER_METRIC : (route.metric ?? 0);
      const { prefixLen, net } = this.#parseDst(route);
      let outDev: FakeLink;
      let gateway: string | undefined;
      if (route.gateway !== undefined) {
        const gw = requireIp(route.gateway);
        gateway = formatIp(gw.bytes);
        outDev = this.#resolveGateway(ns, family, table, gw, dev, what);
      } else {
        outDev = dev!;
      }
      if (!outDev.up) throw kernelError('ENETDOWN', `${what}: device ${outDev.name} is not up`, { route });
      let src: string | undefined;
      if (route.src !== undefined) {
        const s = requireIp(route.src);
        if (s.family !== family || !this.#isLocal(ns, s))
          throw kernelError('EINVAL', `${what}: preferred source ${route.src} is not a local address`, { route });
        src = formatIp(s.bytes);
      }
      if (
        ns.routes.some(
          (r) => r.family === family && r.table === table && r.prefixLen === prefixLen && bytesEqual(r.net, net) && r.metric === metric,
        )
      ) {
        throw kernelError('EEXIST', what, { route });
      }
      const scope = route.scope ?? (gateway !== undefined ? 'universe' : 'link');
      ns.routes.push({ family, table, prefixLen, net, gateway, dev: outDev, src, metric, proto: 'boot', scope });
    });
  }

  deleteRoute(ns: FakeNamespace, route: Route): void {
    this.#mutate(() => {
      const dev = route.dev !== undefined ? this.#requireLink(ns, route.dev) : undefined;
      const table = route.table ?? MAIN_TABLE;
      const { prefixLen, net } = this.#parseDst(route);
      const gateway = route.gateway !== undefined ? canonicalIp(route.gateway) : undefined;
      const src = route.src !== undefined ? canonicalIp(route.src) : undefined;
      const candidates = ns.routes
        .filter(
          (r) =>
            r.family === route.family &&
            r.table === table &&
            r.prefixLen === prefixLen &&
            bytesEqual(r.net, net) &&
            r.proto === 'boot' &&
            (!route.metric || r.metric === route.metric) &&
            (gateway === undefined || r.gateway === gateway) &&
            (dev === undefined || r.dev === dev) &&
            (src === undefined || route.family === 6 || r.src === src),
        )
        .sort((a, b) => a.metric - b.metric);
      const victim = candidates[0];
      if (!victim) throw kernelError('ESRCH', `delete route ${route.dst}`, { route });
      ns.routes = ns.routes.filter((r) => r !== victim);
    });
  }

  // ----- neighbours -----

  listNeighbors(ns: FakeNamespace, options: { link?: string; family?: Family } = {}): Neighbor[] {
    const families: Family[] = options.family ? [options.family] : [4, 6];
    const out: Neighbor[] = [];
    for (const family of families) {
      for (const n of ns.neighbors) {
        if (n.family !== family || (options.link !== undefined && n.link.name !== options.link)) continue;
        out.push({ link: n.link.name, address: n.address, lladdr: n.lladdr, state: n.state });
      }
    }
    return out;
  }

  setNeighbor(ns: FakeNamespace, neigh: Neighbor): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, neigh.link);
      const ip = requireIp(neigh.address);
      const address = formatIp(ip.bytes);
      const entry: FakeNeighbor = {
        link,
        family: ip.family,
        address,
        lladdr: normalizeMac(neigh.lladdr),
        state: neigh.state ?? 'permanent',
      };
      const i = ns.neighbors.findIndex((n) => n.link === link && n.address === address);
      if (i >= 0) ns.neighbors[i] = entry;
      else ns.neighbors.push(entry);
    });
  }

  deleteNeighbor(ns: FakeNamespace, neigh: Pick<Neighbor, 'link' | 'address'>): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, neigh.link);
      const address = canonicalIp(neigh.address);
      const i = ns.neighbors.findIndex((n) => n.link === link && n.address === address);
      if (i < 0) throw kernelError('ENOENT', `delete neighbour ${address} on ${link.name}`, { ...neigh });
      ns.neighbors.splice(i, 1);
    });
  }

  // ----- fdb -----

  listFdb(ns: FakeNamespace, options: { link?: string } = {}): FdbEntry[] {
    const out: FdbEntry[] = [];
    const links = [...ns.links.values()].sort((a, b) => a.index - b.index);
    for (const link of links) {
      if (link.kind === 'bridge') {
        const ports = this.#ports(link);
        // The kernel's own local entries: each port's MAC, and the bridge's MAC when no port has it.
        for (const p of ports) out.push({ link: p.name, mac: p.mac, master: true, permanent: true });
        if (link.mac !== ZERO_MAC && !ports.some((p) => p.mac === link.mac))
          out.push({ link: link.name, mac: link.mac, master: true, permanent: true });
        for (const e of link.bridgeFdb) {
          const entry: FdbEntry = { link: e.port.name, mac: e.mac, master: true };
          if (e.permanent) entry.permanent = true;
          out.push(entry);
        }
      }
      for (const e of link.vxlanFdb) {
        for (const dst of e.dsts) {
          const entry: FdbEntry = { link: link.name, mac: e.mac };
          if (dst !== undefined) entry.dst = dst;
          entry.self = true;
          if (e.permanent) entry.permanent = true;
          out.push(entry);
        }
      }
    }
    return options.link === undefined ? out : out.filter((e) => e.link === options.link);
  }

  /** Which tables an fdb request goes to, as rtnl_fdb_add/del route it. */
  #fdbTargets(link: FakeLink, entry: Pick<FdbEntry, 'self' | 'master'>): { master: boolean; self: boolean } {
    const self = entry.self ?? !entry.master;
    const masterFlag = entry.master ?? false;
    return { master: (masterFlag || (!self && !masterFlag)) && link.master !== undefined, self };
  }

  setFdb(ns: FakeNamespace, entry: FdbEntry): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, entry.link);
      const mac = normalizeMac(entry.mac);
      const dst = entry.dst !== undefined ? canonicalIp(entry.dst) : undefined;
      const permanent = entry.permanent !== false;
      const targets = this.#fdbTargets(link, entry);
      if (!targets.master && !targets.self) throw kernelError(ENOTSUP, `set fdb ${mac} on ${link.name}: not a bridge port`, { ...entry });
      if (targets.self && link.kind !== 'vxlan') {
        throw kernelError(ENOTSUP, `set fdb ${mac} on ${link.name}: the fake models self entries on vxlan devices only`, { ...entry });
      }
      if (targets.master) {
        const bridge = link.master!;
        const existing = bridge.bridgeFdb.find((e) => e.mac === mac);
        if (existing) {
          existing.port = link;
          existing.permanent = permanent;
        } else {
          bridge.bridgeFdb.push({ port: link, mac, permanent });
        }
      }
      if (targets.self) {
        const existing = link.vxlanFdb.find((e) => e.mac === mac);
        if (!existing) {
          link.vxlanFdb.push({ mac, dsts: [dst], permanent });
        } else if (isFloodMac(mac)) {
          if (!existing.dsts.includes(dst)) existing.dsts.push(dst);
          existing.permanent = permanent;
        } else {
          // A unicast MAC has one destination: the entry is replaced.
          existing.dsts = [dst];
          existing.permanent = permanent;
        }
      }
    });
  }

  deleteFdb(ns: FakeNamespace, entry: Pick<FdbEntry, 'link' | 'mac' | 'dst' | 'self' | 'master'>): void {
    this.#mutate(() => {
      const link = this.#requireLink(ns, entry.link);
      const mac = normalizeMac(entry.mac);
      const dst = entry.dst !== undefined ? canonicalIp(entry.dst) : undefined;
      const targets = this.#fdbTargets(link, entry);
      if (!targets.master && !targets.self)
        throw kernelError(ENOTSUP, `delete fdb ${mac} on ${link.name}: not a bridge port`, { ...entry });
      if (targets.master) {
        const bridge = link.master!;
        const i = bridge.bridgeFdb.findIndex((e) => e.mac === mac && e.port === link);
        if (i < 0) throw kernelError('ENOENT', `delete fdb ${mac} on ${link.name}`, { ...entry });
        bridge.bridgeFdb.splice(i, 1);
      }
      if (targets.self) {
        if (link.kind !== 'vxlan')
          throw kernelError(ENOTSUP, `delete fdb ${mac} on ${link.name}: the fake models self entries on vxlan devices only`, { ...entry });
        const e = link.vxlanFdb.find((x) => x.mac === mac);
        if (!e) throw kernelError('ENOENT', `delete fdb ${mac} on ${link.name}`, { ...entry });
        if (dst !== undefined) {
          // A destination the MAC does not have: the kernel answers success and keeps the entry.
          if (!e.dsts.includes(dst)) return;
          e.dsts = e.dsts.filter((d) => d !== dst);
        } else {
          e.dsts = [];
        }
        if (e.dsts.length === 0) link.vxlanFdb = link.vxlanFdb.filter((x) => x !== e);
      }
    });
  }
}

/** A new simulated kernel with no namespaces but the initial one (''). */
export function createFakeKernel(options: FakeKernelOptions = {}): FakeKernel {
  return new FakeKernel(options);
}
