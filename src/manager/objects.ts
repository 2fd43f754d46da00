/**
 * What the manager stores: one record type per kind, and the store schema (secondary
 * indexes) that the API's look-ups need.
 *
 * Records are the API objects (api-types.ts) minus what is derived at read time (a
 * network's endpoint count and services, a service's running/desired counts), plus a few
 * internal fields. A network's IPAM state lives in its own kind (`ipam`) so that address
 * churn on a network does not touch the network object agents watch.
 */
import type { Container, Endpoint, Network, Node, Service, Task } from '../api/api-types.ts';
import { isTerminal } from './scheduler.ts';
import type { Schema, StoredObject } from './store.ts';

export interface StoredGossipKey {
  /** 32 random bytes, base64. */
  key: string;
  lamportTime: number;
  createdAt: string;
}

export interface ClusterRecord extends StoredObject {
  /** Always CLUSTER_ID_KEY: there is one cluster record. */
  id: string;
  clusterId: string;
  createdAt: string;
  updatedAt: string;
  /** The root that signs certificates now (during a rotation: the new one). */
  ca: { certPem: string; keyPem: string; digest: string };
  /** A root CA rotation under way (ca-rotation.ts); absent when none is. */
  caRotation?: CaRotationRecord;
  /** Bumped whenever the trusted roots change (the assignment's `ca` item version); absent = 0. */
  caVersion?: number;
  /** Lifetime of node certificates issued from now on, ms (`swarm update --cert-expiry`); absent = the manager's configured default. */
  certExpiryMs?: number;
  joinTokens: { worker: string; manager: string };
  defaultAddrPools: string[];
  defaultAddrPoolMaskLength: number;
  portRangeStart: number;
  portRangeEnd: number;
  managerNodeId: string;
  /** host:port agents dial. */
  managerAddr: string;
  ingressNetworkId: string;
  /** Oldest first; the last key is primary. */
  keyring: { version: number; keys: StoredGossipKey[] };
}

/** A root CA rotation: the root being replaced stays trusted until every node holds a certificate of the new one. */
export interface CaRotationRecord {
  previous: { certPem: string; digest: string };
  /** The new root's certificate signed by the previous root (ca.ts crossSignRoot). */
  crossSignedPem: string;
  startedAt: string;
}

export const CLUSTER_KEY = 'cluster';

export type NodeRecord = Node;
export type NetworkRecord = Omit<Network, 'endpointCount' | 'serviceIds' | 'downEndpointCount'>;
/** `specVersion`: the service version whose task template (and networks, host ports) tasks must run. */
export type ServiceRecord = Omit<Service, 'serviceStatus'> & { specVersion: number };
/** `drained` may be missing in records written before tasks had it: it means false. */
export type TaskRecord = Task;
export type ContainerRecord = Container;
/** `state` may be missing in records written before endpoints had one: it means active. */
export type EndpointRecord = Endpoint;

/** A network's IPAM durable form (NetworkIpam.serialize()). */
export interface IpamRecord extends StoredObject {
  name: string;
  state: string;
}

export interface Kinds {
  cluster: ClusterRecord;
  node: NodeRecord;
  network: NetworkRecord;
  ipam: IpamRecord;
  service: ServiceRecord;
  task: TaskRecord;
  container: ContainerRecord;
  endpoint: EndpointRecord;
}

export type Kind = keyof Kinds;

/** Networks a service occupies: its attachments plus ingress when it publishes ingress ports. */
export function serviceNetworkIds(s: ServiceRecord): string[] {
  const ids = s.spec.networks.map((n) => n.target);
  for (const vip of s.endpoint.virtualIps) if (!ids.includes(vip.networkId)) ids.push(vip.networkId);
  return ids;
}

/** A task the manager is shutting down that has not ended and has not left the load balancers yet. */
export function undrained(t: TaskRecord): boolean {
  return t.desiredState === 'shutdown' && t.drained !== true && !isTerminal(t);
}

export const MANAGER_SCHEMA: Schema<Kinds> = {
  cluster: { indexes: [] },
  node: { indexes: [] },
  network: { indexes: [{ name: 'name', unique: true, values: (n) => [n.spec.name] }] },
  ipam: { indexes: [] },
  service: {
    indexes: [
      { name: 'name', unique: true, values: (s) => [s.spec.name] },
      { name: 'network', multi: true, values: serviceNetworkIds },
      { name: 'mode', values: (s) => [s.spec.mode.global !== undefined ? 'global' : 'replicated'] },
    ],
  },
  task: {
    indexes: [
      { name: 'service', values: (t) => [t.serviceId] },
      { name: 'node', values: (t) => [t.nodeId] },
      // services with tasks waiting for a node (what a node becoming ready may schedule)
      { name: 'unassigned', values: (t) => (t.nodeId === '' && t.desiredState === 'running' ? [t.serviceId] : []) },
      // tasks shutting down whose drain is not complete (what a restarted manager waits for again)
      { name: 'undrained', values: (t) => (undrained(t) ? [t.nodeId] : []) },
    ],
  },
  container: {
    indexes: [
      { name: 'name', unique: true, values: (c) => [c.spec.name] },
      { name: 'node', values: (c) => [c.nodeId] },
    ],
  },
  endpoint: {
    indexes: [
      { name: 'network', values: (e) => [e.networkId] },
      { name: 'owner', values: (e) => [e.ownerId] },
      { name: 'node', values: (e) => [e.nodeId] },
      // networks with endpoints whose node is Down (the networks' down counts)
      { name: 'down', values: (e) => (e.state === 'down' ? [e.networkId] : []) },
    ],
  },
};
