/**
 * The manager's store: the narrow interface every backend implements.
 *
 * The store holds typed objects by kind and ID, each with the store revision of its last
 * change (`version`), plus a few declared secondary indexes per kind (single- or
 * multi-valued, optionally unique). That is all the manager asks of persistence:
 *
 * - `view(fn)`: consistent synchronous reads;
 * - `update(fn)`: one atomic transaction. `fn` runs synchronously, reads and writes through
 *   the transaction, and must have no side effects except through `onCommit`/`onRollback`
 *   hooks, so that a backend may run it again (an etcd backend runs `fn` against its local
 *   replica and commits with a compare-on-revision transaction, retrying `fn` on conflict).
 *   If `fn` throws, nothing is written and the hooks registered with `onRollback` run;
 * - `watch(listener)`: the changes of each committed transaction, in commit order;
 * - `dump()`: a deterministic text form of everything (tests compare dumps byte for byte).
 *
 * Secondary indexes map to SQLite columns and side tables in sqlite-store.ts, and would map
 * to extra keys (`/idx/<kind>/<index>/<value>/<id>`) in etcd.
 */

export interface StoredObject {
  id: string;
  /** Store revision of the transaction that last wrote the object. Set by the store. */
  version: number;
}

export interface IndexDef<T> {
  name: string;
  /** At most one object per value (enforced by the backend as a last line of defence). */
  unique?: boolean;
  /** Several values per object (e.g. every network a service is attached to). */
  multi?: boolean;
  /** The object's values for this index; empty = not indexed. */
  values(obj: T): readonly string[];
}

export type Schema<M> = { readonly [K in keyof M]: { readonly indexes: readonly IndexDef<M[K]>[] } };

export interface ReadTx<M> {
  /** Revision of the last committed transaction this view sees. */
  readonly revision: number;
  get<K extends keyof M & string>(kind: K, id: string): M[K] | undefined;
  /** Objects whose index `index` has `value`, ordered by ID. */
  byIndex<K extends keyof M & string>(kind: K, index: string, value: string): M[K][];
  /** IDs of the objects whose index `index` has `value`, ordered (no parsing: cheap). */
  idsByIndex<K extends keyof M & string>(kind: K, index: string, value: string): string[];
  countByIndex<K extends keyof M & string>(kind: K, index: string, value: string): number;
  /** Number of objects per index value, over the whole kind (one scan instead of a query per value). */
  countsByIndex<K extends keyof M & string>(kind: K, index: string): Map<string, number>;
  /** Every (value, id) pair of an index, ordered by value then ID. */
  indexEntries<K extends keyof M & string>(kind: K, index: string): [string, string][];
  /** Every object of a kind, ordered by ID. */
  all<K extends keyof M & string>(kind: K): M[K][];
  count<K extends keyof M & string>(kind: K): number;
  /** IDs starting with `prefix` (at most `limit`), for Docker-style ID-prefix references. */
  idsWithPrefix<K extends keyof M & string>(kind: K, prefix: string, limit: number): string[];
}

export interface WriteTx<M> extends ReadTx<M> {
  /** Creates or replaces; sets `version` to this transaction's revision and returns the object. */
  put<K extends keyof M & string>(kind: K, obj: M[K]): M[K];
  /** Deletes; false when there was nothing (idempotent). */
  delete<K extends keyof M & string>(kind: K, id: string): boolean;
  /** Runs after the transaction committed. */
  onCommit(fn: () => void): void;
  /** Runs when the transaction did not commit (fn threw, or the commit failed). */
  onRollback(fn: () => void): void;
}

export interface ChangeEvent {
  kind: string;
  id: string;
  op: 'put' | 'delete';
  /** The new object for puts. */
  object?: unknown;
}

export interface ChangeBatch {
  revision: number;
  events: readonly ChangeEvent[];
}

export type ChangeListener = (batch: ChangeBatch) => void;

/** Redaction hook for dumps: returns what to print for one object. */
export type DumpRedactor = (kind: string, obj: Record<string, unknown>) => Record<string, unknown>;

export interface Store<M> {
  view<T>(fn: (tx: ReadTx<M>) => T): T;
  update<T>(fn: (tx: WriteTx<M>) => T): Promise<T>;
  watch(listener: ChangeListener): () => void;
  revision(): number;
  dump(redact?: DumpRedactor): string;
  close(): void;
}

/** JSON with object keys sorted at every level: the canonical text of a stored object. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
