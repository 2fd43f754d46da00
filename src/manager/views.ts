/**
 * Stored records -> API objects: adds what is derived at read time (a network's endpoint
 * count and attached services, a service's running and desired task counts) and drops
 * internal fields.
 */
import type { Network, Service } from '../api/api-types.ts';
import type { Kinds, NetworkRecord, ServiceRecord, TaskRecord } from './objects.ts';
import type { ReadTx } from './store.ts';

/** Derived network fields for many networks at once (two index scans instead of two queries per network). */
export interface NetworkDerived {
  endpoints: Map<string, number>;
  services: Map<string, string[]>;
}

export function networkDerived(tx: ReadTx<Kinds>): NetworkDerived {
  const endpoints = tx.countsByIndex('endpoint', 'network');
  const services = new Map<string, string[]>();
  for (const [networkId, serviceId] of tx.indexEntries('service', 'network')) {
    const list = services.get(networkId);
    if (list) list.push(serviceId);
    else services.set(networkId, [serviceId]);
  }
  return { endpoints, services };
}

export function networkView(tx: ReadTx<Kinds>, rec: NetworkRecord, derived?: NetworkDerived): Network {
  if (derived) return { ...rec, endpointCount: derived.endpoints.get(rec.id) ?? 0, serviceIds: derived.services.get(rec.id) ?? [] };
  return { ...rec, endpointCount: tx.countByIndex('endpoint', 'network', rec.id), serviceIds: tx.idsByIndex('service', 'network', rec.id) };
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
