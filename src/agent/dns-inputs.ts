/**
 * The embedded resolver's inputs, gathered in one pure step from what the agent knows:
 * the networks and services of its assignment, and every task and container on those
 * networks from the manager's endpoint lists, with gossip saying which remote tasks run and
 * pass their checks (the same view the load balancers use, so a name answers the addresses
 * that take connections).
 *
 * A task serves (is in `tasks.<service>` and in dnsrr answers) when:
 * - it runs here, listens on its published ports and is not being stopped; or
 * - its agent publishes it in gossip as running, the overlay here reaches it and neither the
 *   manager nor gossip says it drains, and its node is not declared failed; or
 * - gossip has not synced the network yet (an agent that just started) and the manager lists
 *   it active: the manager's word stands until gossip's first sync, so a restarted agent does
 *   not answer an empty `tasks.` for a few hundred milliseconds.
 * Endpoints of nodes the manager marked down are left out altogether: their tasks are being
 * replaced elsewhere.
 */
import type { Endpoint, Network, Service } from '../api/api-types.ts';
import { bareIp } from '../common/ip.ts';
import type { RecordAttachment, RecordContainer, RecordInput, RecordNetwork, RecordService, RecordTask } from '../dns/records.ts';
import type { GossipEndpoint } from './endpoint-view.ts';
import type { LocalWorkload } from './lb-model.ts';

export interface DnsSources {
  nodeId: string;
  networks: ReadonlyMap<string, Network>;
  services: ReadonlyMap<string, Service>;
  /** The manager's endpoint list per network (those it streamed so far). */
  managerLists: ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
  /** Gossip's endpoints of a network. */
  gossip: (networkId: string) => ReadonlyMap<string, GossipEndpoint>;
  /** Whether gossip has synced the network's table with a peer. */
  gossipSynced: (networkId: string) => boolean;
  /** Nodes gossip declares failed or gone. */
  deadNodes: ReadonlySet<string>;
  /** A local task or container, as a backend sees it. */
  local: (ownerId: string) => LocalWorkload | undefined;
  /** Whether the overlay has programmed a remote endpoint. */
  reachable: (networkId: string, ip: string) => boolean;
}

interface Serving {
  state: string;
  health: string;
  draining: boolean;
}

const NOT_SERVING: Serving = { state: 'pending', health: '', draining: false };

function attachment(e: { networkId: string; addr: string; addrV6: string; aliases: readonly string[] }): RecordAttachment {
  return { networkId: e.networkId, addresses: [e.addr, e.addrV6].filter((a) => a !== ''), aliases: [...e.aliases] };
}

function recordNetwork(n: Network): RecordNetwork {
  return { id: n.id, name: n.spec.name, ipv6: n.spec.ipv6, internal: n.spec.internal, ingress: n.spec.ingress || n.ingress };
}

function recordService(s: Service): RecordService {
  return {
    id: s.id,
    name: s.spec.name,
    endpointMode: s.spec.endpointSpec.mode,
    virtualIps: s.endpoint.virtualIps,
    networks: s.spec.networks.map((n) => ({ target: n.target, aliases: n.aliases })),
  };
}

export function dnsInputs(src: DnsSources): RecordInput {
  const tasks = new Map<string, RecordTask & { networks: RecordAttachment[] }>();
  const containers = new Map<string, RecordContainer & { networks: RecordAttachment[] }>();
  const serving = (e: Endpoint): Serving => {
    if (e.nodeId === src.nodeId) {
      const w = src.local(e.ownerId);
      if (!w?.running) return NOT_SERVING;
      return { state: 'running', health: w.health, draining: w.stopping || e.state === 'draining' };
    }
    const g = src.gossip(e.networkId).get(e.id);
    if (g) {
      if (!src.reachable(e.networkId, bareIp(e.addr))) return NOT_SERVING;
      const draining = e.state === 'draining' || g.record.state === 'draining' || src.deadNodes.has(e.nodeId);
      return { state: 'running', health: g.record.health, draining };
    }
    if (!src.gossipSynced(e.networkId) && e.state === 'active') return { state: 'running', health: '', draining: false };
    return NOT_SERVING;
  };

  for (const [networkId, list] of src.managerLists) {
    if (!src.networks.has(networkId)) continue;
    for (const e of list.values()) {
      if (e.state === 'down' || e.nodeId === '') continue;
      if (e.kind === 'task' && e.serviceId !== '') {
        const s = serving(e);
        const have = tasks.get(e.ownerId);
        if (have) {
          have.networks.push(attachment(e));
          // serving anywhere counts (the endpoints of one task differ only in their network)
          if (have.state !== 'running' && s.state === 'running') Object.assign(have, s);
          continue;
        }
        tasks.set(e.ownerId, {
          id: e.ownerId,
          name: e.name,
          serviceId: e.serviceId,
          slot: 0,
          nodeId: e.nodeId,
          ...(e.hostname ? { hostname: e.hostname } : {}),
          networks: [attachment(e)],
          ...s,
        });
      } else if (e.kind === 'container') {
        const have = containers.get(e.ownerId);
        if (have) have.networks.push(attachment(e));
        else
          containers.set(e.ownerId, {
            id: e.ownerId,
            name: e.name,
            ...(e.hostname ? { hostname: e.hostname } : {}),
            networks: [attachment(e)],
          });
      }
    }
  }

  // networks whose manager list has not arrived yet: gossip's records alone
  for (const networkId of src.networks.keys()) {
    if (src.managerLists.has(networkId)) continue;
    for (const g of src.gossip(networkId).values()) {
      const r = g.record;
      if (r.ip === '' || src.deadNodes.has(g.owner)) continue;
      const att: RecordAttachment = {
        networkId,
        addresses: [r.ip, r.ipv6].filter((a) => a !== ''),
        aliases: [...r.aliases],
      };
      if (r.kind === 'task' && r.serviceId !== '') {
        const have = tasks.get(r.taskId);
        if (have) have.networks.push(att);
        else
          tasks.set(r.taskId, {
            id: r.taskId,
            name: r.name,
            serviceId: r.serviceId,
            slot: 0,
            nodeId: r.nodeId,
            networks: [att],
            state: 'running',
            health: r.health,
            draining: r.state === 'draining',
          });
      } else if (r.kind === 'container') {
        const have = containers.get(r.taskId);
        if (have) have.networks.push(att);
        else containers.set(r.taskId, { id: r.taskId, name: r.name, networks: [att] });
      }
    }
  }

  return {
    networks: [...src.networks.values()].map(recordNetwork),
    services: [...src.services.values()].map(recordService),
    tasks: [...tasks.values()],
    containers: [...containers.values()],
  };
}
