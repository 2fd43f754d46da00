/**
 * The overlay planner: OverlayModel -> the complete desired kernel state of this node,
 * partitioned per namespace. Pure: no I/O, no clock, the same model gives the same plan.
 *
 * What it plans (ARCHITECTURE.md, "Kernel objects on a node"; names in names.ts):
 * - per network, namespace `<prefix>ov-<id12>` with lo up; `br0` (bridge, up, the overlay
 *   MTU, the gateway address); `vx<vni>` (VXLAN id vni, dstport, local = vtep,
 *   nolearning proxy l2miss l3miss, the overlay MTU, port of br0, up), created in the host
 *   namespace and moved in; for every remote endpoint, `neigh IP lladdr MAC permanent` and
 *   `fdb MAC dst VTEP self permanent` on vx<vni>;
 * - per sandbox, namespace `<prefix>sb-<id12>` with lo up; per attachment i, a veth whose
 *   end `v<id12>` is a port of that network's br0 and whose peer `eth<i>` has the
 *   attachment's MAC and address; with egress, a veth `<lp>e<5>` on the gateway bridge
 *   and its peer `eth<N>` (N = number of attachments) with the egress address, and the
 *   default route through the egress gateway. Without egress, no default route;
 * - in the host namespace, when any sandbox has egress: bridge `<lp>gw0` with the egress
 *   gateway, the egress nftables table (plan-egress.ts) and net.ipv4.ip_forward = 1.
 *
 * The overlay MTU is the network's own (`com.docker.network.driver.mtu`) or the underlay's
 * minus 50 (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).
 *
 * A model item that cannot be programmed (a bad address, an unknown network, two items
 * claiming one object) is left out and reported in `problems`; everything else is still
 * planned. Only a model that cannot be planned at all (bad prefix, VTEP, underlay MTU or
 * port) throws SHOAL_ERR_OVERLAY_BAD_MODEL. Conflicts are resolved in a fixed order
 * (networks and sandboxes by id, remotes by network, address and VTEP): the first wins.
 */
import { bytesEqual, canonicalIp, inPrefix, networkBytes, parseIp } from '../common/ip.ts';
import { macForAddress, normalizeMac } from '../common/mac.ts';
import type { FdbEntry, Neighbor, Route, VxlanOptions } from '../kernel/types.ts';
import { validateIfname, validateNetnsName } from '../kernel/validate.ts';
import { overlayError } from './errors.ts';
import type { OverlayModel, OverlayNetwork, RemoteEndpoint } from './model.ts';
import {
  egressBridgeName,
  egressTableName,
  egressVethName,
  OVERLAY_BRIDGE,
  overlayNetnsName,
  PREFIX_RE,
  isSandboxIfname,
  sandboxIfname,
  sandboxNetnsName,
  sandboxVethName,
  tempVxlanName,
  vxlanName,
} from './names.ts';
import type { DesiredLink, NsDesired, OverlayDesired, OverlayProblem } from './objects.ts';
import { planEgressTable } from './plan-egress.ts';

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

const MIN_MTU = 68;
const MAX_MTU = 65535;

/** The MTU of a network's overlay: its own, or the underlay's minus the VXLAN overhead. */
export function overlayMtu(network: Pick<OverlayNetwork, 'mtu'>, underlayMtu: number): number {
  return network.mtu ?? underlayMtu - VXLAN_OVERHEAD;
}

/** Docker's static VXLAN mode: no learning, ARP answered from the neighbour table, misses reported. */
export function vxlanOptions(vni: number, dstport: number, local: string): VxlanOptions {
  return { vni, dstport, local, learning: false, proxy: true, l2miss: true, l3miss: true };
}

interface Cidr {
  address: string;
  prefixLen: number;
  net: Buffer;
  bytes: Buffer;
}

/** "a.b.c.d/len" (IPv4) with host bits allowed; undefined when it does not parse. */
function parseV4Cidr(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || ip.family !== 4 || !/^\d{1,2}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return undefined;
  return { address: canonicalIp(text.slice(0, slash)), prefixLen, net: networkBytes(ip.bytes, prefixLen), bytes: ip.bytes };
}

function parseV4(text: string): Buffer | undefined {
  const ip = parseIp(text);
  return ip && ip.family === 4 && !text.includes('%') ? ip.bytes : undefined;
}

function isMtu(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_MTU && v <= MAX_MTU;
}

function emptyNs(name: string, role: NsDesired['role']): NsDesired {
  return { name, role, links: [], addresses: [], routes: [], neighbors: [], fdb: [], nft: [], sysctls: [] };
}

const LOOPBACK_UP: DesiredLink = { name: 'lo', kind: 'other', up: true, create: 'existing' };

interface PlannedNetwork {
  network: OverlayNetwork;
  netns: NsDesired;
  subnet: Cidr;
  gateway: string;
  mtu: number;
  vx: string;
  /** Addresses in use on this network (gateway, local sandboxes, remotes) -> who holds it. */
  addresses: Map<string, string>;
  macs: Map<string, string>;
}

function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Plans the complete desired overlay state of this node. */
export function planOverlay(model: OverlayModel): OverlayDesired {
  if (typeof model.prefix !== 'string' || !PREFIX_RE.test(model.prefix)) {
    throw overlayError(
      'SHOAL_ERR_OVERLAY_BAD_MODEL',
      `prefix ${JSON.stringify(model.prefix)} must start with a letter and hold only letters, digits, '-', '_' and '.' (at most 64 characters)`,
      { prefix: model.prefix },
    );
  }
  const vtepBytes = parseV4(model.vtep);
  if (!vtepBytes) throw overlayError('SHOAL_ERR_OVERLAY_BAD_MODEL', `VTEP ${JSON.stringify(model.vtep)} is not an IPv4 address`);
  const vtep = canonicalIp(model.vtep);
  if (!isMtu(model.underlayMtu)) {
    throw overlayError('SHOAL_ERR_OVERLAY_BAD_MODEL', `underlay MTU ${model.underlayMtu} is out of range ${MIN_MTU}-${MAX_MTU}`);
  }
  if (!Number.isInteger(model.dataPort) || model.dataPort < 1 || model.dataPort > 65535) {
    throw overlayError('SHOAL_ERR_OVERLAY_BAD_MODEL', `VXLAN port ${model.dataPort} is out of range 1-65535`);
  }
  const prefix = model.prefix;
  const problems: OverlayProblem[] = [];
  const problem = (code: OverlayProblem['code'], item: string, message: string): void => {
    problems.push({ code, item, message });
  };
  const host = emptyNs('', 'host');
  const namespaces = new Map<string, NsDesired>([['', host]]);

  // ----- networks -----
  const networks = new Map<string, PlannedNetwork>();
  const vnis = new Map<number, string>();
  const netnsOwners = new Map<string, string>();
  for (const n of byId(model.networks)) {
    const item = `network ${n.id}`;
    const subnet = parseV4Cidr(n.subnet);
    const gw = parseV4(n.gateway);
    const mtu = overlayMtu(n, model.underlayMtu);
    if (typeof n.id !== 'string' || n.id === '' || /[\s/]/.test(n.id)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `network id ${JSON.stringify(n.id)} is empty or holds white space or '/'`);
      continue;
    }
    if (!Number.isInteger(n.vni) || n.vni < 1 || n.vni > 0xffffff) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `VXLAN ID ${n.vni} is out of range 1-16777215`);
      continue;
    }
    if (!subnet || !bytesEqual(subnet.net, subnet.bytes)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `subnet ${JSON.stringify(n.subnet)} is not an IPv4 CIDR with host bits clear`);
      continue;
    }
    if (!gw || !inPrefix(gw, subnet.net, subnet.prefixLen)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `gateway ${JSON.stringify(n.gateway)} is not an IPv4 address in ${n.subnet}`);
      continue;
    }
    if (!isMtu(mtu)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `MTU ${mtu} is out of range ${MIN_MTU}-${MAX_MTU}`);
      continue;
    }
    if (vnis.has(n.vni)) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', item, `VXLAN ID ${n.vni} is used by network ${vnis.get(n.vni)} too`);
      continue;
    }
    const nsName = overlayNetnsName(prefix, n.id);
    if (netnsOwners.has(nsName)) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', item, `namespace ${nsName} is claimed by ${netnsOwners.get(nsName)} too (same id12)`);
      continue;
    }
    vnis.set(n.vni, n.id);
    netnsOwners.set(nsName, item);
    const ns = emptyNs(nsName, 'overlay');
    const vx = vxlanName(n.vni);
    const gateway = canonicalIp(n.gateway);
    ns.links.push(
      { ...LOOPBACK_UP },
      { name: OVERLAY_BRIDGE, kind: 'bridge', mtu, up: true, create: 'bridge' },
      {
        name: vx,
        kind: 'vxlan',
        mtu,
        up: true,
        master: OVERLAY_BRIDGE,
        vxlan: vxlanOptions(n.vni, model.dataPort, vtep),
        create: 'vxlan',
        tempName: tempVxlanName(prefix, n.vni),
      },
    );
    ns.addresses.push({ link: OVERLAY_BRIDGE, address: gateway, prefixLen: subnet.prefixLen });
    namespaces.set(nsName, ns);
    networks.set(n.id, {
      network: n,
      netns: ns,
      subnet,
      gateway,
      mtu,
      vx,
      addresses: new Map([[gateway, 'the gateway']]),
      macs: new Map(),
    });
  }

  // ----- egress (validated once; used per sandbox) -----
  const egressSubnet = parseV4Cidr(model.egress?.subnet);
  const egressGw = parseV4(model.egress?.gateway);
  let egressProblem: string | undefined;
  if (!egressSubnet || !bytesEqual(egressSubnet.net, egressSubnet.bytes)) {
    egressProblem = `egress subnet ${JSON.stringify(model.egress?.subnet)} is not an IPv4 CIDR with host bits clear`;
  } else if (!egressGw || !inPrefix(egressGw, egressSubnet.net, egressSubnet.prefixLen)) {
    egressProblem = `egress gateway ${JSON.stringify(model.egress?.gateway)} is not an IPv4 address in ${model.egress?.subnet}`;
  }
  const egressGateway = egressProblem === undefined ? canonicalIp(model.egress.gateway) : '';
  const egressAddresses = new Map<string, string>([[egressGateway, 'the egress gateway']]);
  const egressVeths = new Set<string>();
  const gw0 = egressBridgeName(prefix);
  let anyEgress = false;

  // ----- sandboxes -----
  for (const s of byId(model.sandboxes)) {
    const item = `sandbox ${s.id}`;
    if (typeof s.id !== 'string' || s.id === '') {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, 'sandbox id is empty');
      continue;
    }
    const nsName = sandboxNetnsName(prefix, s.id);
    const hostEnd = sandboxVethName(s.id);
    try {
      validateNetnsName(nsName);
      validateIfname(hostEnd);
    } catch {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `sandbox id ${JSON.stringify(s.id)} holds characters a namespace or link name cannot`);
      continue;
    }
    if (netnsOwners.has(nsName)) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', item, `namespace ${nsName} is claimed by ${netnsOwners.get(nsName)} too (same id12)`);
      continue;
    }
    netnsOwners.set(nsName, item);
    const sb = emptyNs(nsName, 'sandbox');
    sb.links.push({ ...LOOPBACK_UP });
    namespaces.set(nsName, sb);
    let outbound = false;
    const attached = new Set<string>();
    const ifnames = new Set<string>();
    s.attachments.forEach((a, i) => {
      const what = `${item} attachment ${i} (network ${a.networkId})`;
      const net = networks.get(a.networkId);
      if (!net) {
        problem('SHOAL_ERR_OVERLAY_BAD_MODEL', what, `network ${a.networkId} is not among the planned networks`);
        return;
      }
      if (attached.has(a.networkId)) {
        problem('SHOAL_ERR_OVERLAY_CONFLICT', what, `the sandbox is attached to network ${a.networkId} twice`);
        return;
      }
      const addr = parseV4Cidr(a.address);
      if (!addr || addr.prefixLen !== net.subnet.prefixLen || !inPrefix(addr.bytes, net.subnet.net, net.subnet.prefixLen)) {
        problem('SHOAL_ERR_OVERLAY_BAD_MODEL', what, `address ${JSON.stringify(a.address)} is not an address of ${net.network.subnet}`);
        return;
      }
      let mac: string;
      try {
        mac = normalizeMac(a.mac);
      } catch {
        problem('SHOAL_ERR_OVERLAY_BAD_MODEL', what, `MAC ${JSON.stringify(a.mac)} is not valid`);
        return;
      }
      const holder = net.addresses.get(addr.address);
      if (holder !== undefined) {
        problem('SHOAL_ERR_OVERLAY_CONFLICT', what, `address ${addr.address} is held by ${holder} too`);
        return;
      }
      const macHolder = net.macs.get(mac);
      if (macHolder !== undefined) {
        problem('SHOAL_ERR_OVERLAY_CONFLICT', what, `MAC ${mac} is held by ${macHolder} too`);
        return;
      }
      const ifname = a.ifname ?? sandboxIfname(i);
      if (!isSandboxIfname(ifname) || ifnames.has(ifname)) {
        problem(
          'SHOAL_ERR_OVERLAY_BAD_MODEL',
          what,
          `interface name ${JSON.stringify(ifname)} is not eth<N> or is used twice in the sandbox`,
        );
        return;
      }
      ifnames.add(ifname);
      attached.add(a.networkId);
      net.addresses.set(addr.address, item);
      net.macs.set(mac, item);
      if (!net.network.internal) outbound = true;
      net.netns.links.push({
        name: hostEnd,
        kind: 'veth',
        mtu: net.mtu,
        up: true,
        master: OVERLAY_BRIDGE,
        peer: { netns: nsName, name: ifname },
        create: 'veth',
      });
      sb.links.push({
        name: ifname,
        kind: 'veth',
        mtu: net.mtu,
        mac,
        up: true,
        peer: { netns: net.netns.name, name: hostEnd },
        create: 'veth-peer',
      });
      sb.addresses.push({ link: ifname, address: addr.address, prefixLen: addr.prefixLen });
    });

    if (s.egress === undefined) continue;
    const what = `${item} egress`;
    if (!outbound) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', what, 'egress is given but the sandbox is on internal networks only: it gets no way out');
      continue;
    }
    if (egressProblem !== undefined) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', what, egressProblem);
      continue;
    }
    const addr = parseV4Cidr(s.egress);
    if (!addr || addr.prefixLen !== egressSubnet!.prefixLen || !inPrefix(addr.bytes, egressSubnet!.net, egressSubnet!.prefixLen)) {
      problem(
        'SHOAL_ERR_OVERLAY_BAD_MODEL',
        what,
        `egress address ${JSON.stringify(s.egress)} is not an address of ${model.egress.subnet}`,
      );
      continue;
    }
    const ifname = s.egressIfname ?? sandboxIfname(s.attachments.length);
    if (!isSandboxIfname(ifname) || ifnames.has(ifname)) {
      problem(
        'SHOAL_ERR_OVERLAY_BAD_MODEL',
        what,
        `egress interface name ${JSON.stringify(ifname)} is not eth<N> or is used twice in the sandbox`,
      );
      continue;
    }
    const holder = egressAddresses.get(addr.address);
    if (holder !== undefined) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', what, `egress address ${addr.address} is held by ${holder} too`);
      continue;
    }
    egressAddresses.set(addr.address, item);
    let salt = 0;
    let veth = egressVethName(prefix, s.id);
    while (egressVeths.has(veth)) veth = egressVethName(prefix, s.id, ++salt);
    egressVeths.add(veth);
    anyEgress = true;
    const mac = macForAddress(addr.address);
    host.links.push({
      name: veth,
      kind: 'veth',
      mtu: model.underlayMtu,
      up: true,
      master: gw0,
      peer: { netns: nsName, name: ifname },
      create: 'veth',
    });
    sb.links.push({
      name: ifname,
      kind: 'veth',
      mtu: model.underlayMtu,
      mac,
      up: true,
      peer: { netns: '', name: veth },
      create: 'veth-peer',
    });
    sb.addresses.push({ link: ifname, address: addr.address, prefixLen: addr.prefixLen });
    const route: Route = { dst: 'default', family: 4, gateway: egressGateway, dev: ifname, table: 254 };
    sb.routes.push(route);
  }

  if (anyEgress && egressSubnet) {
    // A MAC of its own: a bridge without one takes its smallest port's, so a task stopping
    // would change it, and every sandbox would send to the gateway's old MAC until its
    // neighbour entry went stale (egress and DNS forwarding cut for seconds).
    host.links.push({ name: gw0, kind: 'bridge', mtu: model.underlayMtu, up: true, create: 'bridge', mac: macForAddress(egressGateway) });
    host.addresses.push({ link: gw0, address: egressGateway, prefixLen: egressSubnet.prefixLen });
    host.nft.push(
      planEgressTable(
        egressTableName(prefix),
        gw0,
        `${canonicalIp(egressSubnet.address)}/${egressSubnet.prefixLen}`,
        {
          vtep: canonicalIp(model.vtep),
          port: model.dataPort,
        },
        model.controlPorts,
      ),
    );
    host.sysctls.push({ name: 'net.ipv4.ip_forward', value: '1' });
  }

  // ----- remote endpoints -----
  const remotes = [...model.remotes].sort(compareRemotes);
  for (const r of remotes) {
    const item = `remote ${r.networkId}/${r.ip}`;
    const net = networks.get(r.networkId);
    if (!net) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `network ${r.networkId} is not among the planned networks`);
      continue;
    }
    const ip = parseV4(r.ip);
    if (!ip || !inPrefix(ip, net.subnet.net, net.subnet.prefixLen)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `address ${JSON.stringify(r.ip)} is not an address of ${net.network.subnet}`);
      continue;
    }
    const vtepOf = parseV4(r.vtep);
    if (!vtepOf) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `VTEP ${JSON.stringify(r.vtep)} is not an IPv4 address`);
      continue;
    }
    if (bytesEqual(vtepOf, vtepBytes)) {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `VTEP ${r.vtep} is this node's own address`);
      continue;
    }
    let mac: string;
    try {
      mac = normalizeMac(r.mac);
    } catch {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `MAC ${JSON.stringify(r.mac)} is not valid`);
      continue;
    }
    if ((parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') {
      problem('SHOAL_ERR_OVERLAY_BAD_MODEL', item, `MAC ${mac} is not a unicast MAC`);
      continue;
    }
    const address = canonicalIp(r.ip);
    const holder = net.addresses.get(address);
    if (holder !== undefined) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', item, `address ${address} is held by ${holder} too`);
      continue;
    }
    const macHolder = net.macs.get(mac);
    if (macHolder !== undefined) {
      problem('SHOAL_ERR_OVERLAY_CONFLICT', item, `MAC ${mac} is held by ${macHolder} too`);
      continue;
    }
    net.addresses.set(address, item);
    net.macs.set(mac, item);
    const neigh: Neighbor = { link: net.vx, address, lladdr: mac, state: 'permanent' };
    const fdb: FdbEntry = { link: net.vx, mac, dst: canonicalIp(r.vtep), self: true, permanent: true };
    net.netns.neighbors.push(neigh);
    net.netns.fdb.push(fdb);
  }

  return { prefix, namespaces, problems };
}

function compareRemotes(a: RemoteEndpoint, b: RemoteEndpoint): number {
  const ka = `${a.networkId}\0${a.ip}\0${a.vtep}\0${a.mac}`;
  const kb = `${b.networkId}\0${b.ip}\0${b.vtep}\0${b.mac}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
