/**
 * Stored records -> API objects: adds what is derived at read time (a network's endpoint
 * counts and attached services, a service's running and desired task counts), fills what
 * records of older versions lack (an endpoint's state, a task's drained flag) and drops
 * internal fields.
 */
import type { Endpoint, EndpointState, Network, Service, Task } from '../api/api-types.ts';
import type { EndpointRecord, Kinds, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord } from './objects.ts';
import type { ReadTx } from './store.ts';

/** Derived network fields for many networks at once (two index scans instead of two queries per network). */
export interface NetworkDerived {
  endpoints: Map<string, number>;
  down: Map<string, number>;
  services: Map<string, string[]>;
}

export function networkDerived(tx: ReadTx<Kinds>): NetworkDerived {
  const endpoints = tx.countsByIndex('endpoint', 'network');
  const down = tx.countsByIndex('endpoint', 'down');
  const services = new Map<string, string[]>();
  for (const [networkId, serviceId] of tx.indexEntries('service', 'network')) {
    const list = services.get(networkId);
    if (list) list.push(serviceId);
    else services.set(networkId, [serviceId]);
  }
  return { endpoints, down, services };
}

export function networkView(tx: ReadTx<Kinds>, rec: NetworkRecord, derived?: NetworkDerived): Network {
  if (derived) {
    return {
      ...rec,
      endpointCount: derived.endpoints.get(rec.id) ?? 0,
      serviceIds: derived.services.get(rec.id) ?? [],
      downEndpointCount: derived.down.get(rec.id) ?? 0,
    };
  }
  return {
    ...rec,
    endpointCount: tx.countByIndex('endpoint', 'network', rec.id),
    serviceIds: tx.idsByIndex('service', 'network', rec.id),
    downEndpointCount: tx.countByIndex('endpoint', 'down', rec.id),
  };
}

/** The state a new endpoint on this node starts in: down only while the node is marked Down. */
export function endpointStateFor(node: NodeRecord | undefined): EndpointState {
  return node?.status.state === 'down' ? 'down' : 'active';
}

/** An endpoint as the API shows it (a copy: state filled in for records written before it existed). */
export function endpointView(rec: EndpointRecord): Endpoint {
  const state: EndpointState = rec.state === 'down' ? 'down' : rec.state === 'draining' ? 'draining' : 'active';
  return { ...rec, aliases: [...rec.aliases], state, hostname: rec.hostname ?? '' };
}

/** A task as the API shows it: `drained` filled in for records written before it existed (the record itself otherwise). */
export function taskView(rec: TaskRecord): Task {
  return typeof rec.drained === 'boolean' ? rec : { ...rec, drained: false };
}

export function serviceView(tx: ReadTx<Kinds>, rec: ServiceRecord, tasks?: readonly TaskRecord[]): Service {
  const { specVersion: _specVersion, ...rest } = rec;
  const list = tasks ?? tx.byIndex('task', 'service', rec.id);
  let running = 0;
  let live = 0;
  for (const t of list) {
    if (t.desiredState !== 'running') continue;
    live++;
    if (t.status.state === 'running') running++;
  }
  const desired = rec.spec.mode.replicated ? rec.spec.mode.replicated.replicas : live;
  return { ...rest, serviceStatus: { runningTasks: running, desiredTasks: desired } };
}
