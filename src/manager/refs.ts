/**
 * Resolution of the references users type (Docker's rules): an exact ID, then an exact
 * name, then a unique ID prefix. Two objects matching a prefix is SHOAL_ERR_AMBIGUOUS_REF;
 * nothing matching is the kind's NOT_FOUND code.
 */
import { apiError } from '../api/errors.ts';
import type { ApiErrorCode } from '../api/errors.ts';
import type { ContainerRecord, Kinds, NetworkRecord, NodeRecord, ServiceRecord } from './objects.ts';
import type { ReadTx } from './store.ts';

function resolve<K extends 'network' | 'service' | 'container' | 'node'>(
  tx: ReadTx<Kinds>,
  kind: K,
  ref: string,
  byName: (name: string) => Kinds[K][],
  notFound: ApiErrorCode,
): Kinds[K] {
  const what = kind;
  if (typeof ref !== 'string' || ref === '') throw apiError(notFound, `${what} name or ID is empty`);
  const exact = tx.get(kind, ref);
  if (exact) return exact;
  const named = byName(ref);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw apiError('SHOAL_ERR_AMBIGUOUS_REF', `${what} ${ref} is ambiguous (${named.length} ${what}s have that name); use an ID`, {
      ref,
      matches: named.map((o) => o.id),
    });
  }
  if (/^[0-9a-z]+$/.test(ref)) {
    const ids = tx.idsWithPrefix(kind, ref, 2);
    if (ids.length === 1) return tx.get(kind, ids[0]!)!;
    if (ids.length > 1) throw apiError('SHOAL_ERR_AMBIGUOUS_REF', `${what} ${ref} is ambiguous (several IDs start with it)`, { ref });
  }
  throw apiError(notFound, `${what} ${ref} not found`, { ref });
}

export function resolveNetwork(tx: ReadTx<Kinds>, ref: string): NetworkRecord {
  return resolve(tx, 'network', ref, (n) => tx.byIndex('network', 'name', n), 'SHOAL_ERR_NETWORK_NOT_FOUND');
}

export function resolveService(tx: ReadTx<Kinds>, ref: string): ServiceRecord {
  return resolve(tx, 'service', ref, (n) => tx.byIndex('service', 'name', n), 'SHOAL_ERR_SERVICE_NOT_FOUND');
}

export function resolveContainer(tx: ReadTx<Kinds>, ref: string): ContainerRecord {
  return resolve(tx, 'container', ref, (n) => tx.byIndex('container', 'name', n), 'SHOAL_ERR_CONTAINER_NOT_FOUND');
}

/** The name `node ls` shows: the spec name if set, else the hostname. */
export function nodeName(n: NodeRecord): string {
  return n.spec.name !== '' ? n.spec.name : n.description.hostname;
}

export function resolveNode(tx: ReadTx<Kinds>, ref: string, selfId?: string): NodeRecord {
  if (ref === 'self' && selfId !== undefined) {
    const self = tx.get('node', selfId);
    if (self) return self;
  }
  return resolve(tx, 'node', ref, (n) => tx.all('node').filter((x) => nodeName(x) === n), 'SHOAL_ERR_NODE_NOT_FOUND');
}
