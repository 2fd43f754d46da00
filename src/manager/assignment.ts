/**
 * A node's assignment: what its agent must know, computed from the store, and the delta
 * between two assignments.
 *
 * The assignment of node N holds: N's node record; N's live tasks (desired running, or not
 * yet ended) and standalone containers; N's own endpoints (task and container addresses,
 * its ingress sandbox address); every network those attach to plus `ingress`; every
 * service attached to those networks (VIPs and ports, for load balancing and DNS); the
 * gossip keyring; the trusted root CAs; and the other Ready nodes as gossip peers. Each item is keyed
 * (`task/<id>`) and versioned (the store revision of its last change), so the delta from
 * the previous assignment is the items whose version changed plus the keys that left.
 *
 * Services in assignments carry zero running/desired counts: agents do not use them, and
 * keeping them exact would mean resending every service on every task state change.
 */
import { DEFAULT_GOSSIP_PORT } from '../api/api-defaults.ts';
import type { Assignment, AssignmentRemovals, CaTrust, Container, Endpoint, Network, Node, Peer, Service, Task } from '../api/api-types.ts';
import { caTrustOf } from './ca-rotation.ts';
import { keyringForAgents } from './keyring.ts';
import type { Kinds, NodeRecord, TaskRecord } from './objects.ts';
import { CLUSTER_KEY } from './objects.ts';
import { isLive, isTerminal } from './scheduler.ts';
import type { ReadTx } from './store.ts';
import { endpointView, taskView } from './views.ts';

export type ItemKind = 'node' | 'task' | 'container' | 'endpoint' | 'network' | 'service' | 'keyring' | 'peer' | 'ca';

export interface AssignmentItem {
  kind: ItemKind;
  id: string;
  version: number;
  value: unknown;
}

/** key -> item */
export type AssignmentSet = Map<string, AssignmentItem>;

function add(set: AssignmentSet, kind: ItemKind, id: string, version: number, value: unknown): void {
  set.set(`${kind}/${id}`, { kind, id, version, value });
}

/** The peer entry of a node: where its gossip listens. */
export function peerOf(n: NodeRecord): Peer {
  return {
    nodeId: n.id,
    addr: n.status.addr,
    hostname: n.description.hostname,
    role: n.spec.role,
    gossipPort: n.status.gossipPort || DEFAULT_GOSSIP_PORT,
  };
}

/** A task the node's agent must know: one the manager wants running, or one not yet ended. */
function assignedTask(t: TaskRecord): boolean {
  return isLive(t) || !isTerminal(t);
}

/**
 * The networks in a node's assignment: ingress, and every network its assigned tasks, its
 * containers and its endpoints attach to (what it may watch the endpoints of).
 */
export function assignedNetworkIds(tx: ReadTx<Kinds>, nodeId: string): Set<string> {
  const ids = new Set<string>();
  const cluster = tx.get('cluster', CLUSTER_KEY);
  if (cluster) ids.add(cluster.ingressNetworkId);
  for (const t of tx.byIndex('task', 'node', nodeId)) if (assignedTask(t)) for (const n of t.networks) ids.add(n.networkId);
  for (const c of tx.byIndex('container', 'node', nodeId)) for (const n of c.networks) ids.add(n.networkId);
  for (const e of tx.byIndex('endpoint', 'node', nodeId)) ids.add(e.networkId);
  return ids;
}

export function computeAssignment(tx: ReadTx<Kinds>, nodeId: string): AssignmentSet {
  const set: AssignmentSet = new Map();
  const node = tx.get('node', nodeId);
  const cluster = tx.get('cluster', CLUSTER_KEY);
  if (!node || !cluster) return set;
  add(set, 'node', node.id, node.version, node);

  const networkIds = new Set<string>([cluster.ingressNetworkId]);
  for (const t of tx.byIndex('task', 'node', nodeId)) {
    if (!assignedTask(t)) continue;
    add(set, 'task', t.id, t.version, taskView(t));
    for (const n of t.networks) networkIds.add(n.networkId);
  }
  for (const c of tx.byIndex('container', 'node', nodeId)) {
    add(set, 'container', c.id, c.version, c);
    for (const n of c.networks) networkIds.add(n.networkId);
  }
  for (const e of tx.byIndex('endpoint', 'node', nodeId)) {
    add(set, 'endpoint', e.id, e.version, endpointView(e));
    networkIds.add(e.networkId);
  }
  for (const id of networkIds) {
    const n = tx.get('network', id);
    if (!n) continue;
    add(set, 'network', n.id, n.version, { ...n, endpointCount: 0, serviceIds: [], downEndpointCount: 0 });
    for (const s of tx.byIndex('service', 'network', id)) {
      if (set.has(`service/${s.id}`)) continue;
      const { specVersion: _v, ...rest } = s;
      add(set, 'service', s.id, s.version, { ...rest, serviceStatus: { runningTasks: 0, desiredTasks: 0 } });
    }
  }
  add(set, 'keyring', 'cluster', cluster.keyring.version, keyringForAgents(cluster.keyring));
  // the trusted roots: a new version is how a node learns of a root CA rotation (ca-rotation.ts)
  add(set, 'ca', 'cluster', cluster.caVersion ?? 0, caTrustOf(cluster));
  for (const peer of tx.all('node')) {
    if (peer.id === nodeId || peer.status.state !== 'ready' || peer.status.addr === '') continue;
    add(set, 'peer', peer.id, peer.version, peerOf(peer));
  }
  return set;
}

export function emptyAssignment(): Assignment {
  return { networks: [], tasks: [], services: [], endpoints: [], containers: [], peers: [] };
}

export function emptyRemovals(): AssignmentRemovals {
  return { networkIds: [], taskIds: [], serviceIds: [], endpointIds: [], containerIds: [], peerIds: [] };
}

function put(a: Assignment, item: AssignmentItem): void {
  switch (item.kind) {
    case 'node':
      a.node = item.value as Node;
      break;
    case 'task':
      a.tasks.push(item.value as Task);
      break;
    case 'container':
      a.containers.push(item.value as Container);
      break;
    case 'endpoint':
      a.endpoints.push(item.value as Endpoint);
      break;
    case 'network':
      a.networks.push(item.value as Network);
      break;
    case 'service':
      a.services.push(item.value as Service);
      break;
    case 'keyring':
      a.keyring = item.value as Assignment['keyring'] & object;
      break;
    case 'peer':
      a.peers.push(item.value as Peer);
      break;
    case 'ca':
      a.ca = item.value as CaTrust;
      break;
  }
}

function remove(r: AssignmentRemovals, item: { kind: ItemKind; id: string }): void {
  switch (item.kind) {
    case 'task':
      r.taskIds.push(item.id);
      break;
    case 'container':
      r.containerIds.push(item.id);
      break;
    case 'endpoint':
      r.endpointIds.push(item.id);
      break;
    case 'network':
      r.networkIds.push(item.id);
      break;
    case 'service':
      r.serviceIds.push(item.id);
      break;
    case 'peer':
      r.peerIds.push(item.id);
      break;
    default:
      break; // the node, the keyring and the roots are never removed from a live assignment
  }
}

/** The whole assignment as one snapshot message body. */
export function snapshotOf(set: AssignmentSet): Assignment {
  const a = emptyAssignment();
  for (const key of [...set.keys()].sort()) put(a, set.get(key)!);
  return a;
}

/** What changed from `previous` (key -> version) to `next`; undefined when nothing did. */
export function deltaOf(
  previous: ReadonlyMap<string, number>,
  next: AssignmentSet,
): { updates: Assignment; removals: AssignmentRemovals } | undefined {
  const updates = emptyAssignment();
  const removals = emptyRemovals();
  let changed = false;
  for (const key of [...next.keys()].sort()) {
    const item = next.get(key)!;
    if (previous.get(key) !== item.version) {
      put(updates, item);
      changed = true;
    }
  }
  for (const key of [...previous.keys()].sort()) {
    if (next.has(key)) continue;
    const slash = key.indexOf('/');
    remove(removals, { kind: key.slice(0, slash) as ItemKind, id: key.slice(slash + 1) });
    changed = true;
  }
  return changed ? { updates, removals } : undefined;
}

/** key -> version of an assignment (what a session remembers having sent). */
export function versionsOf(set: AssignmentSet): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of set) out.set(k, v.version);
  return out;
}
