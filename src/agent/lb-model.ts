/**
 * From what the agent knows to the load balancers' models (src/vip): one east-west table
 * per local sandbox, the ingress sandbox's table, and the host's routing-mesh table. Pure:
 * the agent calls it on every load-balancer sync.
 *
 * Backends. A task is a backend of its service on a network when the manager lists its
 * endpoint there (the truth for which exist; gossip alone only until the manager's first
 * snapshot), its node is alive (gossip's failure detector) and not marked down, and it
 * runs: for a local task the agent's own workload state says so; for a remote one, the
 * record its agent publishes into gossip (published only while the task runs, with its
 * health). A backend with a failing or not yet passing health check is in the model as
 * unhealthy: it gets no new connections and its established ones are cut. A task the
 * manager asks to stop is draining (its endpoint's state says so, and its own agent
 * publishes it so into gossip): no new connections, established ones kept until it
 * leaves.
 *
 * East-west: a sandbox reaches every `--endpoint-mode vip` service on each network it is
 * attached to (the ingress network excepted) by the service's VIP on that network, on
 * every port, as Docker's VIP does: a connection to VIP:P goes to a backend's port P.
 * dnsrr services have no VIP and are not here.
 *
 * Ingress: the ingress sandbox balances each ingress-mode published port over the
 * service's tasks on the ingress network (on every node), reached at the sandbox's own
 * egress address, where the host's mesh table sends published ports.
 */
import type { Endpoint, Network, Service } from '../api/api-types.ts';
import type { HostModePort, MeshHostModel, MeshPort } from '../vip/mesh-plan.ts';
import type { VipBackend, VipModel, VipService } from '../vip/model.ts';
import type { GossipEndpoint } from './endpoint-view.ts';
import { bareIp } from '../common/ip.ts';

/** The ingress sandbox's id: its namespace is `${prefix}sb-ingress-sbox`. */
export const INGRESS_SANDBOX_ID = 'ingress-sbox';

/** The load-balancer table in every sandbox (family ip). */
export function lbTableName(prefix: string): string {
  return `${prefix}lb`;
}

/** The ingress sandbox's source-NAT table. */
export function ingressSnatTableName(prefix: string): string {
  return `${prefix}isnat`;
}

/** The host's routing-mesh table. */
export function meshTableName(prefix: string): string {
  return `${prefix}mesh`;
}

/** What the agent knows of one local workload, for backend decisions. */
export interface LocalWorkload {
  running: boolean;
  health: string;
  /** The manager wants it stopped (it is leaving the load balancers). */
  stopping: boolean;
}

export interface BackendInput {
  selfNodeId: string;
  /** The manager's endpoints of the network; undefined until its first snapshot. */
  manager: ReadonlyMap<string, Endpoint> | undefined;
  gossip: ReadonlyMap<string, GossipEndpoint>;
  deadNodes: ReadonlySet<string>;
  local: (ownerId: string) => LocalWorkload | undefined;
  /**
   * Filled with the endpoints kept serving although draining: a service whose every
   * healthy backend is draining keeps them for new connections rather than refuse them
   * (the replacement is not in this node's load balancers yet). Such an endpoint is not
   * acknowledged as drained until its service has another backend here.
   */
  heldDraining?: Set<string>;
  /** Filled with the endpoints that take new connections: healthy and not draining. */
  joined?: Set<string>;
  /** Whether a remote endpoint's overlay entries are in place (default: all are). */
  reachable?: (ip: string) => boolean;
}

function healthy(health: string): boolean {
  return health === '' || health === 'healthy';
}

/** The backends of every service on one network, by service id, in address order. */
export function serviceBackends(input: BackendInput): Map<string, VipBackend[]> {
  const out = new Map<string, VipBackend[]>();
  const ids = new Map<VipBackend, string>();
  const add = (serviceId: string, b: VipBackend, endpointId: string): void => {
    ids.set(b, endpointId);
    if (b.healthy && !b.draining) input.joined?.add(endpointId);
    const list = out.get(serviceId);
    if (list) list.push(b);
    else out.set(serviceId, [b]);
  };
  const { manager, gossip, deadNodes, selfNodeId } = input;
  if (manager) {
    for (const e of manager.values()) {
      if (e.kind !== 'task' || e.serviceId === '' || e.nodeId === '' || e.state === 'down') continue;
      const ip = bareIp(e.addr);
      const managerDrains = e.state === 'draining';
      if (e.nodeId === selfNodeId) {
        const w = input.local(e.ownerId);
        if (!w?.running) continue;
        add(e.serviceId, { ip, healthy: healthy(w.health), ...(w.stopping || managerDrains ? { draining: true } : {}) }, e.id);
        continue;
      }
      const g = gossip.get(e.id);
      if (!g) continue; // not running (its agent publishes running tasks only)
      if (input.reachable && !input.reachable(ip)) continue; // the overlay cannot reach it yet
      // A node gossip declares failed gets no new connection, but its established ones are
      // left alone (draining, not removed): most often only its agent died, and the node's
      // kernel still serves them. Its unanswered entries go (lost: SYNs sent before the
      // failure was known, which a reused client port would follow to it).
      const lost = deadNodes.has(e.nodeId);
      const draining = managerDrains || g.record.state === 'draining' || lost;
      add(
        e.serviceId,
        { ip, healthy: healthy(g.record.health), ...(draining ? { draining: true } : {}), ...(lost ? { lost: true } : {}) },
        e.id,
      );
    }
  } else {
    for (const g of gossip.values()) {
      const r = g.record;
      if (r.kind !== 'task' || r.serviceId === '' || deadNodes.has(g.owner) || r.ip === '') continue;
      add(r.serviceId, { ip: r.ip, healthy: healthy(r.health), ...(r.state === 'draining' ? { draining: true } : {}) }, r.endpointId);
    }
  }
  for (const [serviceId, list] of out) {
    list.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    if (list.some((b) => b.healthy && !b.draining)) continue;
    // nothing else serves: the draining ones keep taking connections until something does
    out.set(
      serviceId,
      list.map((b) => {
        if (!b.draining || !b.healthy) return b;
        input.heldDraining?.add(ids.get(b)!);
        return { ip: b.ip, healthy: true };
      }),
    );
  }
  return out;
}

/** A local sandbox and the networks it is attached to. */
export interface LbSandbox {
  id: string;
  networkIds: readonly string[];
}

export interface LbInput {
  prefix: string;
  ingressNetworkId: string | undefined;
  networks: ReadonlyMap<string, Network>;
  services: ReadonlyMap<string, Service>;
  sandboxes: readonly LbSandbox[];
  /** Backends by network, then service (serviceBackends). */
  backends: (networkId: string) => ReadonlyMap<string, VipBackend[]>;
  /** The ingress sandbox's egress address (no prefix length), when it has one. */
  ingressAddress: string | undefined;
  /** The egress bridge's name in the host namespace. */
  bridge: string;
  /** `mode=host` ports of local running tasks, with their egress addresses. */
  hostPorts: HostModePort[];
}

export interface LbModels {
  /** Sandbox id -> its table's model (a sandbox that reaches no service has none). */
  sandboxes: Map<string, VipModel>;
  /** The ingress sandbox's table, when this node has the ingress network. */
  ingress: VipModel | undefined;
  mesh: MeshHostModel;
}

/** Every port of both protocols: the service's VIP behaves as Docker's does. */
const EVERY_PORT = [
  { protocol: 'tcp', port: 0, targetPort: 0 },
  { protocol: 'udp', port: 0, targetPort: 0 },
] as const;

/** The ingress-mode published ports of a service. */
export function ingressPorts(s: Service): Array<MeshPort & { targetPort: number }> {
  const out: Array<MeshPort & { targetPort: number }> = [];
  for (const p of s.endpoint.ports) {
    if (p.publishMode !== 'ingress' || p.publishedPort === undefined) continue;
    const protocol = p.protocol === 'tcp' ? 'tcp' : p.protocol === 'udp' ? 'udp' : undefined;
    if (protocol) out.push({ protocol, port: p.publishedPort, targetPort: p.targetPort });
  }
  return out;
}

export function buildLbModels(input: LbInput): LbModels {
  const tableName = lbTableName(input.prefix);
  const byNetwork = new Map<string, Array<{ service: Service; vip: string }>>();
  for (const s of input.services.values()) {
    if (s.spec.endpointSpec.mode === 'dnsrr') continue;
    for (const v of s.endpoint.virtualIps) {
      if (v.networkId === input.ingressNetworkId || v.addr === '') continue;
      const list = byNetwork.get(v.networkId) ?? [];
      list.push({ service: s, vip: bareIp(v.addr) });
      byNetwork.set(v.networkId, list);
    }
  }
  const sandboxes = new Map<string, VipModel>();
  for (const sb of input.sandboxes) {
    const services: VipService[] = [];
    for (const n of sb.networkIds) {
      const list = byNetwork.get(n);
      if (!list) continue;
      const backends = input.backends(n);
      for (const { service, vip } of list) {
        services.push({
          id: `${service.id}/${n}`,
          vip,
          ports: EVERY_PORT.map((p) => ({ ...p })),
          backends: backends.get(service.id) ?? [],
        });
      }
    }
    if (services.length > 0) sandboxes.set(sb.id, { tableName, services });
  }

  let ingress: VipModel | undefined;
  const meshPorts: MeshPort[] = [];
  const ingressId = input.ingressNetworkId;
  if (ingressId && input.networks.has(ingressId)) {
    const services: VipService[] = [];
    const backends = input.backends(ingressId);
    for (const s of input.services.values()) {
      const ports = ingressPorts(s);
      if (ports.length === 0) continue;
      for (const p of ports) meshPorts.push({ protocol: p.protocol, port: p.port });
      if (input.ingressAddress === undefined) continue;
      services.push({
        id: s.id,
        vip: input.ingressAddress,
        ports: ports.map((p) => ({ protocol: p.protocol, port: p.port, targetPort: p.targetPort })),
        backends: backends.get(s.id) ?? [],
      });
    }
    ingress = { tableName, services };
  }
  return {
    sandboxes,
    ingress,
    mesh: {
      tableName: meshTableName(input.prefix),
      bridge: input.bridge,
      ingressAddress: input.ingressAddress,
      ingressPorts: meshPorts,
      hostPorts: input.hostPorts,
    },
  };
}
