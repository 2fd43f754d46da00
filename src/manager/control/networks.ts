/**
 * Network operations: create (subnets and VXLAN ID allocated in the same transaction),
 * list, inspect, remove and prune (refused while services or endpoints use the network;
 * never the ingress network), connect and disconnect standalone containers, and a
 * network's complete endpoint list.
 *
 * Attaching a container to a network (an endpoint with an address and MAC) is shared with
 * `container run`, which attaches at creation.
 */
import type {
  Container,
  Endpoint,
  ListNetworksFilter,
  Network,
  NetworkAttachment,
  NetworkEndpoints,
  NetworkSpec,
  Peer,
} from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { newId } from '../../common/ids.ts';
import type { ContainerRecord, Kinds, NetworkRecord } from '../objects.ts';
import type { TxContext } from '../orchestrator.ts';
import { resolveContainer, resolveNetwork } from '../refs.ts';
import { normalizeContainerSpec, normalizeNetworkSpec } from '../spec-validation.ts';
import type { ReadTx } from '../store.ts';
import { endpointStateFor, endpointView, networkDerived, networkView } from '../views.ts';
import { peerOf } from '../assignment.ts';
import type { ControlCore } from './core.ts';
import { matchesIds, matchesLabels, matchesNames } from './filters.ts';

/** Allocates and writes a network (also used for ingress at cluster init). */
export function insertNetwork(ctx: TxContext, spec: NetworkSpec, ingress: boolean): NetworkRecord {
  const id = newId();
  const { vxlanId, ipam } = ctx.alloc.createNetwork(id, spec, ingress);
  const rec: NetworkRecord = {
    id,
    version: 0,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    spec,
    vxlanId,
    ipam,
    scope: 'swarm',
    ingress,
  };
  ctx.tx.put('network', rec);
  return rec;
}

/** Refuses a network standalone containers may not attach to (ingress, or not --attachable). */
export function checkAttachable(net: NetworkRecord): void {
  if (net.ingress)
    throw apiError('SHOAL_ERR_NOT_ATTACHABLE', `network ${net.spec.name} is the ingress network; containers cannot attach to it`, {
      networkId: net.id,
    });
  if (!net.spec.attachable) {
    throw apiError('SHOAL_ERR_NOT_ATTACHABLE', `network ${net.spec.name} is not manually attachable (create it with --attachable)`, {
      networkId: net.id,
    });
  }
}

/** Allocates a container's endpoint on a network and writes it; returns the container's attachment. */
export function attachContainer(ctx: TxContext, c: ContainerRecord, net: NetworkRecord, aliases: string[]): NetworkAttachment {
  const a = ctx.alloc.allocateEndpoint(net.id);
  const endpointId = newId();
  ctx.tx.put('endpoint', {
    id: endpointId,
    version: 0,
    networkId: net.id,
    kind: 'container',
    ownerId: c.id,
    serviceId: '',
    serviceName: '',
    nodeId: c.nodeId,
    name: c.spec.name,
    aliases,
    addr: a.addr,
    mac: a.mac,
    addrV6: a.addrV6,
    state: endpointStateFor(ctx.node(c.nodeId)),
    hostname: c.spec.hostname || c.id.slice(0, 12),
  });
  return {
    networkId: net.id,
    networkName: net.spec.name,
    addresses: [a.addr, a.addrV6].filter((x) => x !== ''),
    mac: a.mac,
    aliases,
    endpointId,
  };
}

function checkRemovable(tx: ReadTx<Kinds>, net: NetworkRecord): void {
  if (net.ingress) {
    throw apiError(
      'SHOAL_ERR_INGRESS_PROTECTED',
      `network ${net.spec.name} is the ingress network (the routing mesh) and cannot be removed`,
      {
        networkId: net.id,
      },
    );
  }
  const services = tx.byIndex('service', 'network', net.id);
  if (services.length > 0) {
    throw apiError(
      'SHOAL_ERR_NETWORK_IN_USE',
      `network ${net.spec.name} is in use by service ${services.map((s) => s.spec.name).join(', ')}`,
      {
        networkId: net.id,
        services: services.map((s) => s.id),
      },
    );
  }
  const endpoints = tx.countByIndex('endpoint', 'network', net.id);
  if (endpoints > 0) {
    const containers = tx
      .byIndex('endpoint', 'network', net.id)
      .filter((e) => e.kind === 'container')
      .map((e) => e.name);
    throw apiError(
      'SHOAL_ERR_NETWORK_IN_USE',
      containers.length > 0
        ? `network ${net.spec.name} has active endpoints (containers ${containers.join(', ')})`
        : `network ${net.spec.name} has ${endpoints} active endpoints`,
      { networkId: net.id, endpoints },
    );
  }
}

function deleteNetwork(ctx: TxContext, net: NetworkRecord): void {
  ctx.alloc.removeNetwork(net.id, net.vxlanId);
  ctx.tx.delete('network', net.id);
}

export class NetworkControl {
  constructor(private readonly core: ControlCore) {}

  async createNetwork(input: NetworkSpec): Promise<Network> {
    const spec = normalizeNetworkSpec(input);
    if (spec.ingress) throw apiError('SHOAL_ERR_NETWORK_EXISTS', 'an ingress network already exists; only one is allowed');
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      if (tx.byIndex('network', 'name', spec.name).length > 0) {
        throw apiError('SHOAL_ERR_NETWORK_EXISTS', `network with name ${spec.name} already exists`, { name: spec.name });
      }
      const rec = insertNetwork(ctx, spec, false);
      return networkView(tx, rec);
    });
  }

  async listNetworks(filter: ListNetworksFilter = {}): Promise<Network[]> {
    return this.core.store.view((tx) => {
      const list = tx
        .all('network')
        .filter(
          (n) =>
            matchesIds(n.id, filter.ids) &&
            matchesNames(n.spec.name, filter.names) &&
            matchesLabels(n.spec.labels, filter.labels) &&
            (!filter.driver || n.spec.driver === filter.driver),
        )
        .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : a.id < b.id ? -1 : 1));
      // for long lists, one pass over the endpoint and service indexes beats lookups per network
      const derived = list.length > 32 ? networkDerived(tx) : undefined;
      return list.map((n) => networkView(tx, n, derived));
    });
  }

  async inspectNetwork(ref: string): Promise<Network> {
    return this.core.store.view((tx) => networkView(tx, resolveNetwork(tx, ref)));
  }

  async removeNetwork(ref: string): Promise<void> {
    await this.core.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, ref);
      checkRemovable(ctx.tx, net);
      deleteNetwork(ctx, net);
    });
  }

  async pruneNetworks(): Promise<string[]> {
    return this.core.mutate((ctx) => {
      const removed: string[] = [];
      for (const net of ctx.tx.all('network')) {
        if (net.ingress) continue;
        if (ctx.tx.countByIndex('service', 'network', net.id) > 0 || ctx.tx.countByIndex('endpoint', 'network', net.id) > 0) continue;
        deleteNetwork(ctx, net);
        removed.push(net.spec.name);
      }
      return removed.sort();
    });
  }

  async connectNetwork(networkRef: string, containerRef: string, aliases: string[] = []): Promise<Container> {
    const checked = normalizeContainerSpec({ networks: [{ target: networkRef || '-', aliases }] }).networks[0]!.aliases;
    return this.core.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, networkRef);
      const c = resolveContainer(ctx.tx, containerRef);
      checkAttachable(net);
      if (c.networks.some((n) => n.networkId === net.id)) {
        throw apiError('SHOAL_ERR_ALREADY_CONNECTED', `container ${c.spec.name} is already connected to network ${net.spec.name}`, {
          containerId: c.id,
          networkId: net.id,
        });
      }
      c.networks.push(attachContainer(ctx, c, net, checked));
      c.spec.networks.push({ target: net.id, aliases: checked });
      c.updatedAt = ctx.now;
      return ctx.tx.put('container', c);
    });
  }

  async disconnectNetwork(networkRef: string, containerRef: string, _force = false): Promise<void> {
    await this.core.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, networkRef);
      const c = resolveContainer(ctx.tx, containerRef);
      const att = c.networks.find((n) => n.networkId === net.id);
      if (!att)
        throw apiError('SHOAL_ERR_NOT_CONNECTED', `container ${c.spec.name} is not connected to network ${net.spec.name}`, {
          containerId: c.id,
          networkId: net.id,
        });
      const ep = ctx.tx.get('endpoint', att.endpointId);
      if (ep) {
        ctx.alloc.release(ep.networkId, ep.addr, ep.addrV6);
        ctx.tx.delete('endpoint', ep.id);
      }
      c.networks = c.networks.filter((n) => n.networkId !== net.id);
      c.spec.networks = c.spec.networks.filter((n) => n.target !== net.id);
      c.updatedAt = ctx.now;
      ctx.tx.put('container', c);
    });
  }

  async networkEndpoints(ref: string): Promise<NetworkEndpoints> {
    return this.core.store.view((tx) => {
      const net = resolveNetwork(tx, ref);
      const endpoints: Endpoint[] = tx.byIndex('endpoint', 'network', net.id).map(endpointView);
      const nodeIds = [...new Set(endpoints.map((e) => e.nodeId).filter((id) => id !== ''))].sort();
      const peers: Peer[] = [];
      for (const id of nodeIds) {
        const n = tx.get('node', id);
        if (n) peers.push(peerOf(n));
      }
      return { version: tx.revision, network: networkView(tx, net), endpoints, peers };
    });
  }
}
