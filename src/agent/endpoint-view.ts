/**
 * One network's endpoints as this node sees them, from two sources:
 *
 * - gossip, the fast path: every agent publishes its own endpoints into the network's
 *   replicated table, so a new replica reaches the other nodes in one gossip round;
 * - the manager, the truth for which endpoints exist: its endpoint stream (a snapshot,
 *   then changes) fills whatever gossip lost, and keeps the view right while gossip is
 *   partitioned or a node's agent is restarting.
 *
 * And one liveness signal: gossip's failure detector. A node it declares failed (or that
 * left) loses its backends in every load balancer at once (lb-model.ts: no new connection),
 * but its endpoints stay programmed here while the manager lists them: what fails is most
 * often only its agent (a crash, an upgrade), while its kernel and tasks still serve, and
 * removing the entries would cut every established flow to it and the replies of its own
 * (its ingress sandbox's connections to tasks elsewhere) until the agent is back. The
 * manager marks them "down" after its heartbeat timeout, and endpoints it marks down are
 * left out. Without the manager's list (before its first snapshot), gossip's entries of a
 * failed node are left out.
 *
 * What is programmed: the manager's endpoints on live nodes, with gossip's VTEP where it
 * has one; gossip alone only until the manager's first snapshot of the network arrived (an
 * agent started while the manager is away). The manager lists an endpoint from the moment
 * it allocates it, before its task runs, so this costs gossip no speed. Every disagreement
 * (an endpoint one source has and the other does not, or with different addresses) is
 * counted, and the agent logs the counts when they change, so a data plane that runs on
 * one source only is seen.
 */
import type { Endpoint, Peer } from '../api/api-types.ts';
import type { RemoteEndpoint } from '../overlay/model.ts';
import type { EndpointRecord } from '../overlay/endpoint-record.ts';
import { bareIp } from '../common/ip.ts';

/** An endpoint as gossip carries it, with the node that published it. */
export interface GossipEndpoint {
  owner: string;
  record: EndpointRecord;
}

export interface ViewStats {
  /** Endpoints the manager lists and gossip does not (programmed from the manager). */
  managerOnly: number;
  /** Endpoints gossip carries and the manager does not list (programmed from gossip). */
  gossipOnly: number;
  /** Endpoints both carry with a different address, MAC or VTEP (the manager's wins). */
  conflicting: number;
  /** Endpoints left out because gossip declared their node failed. */
  deadNode: number;
  /** Endpoints left out because the manager marks them down. */
  markedDown: number;
}

export interface RemoteView {
  remotes: RemoteEndpoint[];
  stats: ViewStats;
}

export interface ViewInput {
  networkId: string;
  selfNodeId: string;
  /** The manager's list for the network; undefined until its first snapshot arrived. */
  manager: ReadonlyMap<string, Endpoint> | undefined;
  /** Gossip entries of the network, by endpoint ID. */
  gossip: ReadonlyMap<string, GossipEndpoint>;
  /** Nodes gossip declares failed or gone. */
  deadNodes: ReadonlySet<string>;
  /** Underlay addresses of the other nodes, for endpoints known only from the manager. */
  peers: ReadonlyMap<string, Peer>;
}

const PROGRAMMED_KINDS = new Set(['task', 'container', 'node-ingress']);

/** The remote endpoints to program for one network (pure). */
export function remoteEndpoints(input: ViewInput): RemoteView {
  const stats: ViewStats = { managerOnly: 0, gossipOnly: 0, conflicting: 0, deadNode: 0, markedDown: 0 };
  const out = new Map<string, RemoteEndpoint>();
  const { manager, gossip, deadNodes, selfNodeId, networkId } = input;

  if (manager) {
    for (const e of manager.values()) {
      if (!PROGRAMMED_KINDS.has(e.kind) || e.nodeId === '' || e.nodeId === selfNodeId || e.mac === '') continue;
      // a node gossip declares failed keeps its entries here while the manager lists them
      // (counted): the load balancers stop sending it new connections at once, and its
      // established flows (and the replies of its own) keep their path while only its agent
      // is away (a restart); the manager marks the endpoints down if the node stays gone
      if (deadNodes.has(e.nodeId)) stats.deadNode++;
      if (e.state === 'down') {
        stats.markedDown++;
        continue;
      }
      const g = gossip.get(e.id);
      const vtep = g?.record.vtep || input.peers.get(e.nodeId)?.addr || '';
      const ip = bareIp(e.addr);
      if (!g) stats.managerOnly++;
      else if (g.record.ip !== ip || g.record.mac !== e.mac || (g.record.vtep !== vtep && vtep !== '')) stats.conflicting++;
      if (vtep === '') continue; // a node whose underlay address nobody knows yet
      out.set(e.id, { networkId, ip, mac: e.mac, vtep });
    }
  }
  for (const [id, g] of gossip) {
    if (out.has(id) || g.owner === selfNodeId) continue;
    if (manager?.has(id)) continue; // left out above for a reason (down, dead node)
    if (deadNodes.has(g.owner)) {
      stats.deadNode++;
      continue;
    }
    if (manager) {
      // the manager is the truth for which endpoints exist: an entry it does not list is
      // stale (a task it removed whose owner never withdrew it); counted, not programmed
      stats.gossipOnly++;
      continue;
    }
    const r = g.record;
    if (r.ip === '' || r.mac === '' || r.vtep === '') continue;
    out.set(id, { networkId, ip: r.ip, mac: r.mac, vtep: r.vtep });
  }
  // One entry per IP: if two records claim one address (a replaced task whose old entry
  // lingers), the manager's wins because it was inserted first.
  const byIp = new Map<string, RemoteEndpoint>();
  for (const r of out.values()) if (!byIp.has(r.ip)) byIp.set(r.ip, r);
  const remotes = [...byIp.values()].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return { remotes, stats };
}
