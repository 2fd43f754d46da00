/**
 * Routing netlink for one network namespace, over the `netlink` package.
 *
 * The netlink socket is created inside the target namespace (native runInNetns) and
 * keeps talking to that namespace for its whole life, so one process drives many
 * namespaces with no `ip netns exec`. Kind-specific link data (IFLA_LINKINFO for vxlan
 * and veth) is encoded here by hand: the package passes it through as bytes.
 *
 * Kernel constraints that shape this file:
 * - 1,000 requests pipelined on a netlink socket with the default receive buffer abort
 *   the process inside the binding (uncatchable), so requests are limited to
 *   MAX_IN_FLIGHT at a time and the receive buffer is raised.
 * - A veth peer is created directly in its namespace with IFLA_NET_NS_FD inside
 *   VETH_INFO_PEER; creating it here and moving it would briefly expose it here.
 * - VXLAN fdb entries for the same MAC with different remotes are separate entries
 *   (the all-zero flood MAC usually has several), so fdb writes use NLM_F_APPEND.
 */
import { closeSync, openSync } from 'node:fs';
import { isIP } from 'node:net';
import { createRtNetlink, FlagsNew, rt, type RtNetlinkSocket } from 'netlink';
import { codeForErrno, deletedUnlessMissing, ShoalError } from '../common/errors.ts';
import { broadcastBytes, formatIp, ipToBytes, networkBytes } from '../common/ip.ts';
import { formatMac, isFloodMac, macToBytes } from '../common/mac.ts';
import { callNative, nativeError } from './native.ts';
import { netnsPath, nsPathOrNull, requireNetns } from './netns.ts';
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
  Rtnl,
  RtnlEvents,
  VxlanOptions,
  Watch,
} from './types.ts';
import {
  parseCidr,
  validateAddress,
  validateFdb,
  validateIfname,
  validateLinkChanges,
  validateLinkSpec,
  validateNeighbor,
  validateRoute,
} from './validate.ts';

const AF_INET = 2;
const AF_INET6 = 10;
const AF_BRIDGE = 7;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_VXLAN = { ID: 1, LOCAL: 4, TTL: 5, LEARNING: 7, PROXY: 11, L2MISS: 13, L3MISS: 14, PORT: 15, LOCAL6: 17 } as const;

const NETLINK_ROUTE = 0;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;

const MAIN_TABLE = 254;
const MAX_IN_FLIGHT = 200;
const SOCKET_BUFFER = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Attribute encoding (struct nlattr: u16 len, u16 type, payload, pad to 4)

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}
function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
}
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]);

/** struct ifinfomsg, all zero but the family (used inside VETH_INFO_PEER). */
const IFINFOMSG = Buffer.alloc(16);

/** RTM_DELLINK of the link named `name` (struct nlmsghdr, struct ifinfomsg, IFLA_IFNAME), acknowledged. */
export function delLinkRequest(name: string, seq: number): Buffer {
  const body = Buffer.concat([IFINFOMSG, attr(IFLA_IFNAME, cstr(name))]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(RTM_DELLINK, 4);
  h.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  h.writeUInt32LE(seq >>> 0, 8);
  return Buffer.concat([h, body]);
}

function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff; // strip NLA_F_NESTED / NET_BYTEORDER
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Errors

function errnoFromNetlink(err: unknown): string | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  return /Request rejected: (E[A-Z0-9]+)/.exec(msg)?.[1];
}

/** The error for a request the kernel refused with `errno`. */
function refused(errno: string, what: string, details: Record<string, unknown>): ShoalError {
  return new ShoalError(codeForErrno(errno, 'SHOAL_ERR_NETLINK'), `${what}: ${errno}`, { details, errno });
}

function kernelError(err: unknown, what: string, details: Record<string, unknown> = {}): ShoalError {
  if (err instanceof ShoalError) return err;
  const errno = errnoFromNetlink(err);
  return new ShoalError(
    codeForErrno(errno, 'SHOAL_ERR_NETLINK'),
    `${what}: ${errno ?? (err instanceof Error ? err.message : String(err))}`,
    {
      cause: err,
      details,
      ...(errno ? { errno } : {}),
    },
  );
}

// ---------------------------------------------------------------------------------------

class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];
  constructor(n: number) {
    this.available = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    }
  }
}

type RawLink = { index: number; name: string; flags: Record<string, unknown>; attrs: Record<string, unknown> };

function openSocket(netns: string): RtNetlinkSocket {
  return callNative(`open rtnetlink socket in ${netns || 'the current namespace'}`, (n) =>
    n.runInNetns(nsPathOrNull(netns), () => createRtNetlink({ recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER })),
  );
}

class KernelRtnl implements Rtnl {
  readonly netns: string;
  private readonly sock: RtNetlinkSocket;
  private readonly limit = new Semaphore(MAX_IN_FLIGHT);
  /** The kernel runs one dump per netlink socket at a time (a second one gets EBUSY). */
  private readonly dumpLock = new Semaphore(1);
  private indexCache = new Map<string, number>();
  private readonly indexLookups = new Map<string, Promise<number>>();
  private closed = false;
  /**
   * A second socket, for requests the kernel may take long over (link deletes wait for RCU
   * grace periods: 20 ms idle, hundreds under load), sent on a pool thread (native
   * netlinkAck) so that the event loop goes on meanwhile; one request at a time.
   */
  private slowFd: number | undefined;
  private readonly slowLock = new Semaphore(1);
  private slowSeq = 0;
  private slowInFlight = 0;

  constructor(netns: string, sock: RtNetlinkSocket) {
    this.netns = netns;
    this.sock = sock;
  }

  private dump<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.dumpLock.run(() => this.call(what, {}, fn));
  }

  private async call<T>(what: string, details: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ShoalError('SHOAL_ERR_CLOSED', `rtnetlink handle for ${this.netns || 'current namespace'} is closed`);
    try {
      return await this.limit.run(fn);
    } catch (err) {
      throw kernelError(err, what, { netns: this.netns, ...details });
    }
  }

  // ----- links -----

  private async rawLinks(): Promise<RawLink[]> {
    const msgs = await this.dump('list links', () => this.sock.getLinks());
    return msgs.map((m) => ({
      index: m.data.index ?? 0,
      name: m.attrs.ifname ?? '',
      flags: (m.data.flags ?? {}) as Record<string, unknown>,
      attrs: m.attrs as Record<string, unknown>,
    }));
  }

  private toLink(raw: RawLink, names: Map<number, string>): Link {
    const a = raw.attrs;
    const info = a['linkinfo'] instanceof Buffer ? parseAttrs(a['linkinfo']) : new Map<number, Buffer>();
    const kindText = info.get(IFLA_INFO_KIND)?.toString('utf8').replace(/\0+$/, '');
    const kind: LinkKind = kindText === 'bridge' || kindText === 'vxlan' || kindText === 'veth' ? kindText : 'other';
    const link: Link = {
      index: raw.index,
      name: raw.name,
      kind,
      mtu: typeof a['mtu'] === 'number' ? a['mtu'] : 0,
      mac: formatMac(a['address'] as Buffer | undefined),
      up: raw.flags['up'] === true,
    };
    const master = a['master'];
    if (typeof master === 'number' && master > 0) {
      const m = names.get(master);
      if (m !== undefined) link.master = m;
    }
    if (kind === 'vxlan') {
      const d = parseAttrs(info.get(IFLA_INFO_DATA) ?? Buffer.alloc(0));
      const local = d.get(IFLA_VXLAN.LOCAL) ?? d.get(IFLA_VXLAN.LOCAL6);
      const v: VxlanOptions = {
        vni: d.get(IFLA_VXLAN.ID)?.readUInt32LE(0) ?? 0,
        dstport: d.get(IFLA_VXLAN.PORT)?.readUInt16BE(0) ?? 0,
        learning: (d.get(IFLA_VXLAN.LEARNING)?.[0] ?? 0) !== 0,
        proxy: (d.get(IFLA_VXLAN.PROXY)?.[0] ?? 0) !== 0,
        l2miss: (d.get(IFLA_VXLAN.L2MISS)?.[0] ?? 0) !== 0,
        l3miss: (d.get(IFLA_VXLAN.L3MISS)?.[0] ?? 0) !== 0,
      };
      if (local && local.some((b) => b !== 0)) v.local = formatIp(local);
      const ttl = d.get(IFLA_VXLAN.TTL)?.[0] ?? 0;
      if (ttl) v.ttl = ttl;
      link.vxlan = v;
    }
    if (kind === 'veth' && a['link'] !== undefined) {
      const peer = a['link'];
      const idx = Buffer.isBuffer(peer) && peer.length >= 4 ? peer.readUInt32LE(0) : typeof peer === 'number' ? peer : undefined;
      if (idx !== undefined) link.peerIndex = idx;
    }
    return link;
  }

  async listLinks(): Promise<Link[]> {
    const raws = await this.rawLinks();
    const names = new Map(raws.map((r) => [r.index, r.name]));
    this.indexCache = new Map(raws.map((r) => [r.name, r.index]));
    return raws.map((r) => this.toLink(r, names)).sort((x, y) => x.index - y.index);
  }

  /** One link by name: a single RTM_GETLINK (and one more to name its master), not a dump. */
  async getLink(name: string): Promise<Link | undefined> {
    validateIfname(name);
    const raw = await this.linkBy({ ifname: name }, name);
    if (!raw) return undefined;
    this.indexCache.set(raw.name, raw.index);
    const names = new Map<number, string>([[raw.index, raw.name]]);
    const master = raw.attrs['master'];
    if (typeof master === 'number' && master > 0) {
      const m = await this.linkBy({ index: master }, `index ${master}`);
      if (m) names.set(m.index, m.name);
    }
    return this.toLink(raw, names);
  }

  private async linkBy(key: { ifname: string } | { index: number }, what: string): Promise<RawLink | undefined> {
    try {
      const msgs = await this.call(`get link ${what}`, {}, () =>
        'ifname' in key ? this.sock.getLink({}, { ifname: key.ifname }) : this.sock.getLink({ index: key.index }),
      );
      const m = msgs[0];
      if (!m) return undefined;
      return {
        index: m.data.index ?? 0,
        name: m.attrs.ifname ?? '',
        flags: (m.data.flags ?? {}) as Record<string, unknown>,
        attrs: m.attrs as Record<string, unknown>,
      };
    } catch (err) {
      if (err instanceof ShoalError && (err.errno === 'ENODEV' || err.errno === 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * The ifindex of a link by name; SHOAL_ERR_LINK_NOT_FOUND when missing. Lookups are
   * cached and concurrent lookups of one name share a single request.
   */
  private indexOf(name: string): Promise<number> {
    const cached = this.indexCache.get(name);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.indexLookups.get(name);
    if (pending) return pending;
    const lookup = this.lookupIndex(name).finally(() => this.indexLookups.delete(name));
    this.indexLookups.set(name, lookup);
    return lookup;
  }

  private async lookupIndex(name: string): Promise<number> {
    const notFound = (cause?: unknown): ShoalError =>
      new ShoalError('SHOAL_ERR_LINK_NOT_FOUND', `link ${name} does not exist in ${this.netns || 'the current namespace'}`, {
        ...(cause ? { cause } : {}),
        details: { link: name, netns: this.netns },
        errno: 'ENODEV',
      });
    const msgs = await this.call(`look up link ${name}`, { link: name }, () => this.sock.getLink({}, { ifname: name })).catch(
      (err: unknown) => {
        if (err instanceof ShoalError && (err.errno === 'ENODEV' || err.errno === 'ENOENT')) throw notFound(err);
        throw err;
      },
    );
    const index = msgs[0]?.data.index;
    if (index === undefined) throw notFound();
    this.indexCache.set(name, index);
    return index;
  }

  /** Runs op with the link's index; on a stale cached index, refreshes once and retries. */
  private async withIndex<T>(name: string, op: (index: number) => Promise<T>): Promise<T> {
    const wasCached = this.indexCache.has(name);
    const index = await this.indexOf(name);
    try {
      return await op(index);
    } catch (err) {
      if (wasCached && err instanceof ShoalError && err.errno === 'ENODEV') {
        this.indexCache.delete(name);
        return op(await this.indexOf(name));
      }
      throw err;
    }
  }

  async addLink(spec: LinkSpec): Promise<void> {
    validateLinkSpec(spec);
    let masterIndex: number | undefined;
    if (spec.master !== undefined) masterIndex = await this.indexOf(spec.master);
    if (spec.veth?.peerNetns !== undefined) await requireNetns(spec.veth.peerNetns);

    const infoParts: Buffer[] = [attr(IFLA_INFO_KIND, cstr(spec.kind))];
    let peerFd: number | undefined;
    try {
      if (spec.kind === 'vxlan' && spec.vxlan) {
        const v = spec.vxlan;
        const data: Buffer[] = [
          attr(IFLA_VXLAN.ID, u32(v.vni)),
          attr(IFLA_VXLAN.PORT, be16(v.dstport)),
          attr(IFLA_VXLAN.LEARNING, u8(v.learning ? 1 : 0)),
          attr(IFLA_VXLAN.PROXY, u8(v.proxy ? 1 : 0)),
          attr(IFLA_VXLAN.L2MISS, u8(v.l2miss ? 1 : 0)),
          attr(IFLA_VXLAN.L3MISS, u8(v.l3miss ? 1 : 0)),
        ];
        if (v.local) data.push(attr(isIP(v.local) === 6 ? IFLA_VXLAN.LOCAL6 : IFLA_VXLAN.LOCAL, ipToBytes(v.local)));
        if (v.ttl) data.push(attr(IFLA_VXLAN.TTL, u8(v.ttl)));
        infoParts.push(attr(IFLA_INFO_DATA, Buffer.concat(data)));
      } else if (spec.kind === 'veth' && spec.veth) {
        const peerAttrs: Buffer[] = [attr(IFLA_IFNAME, cstr(spec.veth.peerName))];
        if (spec.veth.peerMac) peerAttrs.push(attr(IFLA_ADDRESS, macToBytes(spec.veth.peerMac)));
        if (spec.mtu) peerAttrs.push(attr(IFLA_MTU, u32(spec.mtu)));
        if (spec.veth.peerNetns !== undefined) {
          peerFd = openSync(netnsPath(spec.veth.peerNetns), 'r');
          peerAttrs.push(attr(IFLA_NET_NS_FD, u32(peerFd)));
        }
        infoParts.push(attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, Buffer.concat([IFINFOMSG, ...peerAttrs]))));
      }
      const attrs: Record<string, unknown> = { ifname: spec.name, linkinfo: Buffer.concat(infoParts) };
      if (spec.mtu !== undefined) attrs['mtu'] = spec.mtu;
      if (spec.mac !== undefined) attrs['address'] = macToBytes(spec.mac);
      if (masterIndex !== undefined) attrs['master'] = masterIndex;
      const data = spec.up ? { flags: { up: true }, change: { up: true } } : {};
      await this.call(`add ${spec.kind} link ${spec.name}`, { link: spec.name }, () =>
        this.sock.newLink(data as rt.Link, attrs as never, { flags: FlagsNew.CREATE | FlagsNew.EXCL }),
      );
    } finally {
      if (peerFd !== undefined) closeSync(peerFd);
    }
  }

  async setLink(name: string, changes: LinkChanges): Promise<void> {
    validateLinkChanges(name, changes);
    let masterIndex: number | undefined;
    if (typeof changes.master === 'string') masterIndex = await this.indexOf(changes.master);
    if (changes.netns !== undefined) await requireNetns(changes.netns);
    await this.withIndex(name, async (index) => {
      const attrs: Record<string, unknown> = {};
      if (changes.mtu !== undefined) attrs['mtu'] = changes.mtu;
      if (changes.mac !== undefined) attrs['address'] = macToBytes(changes.mac);
      if (changes.master === null) attrs['master'] = 0;
      else if (masterIndex !== undefined) attrs['master'] = masterIndex;
      if (changes.name !== undefined) attrs['ifname'] = changes.name;
      const data: Record<string, unknown> = { index };
      if (changes.up !== undefined) {
        data['flags'] = changes.up ? { up: true } : {};
        data['change'] = { up: true };
      }
      let fd: number | undefined;
      try {
        if (changes.netns !== undefined) {
          fd = openSync(netnsPath(changes.netns), 'r');
          attrs['netNsFd'] = fd;
        }
        // Attributes first, then the up flag: a rename or namespace move must happen on a down link.
        if (Object.keys(attrs).length > 0) {
          await this.call(`set link ${name}`, { link: name }, () => this.sock.setLink({ index } as rt.Link, attrs as never));
        }
        if (data['flags'] !== undefined && changes.netns === undefined) {
          await this.call(`set link ${name} ${changes.up ? 'up' : 'down'}`, { link: name }, () => this.sock.setLink(data as rt.Link, {}));
        }
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    });
    if (changes.name !== undefined || changes.netns !== undefined) this.indexCache.delete(name);
  }

  async deleteLink(name: string): Promise<boolean> {
    validateIfname(name);
    try {
      // by name (IFLA_IFNAME), on the slow path: no index lookup, no stall of the event loop
      return await deletedUnlessMissing(() =>
        this.call(`delete link ${name}`, { link: name }, () =>
          this.slowRequest(`delete link ${name}`, { link: name }, (seq) => delLinkRequest(name, seq)),
        ),
      );
    } finally {
      this.indexCache.delete(name);
    }
  }

  /** Sends one request on the slow socket and waits for its acknowledgement; a refusal throws. */
  private slowRequest(what: string, details: Record<string, unknown>, build: (seq: number) => Buffer): Promise<void> {
    return this.slowLock.run(async () => {
      if (this.closed) throw new ShoalError('SHOAL_ERR_CLOSED', `rtnetlink handle for ${this.netns || 'current namespace'} is closed`);
      const fd = (this.slowFd ??= callNative(`open rtnetlink socket in ${this.netns || 'the current namespace'}`, (n) =>
        n.openSocket(nsPathOrNull(this.netns), n.constants.AF_NETLINK, n.constants.SOCK_RAW, NETLINK_ROUTE, null, 0),
      ));
      this.slowSeq = (this.slowSeq + 1) >>> 0;
      this.slowInFlight++;
      let errno: string;
      try {
        errno = await callNative(what, (n) => n.netlinkAck(fd, build(this.slowSeq))).catch((err: unknown) => {
          throw nativeError(err, what);
        });
      } finally {
        this.slowInFlight--;
        if (this.closed && this.slowInFlight === 0) this.closeSlow();
      }
      if (errno !== '') throw refused(errno, what, { netns: this.netns, ...details });
    });
  }

  private closeSlow(): void {
    if (this.slowFd === undefined) return;
    closeSync(this.slowFd);
    this.slowFd = undefined;
  }

  // ----- addresses -----

  async listAddresses(link?: string): Promise<Address[]> {
    if (link !== undefined) validateIfname(link);
    const [names, msgs] = await Promise.all([this.linkNames(), this.dump('list addresses', () => this.sock.getAddresses())]);
    const out: Address[] = [];
    for (const m of msgs) {
      const name = names.get(m.data.index ?? -1);
      const bytes = m.attrs.local ?? m.attrs.address;
      if (name === undefined || !bytes) continue;
      if (link !== undefined && name !== link) continue;
      out.push({ link: name, address: formatIp(bytes), prefixLen: m.data.prefixlen ?? 0 });
    }
    return out;
  }

  private async linkNames(): Promise<Map<number, string>> {
    const raws = await this.rawLinks();
    this.indexCache = new Map(raws.map((r) => [r.name, r.index]));
    return new Map(raws.map((r) => [r.index, r.name]));
  }

  async addAddress(addr: Address): Promise<void> {
    const family = validateAddress(addr);
    await this.withIndex(addr.link, (index) => {
      const bytes = ipToBytes(addr.address);
      const attrs: rt.AddressAttrs = { local: bytes, address: bytes };
      if (family === 4 && addr.prefixLen < 31) attrs.broadcast = broadcastBytes(bytes, addr.prefixLen);
      return this.call(`add address ${addr.address}/${addr.prefixLen} to ${addr.link}`, { ...addr }, () =>
        this.sock.newAddress({ family: family === 4 ? AF_INET : AF_INET6, prefixlen: addr.prefixLen, index, scope: 0 }, attrs, {
          flags: FlagsNew.CREATE | FlagsNew.EXCL,
        }),
      );
    });
  }

  async deleteAddress(addr: Address): Promise<boolean> {
    const family = validateAddress(addr);
    return deletedUnlessMissing(async () => {
      await this.withIndex(addr.link, (index) =>
        this.call(`delete address ${addr.address}/${addr.prefixLen} from ${addr.link}`, { ...addr }, () =>
          this.sock.delAddress(
            { family: family === 4 ? AF_INET : AF_INET6, prefixlen: addr.prefixLen, index },
            { local: ipToBytes(addr.address), address: ipToBytes(addr.address) },
          ),
        ),
      );
    });
  }

  // ----- routes -----

  async listRoutes(options: { table?: number; family?: Family } = {}): Promise<Route[]> {
    const table = options.table ?? MAIN_TABLE;
    const families = options.family ? [options.family] : ([4, 6] as Family[]);
    const names = await this.linkNames();
    const out: Route[] = [];
    for (const family of families) {
      const msgs = await this.dump('list routes', () => this.sock.getRoutes({ family: family === 4 ? AF_INET : AF_INET6 }));
      for (const m of msgs) {
        const t = m.attrs.table ?? m.data.table;
        if (t !== table) continue;
        const type = m.data.type;
        if (type !== 'UNICAST' && type !== 1) continue;
        const dstLen = m.data.dstLen ?? 0;
        const route: Route = {
          family,
          dst:
            dstLen === 0 && !m.attrs.dst ? 'default' : `${m.attrs.dst ? formatIp(m.attrs.dst) : family === 4 ? '0.0.0.0' : '::'}/${dstLen}`,
        };
        if (m.attrs.gateway) route.gateway = formatIp(m.attrs.gateway);
        if (m.attrs.oif !== undefined) {
          const dev = names.get(m.attrs.oif);
          if (dev !== undefined) route.dev = dev;
        }
        if (m.attrs.prefsrc) route.src = formatIp(m.attrs.prefsrc);
        route.table = table;
        if (m.attrs.priority && !(family === 6 && m.attrs.priority === 1024)) route.metric = m.attrs.priority;
        out.push(route);
      }
    }
    return out;
  }

  private async routeMessage(route: Route): Promise<{ data: rt.Route; attrs: rt.RouteAttrs }> {
    const table = route.table ?? MAIN_TABLE;
    let dstLen = 0;
    const attrs: rt.RouteAttrs = {};
    if (route.dst !== 'default') {
      const c = parseCidr(route.dst);
      dstLen = c.prefixLen;
      attrs.dst = networkBytes(ipToBytes(c.address), c.prefixLen);
    }
    if (route.gateway) attrs.gateway = ipToBytes(route.gateway);
    if (route.dev) attrs.oif = await this.indexOf(route.dev);
    if (route.src) attrs.prefsrc = ipToBytes(route.src);
    if (route.metric) attrs.priority = route.metric;
    attrs.table = table;
    const scope = route.scope ?? (route.gateway ? 'universe' : 'link');
    const data: rt.Route = {
      family: route.family === 4 ? AF_INET : AF_INET6,
      dstLen,
      table: table < 256 ? table : 252, // RT_TABLE_COMPAT; the real id rides in RTA_TABLE
      protocol: 'BOOT',
      scope: scope === 'universe' ? 'UNIVERSE' : scope === 'link' ? 'LINK' : 'HOST',
      type: 'UNICAST',
    };
    return { data, attrs };
  }

  async addRoute(route: Route): Promise<void> {
    validateRoute(route);
    const { data, attrs } = await this.routeMessage(route);
    await this.call(`add route ${route.dst}`, { route }, () => this.sock.newRoute(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL }));
  }

  async deleteRoute(route: Route): Promise<boolean> {
    validateRoute(route);
    return deletedUnlessMissing(async () => {
      const { data, attrs } = await this.routeMessage(route);
      data.scope = 'NOWHERE'; // on delete, RT_SCOPE_NOWHERE matches a route of any scope
      await this.call(`delete route ${route.dst}`, { route }, () => this.sock.delRoute(data, attrs));
    });
  }

  // ----- neighbours -----

  async listNeighbors(options: { link?: string; family?: Family } = {}): Promise<Neighbor[]> {
    const names = await this.linkNames();
    const families = options.family ? [options.family] : ([4, 6] as Family[]);
    const out: Neighbor[] = [];
    for (const family of families) {
      const msgs = await this.dump('list neighbours', () => this.sock.getNeighbors({ family: family === 4 ? AF_INET : AF_INET6 }));
      for (const m of msgs) {
        const link = names.get(m.data.ifindex ?? -1);
        if (link === undefined || !m.attrs.dst) continue;
        if (options.link !== undefined && link !== options.link) continue;
        const n: Neighbor = { link, address: formatIp(m.attrs.dst), lladdr: formatMac(m.attrs.lladdr) };
        const state = neighborState(m.data.state as Record<string, unknown> | undefined);
        if (state) n.state = state;
        out.push(n);
      }
    }
    return out;
  }

  async setNeighbor(neigh: Neighbor): Promise<void> {
    validateNeighbor(neigh);
    const family = isIP(neigh.address) === 4 ? AF_INET : AF_INET6;
    await this.withIndex(neigh.link, (ifindex) =>
      this.call(`set neighbour ${neigh.address} on ${neigh.link}`, { ...neigh }, () =>
        this.sock.newNeighbor(
          { family, ifindex, state: stateFlags(neigh.state ?? 'permanent') },
          { dst: ipToBytes(neigh.address), lladdr: macToBytes(neigh.lladdr) },
          { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
        ),
      ),
    );
  }

  async deleteNeighbor(neigh: Pick<Neighbor, 'link' | 'address'>): Promise<boolean> {
    validateNeighbor(neigh);
    const family = isIP(neigh.address) === 4 ? AF_INET : AF_INET6;
    return deletedUnlessMissing(async () => {
      await this.withIndex(neigh.link, (ifindex) =>
        this.call(`delete neighbour ${neigh.address} on ${neigh.link}`, { ...neigh }, () =>
          this.sock.delNeighbor({ family, ifindex }, { dst: ipToBytes(neigh.address) }),
        ),
      );
    });
  }

  // ----- bridge fdb -----

  async listFdb(options: { link?: string } = {}): Promise<FdbEntry[]> {
    const names = await this.linkNames();
    const msgs = await this.dump('list fdb', () => this.sock.getNeighbors({ family: AF_BRIDGE }));
    const out: FdbEntry[] = [];
    for (const m of msgs) {
      const link = names.get(m.data.ifindex ?? -1);
      if (link === undefined) continue;
      if (options.link !== undefined && link !== options.link) continue;
      const flags = (m.data.flags ?? {}) as Record<string, unknown>;
      const state = (m.data.state ?? {}) as Record<string, unknown>;
      const entry: FdbEntry = { link, mac: formatMac(m.attrs.lladdr) };
      if (m.attrs.dst) entry.dst = formatIp(m.attrs.dst);
      if (flags['self']) entry.self = true;
      if (flags['master'] || m.attrs.master !== undefined) entry.master = true;
      if (state['permanent']) entry.permanent = true;
      out.push(entry);
    }
    return out;
  }

  async setFdb(entry: FdbEntry): Promise<void> {
    validateFdb(entry);
    await this.withIndex(entry.link, (ifindex) => {
      const attrs: rt.NeighborAttrs = { lladdr: macToBytes(entry.mac) };
      if (entry.dst) attrs.dst = ipToBytes(entry.dst);
      const flags: rt.NeighborFlags = {};
      if (entry.self ?? !entry.master) flags.self = true;
      if (entry.master) flags.master = true;
      return this.call(`set fdb ${entry.mac} on ${entry.link}`, { ...entry }, () =>
        this.sock.newNeighbor(
          { family: AF_BRIDGE, ifindex, state: entry.permanent === false ? { reachable: true } : { permanent: true }, flags },
          attrs,
          // A unicast MAC has one remote: REPLACE moves it to a new VTEP (APPEND would keep
          // the old one). The all-zero and multicast MACs hold a list of remotes, which
          // only APPEND extends (REPLACE on them is EOPNOTSUPP).
          { flags: FlagsNew.CREATE | (isFloodMac(entry.mac) ? FlagsNew.APPEND : FlagsNew.REPLACE) },
        ),
      );
    });
  }

  async deleteFdb(entry: Pick<FdbEntry, 'link' | 'mac' | 'dst' | 'self' | 'master'>): Promise<boolean> {
    validateFdb(entry);
    return deletedUnlessMissing(async () => {
      await this.withIndex(entry.link, (ifindex) => {
        const attrs: rt.NeighborAttrs = { lladdr: macToBytes(entry.mac) };
        if (entry.dst) attrs.dst = ipToBytes(entry.dst);
        const flags: rt.NeighborFlags = {};
        if (entry.self ?? !entry.master) flags.self = true;
        if (entry.master) flags.master = true;
        return this.call(`delete fdb ${entry.mac} on ${entry.link}`, { ...entry }, () =>
          this.sock.delNeighbor({ family: AF_BRIDGE, ifindex, flags }, attrs),
        );
      });
    });
  }

  // ----- events -----

  async watch(handlers: Partial<RtnlEvents>): Promise<Watch> {
    const sock = openSocket(this.netns);
    sock.addMembership('LINK');
    sock.addMembership('NEIGH');
    sock.socket.ref(true);
    const names = await this.linkNames();
    const raw = sock.socket;
    raw.on('message', (msgs) => {
      for (const m of msgs) {
        try {
          if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
            const parsed = rt.parseMessage(m.type, m.data) as rt.LinkMessage;
            // The bridge reports port changes (a port released) as AF_BRIDGE link messages,
            // an RTM_DELLINK among them: the link itself still exists.
            if (parsed.data.family === AF_BRIDGE) continue;
            const r: RawLink = {
              index: parsed.data.index ?? 0,
              name: parsed.attrs.ifname ?? '',
              flags: (parsed.data.flags ?? {}) as Record<string, unknown>,
              attrs: parsed.attrs as Record<string, unknown>,
            };
            if (m.type === RTM_NEWLINK) names.set(r.index, r.name);
            const event: LinkEvent = { type: m.type === RTM_NEWLINK ? 'new' : 'del', link: this.toLink(r, names) };
            if (m.type === RTM_DELLINK) names.delete(r.index);
            handlers.link?.(event);
          } else if (m.type === RTM_GETNEIGH || m.type === RTM_NEWNEIGH) {
            const parsed = rt.parseMessage(m.type, m.data) as rt.NeighborMessage;
            const miss = this.toMiss(m.type, parsed, names);
            if (miss) handlers.miss?.(miss);
          }
        } catch (err) {
          handlers.error?.(kernelError(err, 'parse rtnetlink event'));
        }
      }
    });
    raw.on('error', (err) => handlers.error?.(kernelError(err, 'rtnetlink event socket')));
    return {
      close: () => {
        try {
          sock.socket.close();
        } catch {
          /* already closed */
        }
      },
    };
  }

  /**
   * A VXLAN device with l3miss/l2miss reports a miss as RTM_GETNEIGH: an l3miss carries
   * the destination IP (NDA_DST) and no MAC; an l2miss carries the MAC (NDA_LLADDR).
   */
  private toMiss(type: number, m: rt.NeighborMessage, names: Map<number, string>): NeighborMiss | undefined {
    if (type !== RTM_GETNEIGH) return undefined;
    const link = names.get(m.data.ifindex ?? -1) ?? `if${m.data.ifindex ?? '?'}`;
    const dst = m.attrs.dst;
    const lladdr = m.attrs.lladdr;
    if (
      dst &&
      dst.some((b) => b !== 0) &&
      (m.data.family === AF_INET || m.data.family === AF_INET6 || !lladdr || lladdr.every((b) => b === 0))
    ) {
      return { kind: 'l3miss', link, address: formatIp(dst) };
    }
    if (lladdr && lladdr.length === 6) return { kind: 'l2miss', link, mac: formatMac(lladdr) };
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // a request in flight still uses the slow socket: it is closed when that one returns
    if (this.slowInFlight === 0) this.closeSlow();
    try {
      this.sock.socket.close();
    } catch {
      /* already closed */
    }
  }
}

const STATE_ORDER: NeighborState[] = ['permanent', 'noarp', 'reachable', 'stale', 'delay', 'probe', 'failed', 'incomplete'];

function neighborState(flags: Record<string, unknown> | undefined): NeighborState | undefined {
  if (!flags) return undefined;
  for (const s of STATE_ORDER) if (flags[s]) return s;
  return 'none';
}

function stateFlags(state: NeighborState): rt.NeighborState {
  if (state === 'none') return {};
  return { [state]: true } as rt.NeighborState;
}

/** Opens a routing-netlink handle on a namespace ('' = the current one). */
export async function openRtnl(netns: string): Promise<Rtnl> {
  await requireNetns(netns);
  return new KernelRtnl(netns, openSocket(netns));
}
