/**
 * The allocator: everything that must be unique in the cluster and is handed out here.
 *
 * - network IDs (25 lowercase base-36 characters) and VXLAN IDs (user networks from 4097,
 *   the next free after the last one handed out, wrapping; ingress is 4096);
 * - subnets, gateways, VIPs and task/container addresses through src/ipam, with MACs
 *   02:42 + the IPv4 address bytes;
 * - published ports: explicit, or the first free one in 30000-32767; ingress-mode ports are
 *   unique cluster-wide per protocol (host-mode ports only conflict on one node, so an
 *   explicit host port is not reserved here; an automatic one is, to stay distinct).
 *
 * State lives in the store (network rows hold VXLAN IDs, `ipam` rows hold each network's
 * IPAM form, service rows hold allocated ports); this class keeps in-memory indexes of it,
 * built lazily on the first allocation after start (restart stays cheap: nothing is
 * rebuilt until something is allocated). Every change happens inside a store transaction
 * through `within(tx, fn)`: IPAM changes are wrapped in the address space's own
 * transaction, the other indexes keep an undo journal, and a failed commit drops the
 * indexes so that they are rebuilt from the store.
 */
import { newId } from '../common/ids.ts';
import { inPrefix, networkBytes, parseIp } from '../common/ip.ts';
import { macForAddress } from '../common/mac.ts';
import { restoreAddressSpace } from '../ipam/index.ts';
import type { AddressSpace, AddressSpaceConfigInput, NetworkIpam, SubnetRequest } from '../ipam/index.ts';
import type { IpamConfig, NetworkSpec, PortConfig } from '../api/api-types.ts';
import { FIRST_USER_VXLAN_ID, INGRESS_VXLAN_ID, MAX_VXLAN_ID } from './config.ts';
import { apiError } from '../api/errors.ts';
import type { Kinds } from './objects.ts';
import type { ReadTx, WriteTx } from './store.ts';

export interface AllocatorOptions {
  addressSpace: AddressSpaceConfigInput;
  portRangeStart: number;
  portRangeEnd: number;
}

export interface EndpointAddress {
  /** "10.0.1.5/24", or '' on an IPv6-only network. */
  addr: string;
  /** IPv6 with prefix on networks with IPv6, else ''. */
  addrV6: string;
  mac: string;
}

interface PortOwner {
  serviceId: string;
  serviceName: string;
}

/** The per-transaction face of the allocator. */
export interface AllocTx {
  /** Allocates VXLAN ID and subnets for a new network; `ingress` takes VXLAN ID 4096. */
  createNetwork(id: string, spec: NetworkSpec, ingress: boolean): { vxlanId: number; ipam: IpamConfig[] };
  removeNetwork(id: string, vxlanId: number): void;
  /** An address (and MAC) for a task, container or node sandbox. */
  allocateEndpoint(networkId: string): EndpointAddress;
  /** A VIP (no MAC). */
  allocateVip(networkId: string): EndpointAddress;
  /** Returns an endpoint's addresses (no-op for a network that is gone). */
  release(networkId: string, addr: string, addrV6: string): void;
  /**
   * Allocates the service's published ports: keeps explicit ones (refusing those another
   * service holds), reuses `previous` automatic ports that still match, and takes the
   * first free port of the range for the rest. Releases whatever the service held before.
   */
  allocatePorts(
    service: PortOwner,
    ports: readonly PortConfig[],
    previousSpec: readonly PortConfig[],
    previousAllocated: readonly PortConfig[],
  ): PortConfig[];
  releasePorts(serviceId: string): void;
}

export class Allocator {
  private readonly options: AllocatorOptions;
  private space: AddressSpace | undefined;
  private vnis: Set<number> | undefined;
  private lastVni = FIRST_USER_VXLAN_ID - 1;
  /** "tcp/8080" -> holder */
  private ports: Map<string, PortOwner> | undefined;

  constructor(options: AllocatorOptions) {
    this.options = options;
  }

  /** Drops every in-memory index (they are rebuilt from the store when next needed). */
  reset(): void {
    this.space = undefined;
    this.vnis = undefined;
    this.ports = undefined;
  }

  /** Whether the IPAM state has been loaded (for diagnostics and the restart benchmark). */
  get loaded(): boolean {
    return this.space !== undefined;
  }

  private loadSpace(tx: ReadTx<Kinds>): AddressSpace {
    if (!this.space) {
      this.space = restoreAddressSpace(
        this.options.addressSpace,
        tx.all('ipam').map((r) => ({ id: r.id, name: r.name, state: r.state })),
      );
    }
    return this.space;
  }

  private loadVnis(tx: ReadTx<Kinds>): Set<number> {
    if (!this.vnis) {
      this.vnis = new Set(tx.all('network').map((n) => n.vxlanId));
      let max = FIRST_USER_VXLAN_ID - 1;
      for (const v of this.vnis) if (v > max) max = v;
      this.lastVni = max;
    }
    return this.vnis;
  }

  private loadPorts(tx: ReadTx<Kinds>): Map<string, PortOwner> {
    if (!this.ports) {
      const ports = new Map<string, PortOwner>();
      for (const s of tx.all('service')) {
        for (const p of s.endpoint.ports) {
          if (p.publishedPort === undefined) continue;
          const auto =
            p.publishMode === 'host' &&
            !s.spec.endpointSpec.ports.some((q) => q.publishedPort === p.publishedPort && q.protocol === p.protocol);
          if (p.publishMode === 'ingress' || auto)
            ports.set(`${p.protocol}/${p.publishedPort}`, { serviceId: s.id, serviceName: s.spec.name });
        }
      }
      this.ports = ports;
    }
    return this.ports;
  }

  /** The owner of an ingress port, if any (for messages and tests). */
  portOwner(tx: ReadTx<Kinds>, protocol: string, port: number): PortOwner | undefined {
    return this.loadPorts(tx).get(`${protocol}/${port}`);
  }

  /**
   * Runs `fn` with an AllocTx inside the store transaction `tx`. Must be called once per
   * transaction, around all of the transaction's allocation work.
   */
  within<T>(tx: WriteTx<Kinds>, fn: (a: AllocTx) => T): T {
    const space = this.loadSpace(tx);
    const journal: (() => void)[] = [];
    const dirty = new Set<string>();
    let bodyDone = false;
    tx.onRollback(() => {
      if (bodyDone)
        this.reset(); // the commit itself failed: memory is ahead of the store
      else for (const undo of journal.reverse()) undo();
    });

    const net = (networkId: string): NetworkIpam => {
      const n = space.get(networkId);
      if (!n) throw apiError('SHOAL_ERR_NETWORK_NOT_FOUND', `network ${networkId} has no address space (was it removed?)`, { networkId });
      return n;
    };

    const endpoint = (networkId: string, withMac: boolean): EndpointAddress => {
      const n = net(networkId);
      const a = n.allocateEndpoint();
      dirty.add(networkId);
      const addr = a.ipv4 === undefined ? '' : `${a.ipv4}/${prefixOf(n, a.ipv4, 4)}`;
      const addrV6 = a.ipv6 === undefined ? '' : `${a.ipv6}/${prefixOf(n, a.ipv6, 6)}`;
      return { addr, addrV6, mac: withMac ? macForAddress(a.ipv4 ?? a.ipv6 ?? '') : '' };
    };

    const alloc: AllocTx = {
      createNetwork: (id, spec, ingress) => {
        const vnis = this.loadVnis(tx);
        let vni: number;
        if (ingress) {
          if (vnis.has(INGRESS_VXLAN_ID)) throw apiError('SHOAL_ERR_NETWORK_EXISTS', 'the ingress network already exists');
          vni = INGRESS_VXLAN_ID;
        } else {
          vni = this.nextVni(vnis);
          const previousLast = this.lastVni;
          this.lastVni = vni;
          journal.push(() => {
            this.lastVni = previousLast;
          });
        }
        vnis.add(vni);
        journal.push(() => vnis.delete(vni));
        const subnets: SubnetRequest[] = spec.subnets.map((c) => ({
          subnet: c.subnet,
          ...(c.gateway !== undefined ? { gateway: c.gateway } : {}),
          ...(c.ipRange !== undefined ? { ipRange: c.ipRange } : {}),
          ...(Object.keys(c.auxAddresses).length > 0 ? { auxAddresses: c.auxAddresses } : {}),
        }));
        const ipam = space.createNetwork({ id, name: spec.name, subnets, ...(spec.ipv6 ? { ipv6: true } : {}) });
        dirty.add(id);
        return {
          vxlanId: vni,
          ipam: ipam.subnets.map((s) => ({
            subnet: s.subnet,
            gateway: s.gateway,
            ...(s.ipRange !== undefined ? { ipRange: s.ipRange } : {}),
            auxAddresses: { ...s.auxAddresses },
          })),
        };
      },
      removeNetwork: (id, vxlanId) => {
        space.removeNetwork(id);
        dirty.delete(id);
        tx.delete('ipam', id);
        const vnis = this.loadVnis(tx);
        if (vnis.delete(vxlanId)) journal.push(() => vnis.add(vxlanId));
      },
      allocateEndpoint: (networkId) => endpoint(networkId, true),
      allocateVip: (networkId) => endpoint(networkId, false),
      release: (networkId, addr, addrV6) => {
        const n = space.get(networkId);
        if (!n) return;
        for (const a of [addr, addrV6]) {
          if (a === '') continue;
          n.release(a.slice(0, a.indexOf('/') < 0 ? a.length : a.indexOf('/')));
          dirty.add(networkId);
        }
      },
      allocatePorts: (owner, ports, previousSpec, previousAllocated) => {
        const table = this.loadPorts(tx);
        // take back what the service holds now (a failed transaction puts it back)
        for (const [key, holder] of [...table]) {
          if (holder.serviceId === owner.serviceId) {
            table.delete(key);
            journal.push(() => table.set(key, holder));
          }
        }
        const take = (protocol: string, port: number): void => {
          const key = `${protocol}/${port}`;
          table.set(key, owner);
          journal.push(() => table.delete(key));
        };
        const out: PortConfig[] = ports.map((p) => ({ ...p }));
        // explicit ports first, so that an automatic one never takes a port asked for explicitly
        for (const p of out) {
          if (p.publishedPort === undefined || p.publishMode !== 'ingress') continue;
          const holder = table.get(`${p.protocol}/${p.publishedPort}`);
          if (holder) {
            throw apiError(
              'SHOAL_ERR_PORT_IN_USE',
              `port ${p.publishedPort}/${p.protocol} is already in use by service ${holder.serviceName} (${holder.serviceId})`,
              {
                port: p.publishedPort,
                protocol: p.protocol,
                serviceId: holder.serviceId,
              },
            );
          }
          take(p.protocol, p.publishedPort);
        }
        for (const p of out) {
          if (p.publishedPort !== undefined) continue;
          const prevIndex = previousSpec.findIndex(
            (q) =>
              q.publishedPort === undefined &&
              q.protocol === p.protocol &&
              q.targetPort === p.targetPort &&
              q.publishMode === p.publishMode,
          );
          const prev =
            prevIndex >= 0
              ? previousAllocated.find((q) => q.protocol === p.protocol && q.targetPort === p.targetPort && q.publishMode === p.publishMode)
              : undefined;
          let port = prev?.publishedPort;
          if (port === undefined || table.has(`${p.protocol}/${port}`)) port = this.firstFreePort(table, p.protocol);
          take(p.protocol, port);
          p.publishedPort = port;
        }
        return out;
      },
      releasePorts: (serviceId) => {
        const table = this.loadPorts(tx);
        for (const [key, holder] of [...table]) {
          if (holder.serviceId === serviceId) {
            table.delete(key);
            journal.push(() => table.set(key, holder));
          }
        }
      },
    };

    const result = space.transaction(() => {
      const r = fn(alloc);
      for (const id of dirty) {
        const n = space.get(id);
        if (n) tx.put('ipam', { id, version: 0, name: n.name, state: n.serialize() });
      }
      return r;
    });
    bodyDone = true;
    return result;
  }

  private nextVni(vnis: Set<number>): number {
    const span = MAX_VXLAN_ID - FIRST_USER_VXLAN_ID + 1;
    for (let i = 1; i <= span; i++) {
      const v = FIRST_USER_VXLAN_ID + ((((this.lastVni - FIRST_USER_VXLAN_ID + i) % span) + span) % span);
      if (!vnis.has(v)) return v;
    }
    throw apiError('SHOAL_ERR_VXLAN_EXHAUSTED', `no free VXLAN ID left in ${FIRST_USER_VXLAN_ID}-${MAX_VXLAN_ID}`);
  }

  private firstFreePort(table: Map<string, PortOwner>, protocol: string): number {
    for (let port = this.options.portRangeStart; port <= this.options.portRangeEnd; port++) {
      if (!table.has(`${protocol}/${port}`)) return port;
    }
    throw apiError(
      'SHOAL_ERR_PORTS_EXHAUSTED',
      `no free ${protocol} port left in the published port range ${this.options.portRangeStart}-${this.options.portRangeEnd}`,
    );
  }
}

/** A new network ID (Docker's shape). */
export function newNetworkId(): string {
  return newId();
}

/** Prefix length of the network subnet holding `address`. */
function prefixOf(net: NetworkIpam, address: string, family: 4 | 6): number {
  const subnets = net.subnets.filter((s) => s.family === family);
  const only = subnets.length === 1 ? subnets[0] : undefined;
  if (only) return Number(only.subnet.slice(only.subnet.indexOf('/') + 1));
  const addr = parseIp(address);
  if (!addr) return family === 4 ? 32 : 128;
  for (const s of subnets) {
    const [base = '', lenText = '0'] = s.subnet.split('/');
    const len = Number(lenText);
    const net = parseIp(base);
    if (net && inPrefix(addr.bytes, networkBytes(net.bytes, len), len)) return len;
  }
  return family === 4 ? 32 : 128;
}
