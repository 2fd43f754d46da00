/**
 * The data-plane summary `shoal info` prints for this node (the local API's GET /info):
 * counts of what the agent programmed, taken from the inputs of its last syncs. Pure: the
 * agent hands it what it holds, nothing here reads the kernel.
 */
import type { Service } from '../api/api-types.ts';
import type { GossipDrops } from '../gossip/index.ts';

export interface NodeInfo {
  nodeId: string;
  prefix: string;
  advertiseAddr: string;
  /** UDP and TCP port of this node's gossip. */
  gossipPort: number;
  /** Whether the agent holds a session with a manager now. */
  connected: boolean;
  /** Overlay networks in the last overlay model the agent synced (their namespaces and VXLAN links). */
  networks: number;
  /** Task and container sandboxes the last successful overlay sync built. */
  sandboxes: number;
  /** Services with a virtual IP on a network this node has: each one is load-balanced in its sandboxes' tables. */
  loadBalancedServices: number;
  /** nftables tables of the load balancers (the routing mesh's and the sandboxes'). */
  lbTables: number;
  resolver: { sandboxes: number; queries: number };
  workloads: { running: number; total: number };
  /** Received gossip dropped, by reason (docs/operations.md, Security); absent before gossip started. */
  gossipDrops?: GossipDrops;
}

export interface NodeInfoSources {
  nodeId: string;
  prefix: string;
  advertiseAddr: string;
  gossipPort: number;
  connected: boolean;
  modelNetworks: number;
  appliedSandboxes: number;
  services: Iterable<Service>;
  lbTables: number;
  resolverSandboxes: number;
  resolverQueries: number;
  workloadPhases: readonly string[];
  gossipDrops?: GossipDrops;
}

export function nodeInfo(src: NodeInfoSources): NodeInfo {
  let lb = 0;
  for (const s of src.services) {
    if (s.spec.endpointSpec.mode === 'dnsrr') continue;
    if (s.endpoint.virtualIps.some((v) => v.addr !== '')) lb++;
  }
  return {
    nodeId: src.nodeId,
    prefix: src.prefix,
    advertiseAddr: src.advertiseAddr,
    gossipPort: src.gossipPort,
    connected: src.connected,
    networks: src.modelNetworks,
    sandboxes: src.appliedSandboxes,
    loadBalancedServices: lb,
    lbTables: src.lbTables,
    resolver: { sandboxes: src.resolverSandboxes, queries: src.resolverQueries },
    workloads: { running: src.workloadPhases.filter((p) => p === 'running').length, total: src.workloadPhases.length },
    ...(src.gossipDrops ? { gossipDrops: src.gossipDrops } : {}),
  };
}
