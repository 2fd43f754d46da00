/**
 * The agent's inputs to its load balancers, gathered in one pure step: the models
 * (lb-model.ts) from the assignment, the endpoint lists and gossip, where each goes (which
 * namespaces exist), and what a successful sync of them lets the agent acknowledge (the
 * draining endpoints no load balancer of this node sends to any more, and the endpoints
 * they now send new connections to).
 */
import type { Endpoint } from '../api/api-types.ts';
import { bareIp } from '../common/ip.ts';
import type { AssignmentState } from './session-client.ts';
import type { GossipEndpoint } from './endpoint-view.ts';
import { buildLbModels, INGRESS_SANDBOX_ID, type LbModels, type LocalWorkload, serviceBackends } from './lb-model.ts';
import type { LbPlace } from './load-balancers.ts';
import type { HostModePort } from '../vip/mesh-plan.ts';

/** What lbInputs reads: the agent's state, as plain lookups. */
export interface LbSources {
  prefix: string;
  nodeId: string;
  state: AssignmentState;
  /** The manager's endpoint list per network (those it streamed so far). */
  managerLists: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
  /** Gossip's endpoints of a network. */
  gossip: (networkId: string) => ReadonlyMap<string, GossipEndpoint>;
  /** Nodes gossip declares failed or gone. */
  deadNodes: ReadonlySet<string>;
  /** A local task or container, as a backend sees it. */
  local: (ownerId: string) => LocalWorkload | undefined;
  /** Local sandboxes and their networks. */
  sandboxes: Iterable<{ id: string; networks: ReadonlyArray<{ networkId: string }> }>;
  /** Sandboxes (and the ingress sandbox) the last overlay sync put in place. */
  applied: ReadonlySet<string>;
  /** An owner's address on the gateway bridge, when it has one. */
  egressAddress: (ownerId: string) => string | undefined;
  /** Whether a local task's process runs (its mode=host ports open only then). */
  running: (taskId: string) => boolean;
  ingressNetworkId: string | undefined;
  /** The ingress sandbox's interface on the ingress network. */
  ingressIfname: string;
  sandboxNetns: (id: string) => string;
  /** The gateway bridge's name. */
  bridge: string;
  /** Whether the overlay has programmed a remote endpoint (only then is it a backend). */
  reachable: (networkId: string, ip: string) => boolean;
}

export interface LbInputs {
  models: LbModels;
  place: LbPlace;
  /** Draining endpoints left out of every model (what a successful sync acknowledges). */
  draining: string[];
  /** Endpoints some model sends new connections to. */
  joined: string[];
}

export function lbInputs(src: LbSources): LbInputs {
  const s = src.state;
  const cache = new Map<string, ReturnType<typeof serviceBackends>>();
  const heldDraining = new Set<string>();
  const joined = new Set<string>();
  const backends = (networkId: string): ReturnType<typeof serviceBackends> => {
    let b = cache.get(networkId);
    if (!b) {
      b = serviceBackends({
        heldDraining,
        joined,
        selfNodeId: src.nodeId,
        manager: src.managerLists.get(networkId),
        gossip: src.gossip(networkId),
        deadNodes: src.deadNodes,
        local: src.local,
        reachable: (ip) => src.reachable(networkId, ip),
      });
      cache.set(networkId, b);
    }
    return b;
  };
  const sandboxes: Array<{ id: string; networkIds: string[] }> = [];
  for (const o of src.sandboxes) {
    if (src.applied.has(o.id)) sandboxes.push({ id: o.id, networkIds: o.networks.map((n) => n.networkId) });
  }
  const isbReady = src.applied.has(INGRESS_SANDBOX_ID);
  const isbEgress = isbReady ? src.egressAddress(INGRESS_SANDBOX_ID) : undefined;
  const hostPorts: HostModePort[] = [];
  for (const t of s.tasks.values()) {
    if (t.hostPorts.length === 0 || t.desiredState !== 'running') continue;
    const addr = src.egressAddress(t.id);
    if (!addr || !src.applied.has(t.id) || !src.running(t.id)) continue;
    for (const p of t.hostPorts) {
      const protocol = p.protocol === 'tcp' ? 'tcp' : p.protocol === 'udp' ? 'udp' : undefined;
      if (p.publishedPort === undefined || !protocol) continue;
      hostPorts.push({ protocol, port: p.publishedPort, targetPort: p.targetPort, address: bareIp(addr), owner: t.name });
    }
  }
  const models = buildLbModels({
    prefix: src.prefix,
    ingressNetworkId: src.ingressNetworkId,
    networks: s.networks,
    services: s.services,
    sandboxes,
    backends,
    ingressAddress: isbEgress ? bareIp(isbEgress) : undefined,
    bridge: src.bridge,
    hostPorts,
  });
  const place: LbPlace = {
    sandboxes: new Map(sandboxes.map((x) => [x.id, src.sandboxNetns(x.id)])),
    ingress: isbReady ? { netns: src.sandboxNetns(INGRESS_SANDBOX_ID), ifname: src.ingressIfname } : undefined,
    // route_localnet goes on the bridge once something on it is published
    bridge: (isbEgress || hostPorts.length > 0) && src.applied.size > 0 ? src.bridge : undefined,
  };
  const draining: string[] = [];
  for (const list of src.managerLists.values()) {
    for (const e of list.values()) if (e.state === 'draining' && !heldDraining.has(e.id)) draining.push(e.id);
  }
  return { models, place, draining, joined: [...joined].sort() };
}
