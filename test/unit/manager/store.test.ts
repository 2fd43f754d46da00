import t from 'tap';
import { join } from 'node:path';
import { SqliteStore } from '../../../src/manager/sqlite-store.ts';
import type { Schema, StoredObject } from '../../../src/manager/store.ts';
import { canonicalJson } from '../../../src/manager/store.ts';
import { tempDir } from '../../support/manager-harness.ts';

interface Thing extends StoredObject {
  name: string;
  group: string;
  tags: string[];
}
interface Kinds {
  thing: Thing;
  other: StoredObject & { n: number };
}
const schema: Schema<Kinds> = {
  thing: {
    indexes: [
      { name: 'name', unique: true, values: (x) => [x.name] },
      { name: 'grp', values: (x) => [x.group] },
      { name: 'tag', multi: true, values: (x) => x.tags },
    ],
  },
  other: { indexes: [] },
};

function open(t: Parameters<typeof tempDir>[0]): { store: SqliteStore<Kinds>; path: string } {
  const path = join(tempDir(t), 'test.db');
  const store = new SqliteStore<Kinds>(path, schema);
  t.teardown(() => store.close());
  return { store, path };
}

const thing = (id: string, name: string, group = 'g', tags: string[] = []): Thing => ({ id, version: 0, name, group, tags });

t.test('store update writes atomically and versions objects with the revision', async (t) => {
  const { store } = open(t);
  t.equal(store.revision(), 0);
  await store.update((tx) => {
    tx.put('thing', thing('a', 'alpha', 'g1', ['x', 'y']));
    tx.put('thing', thing('b', 'beta', 'g1', ['y']));
  });
  t.equal(store.revision(), 1);
  store.view((tx) => {
    t.equal(tx.get('thing', 'a')?.version, 1);
    t.same(
      tx.byIndex('thing', 'grp', 'g1').map((x) => x.id),
      ['a', 'b'],
    );
    t.same(tx.idsByIndex('thing', 'tag', 'y'), ['a', 'b']);
    t.equal(tx.countByIndex('thing', 'tag', 'x'), 1);
    t.same(tx.idsWithPrefix('thing', 'a', 5), ['a']);
    t.equal(tx.count('thing'), 2);
  });
  await store.update((tx) => {
    const a = tx.get('thing', 'a')!;
    a.tags = ['z'];
    tx.put('thing', a);
  });
  store.view((tx) => {
    t.same(tx.idsByIndex('thing', 'tag', 'x'), [], 'multi index entries replaced on put');
    t.same(tx.idsByIndex('thing', 'tag', 'z'), ['a']);
    t.equal(tx.get('thing', 'a')?.version, 2);
  });
});

t.test('store update that throws writes nothing and runs rollback hooks', async (t) => {
  const { store } = open(t);
  await store.update((tx) => tx.put('thing', thing('a', 'alpha')));
  const before = store.dump();
  let rolledBack = false;
  let committed = false;
  await t.rejects(
    store.update((tx) => {
      tx.onRollback(() => (rolledBack = true));
      tx.onCommit(() => (committed = true));
      tx.put('thing', thing('b', 'beta'));
      tx.delete('thing', 'a');
      throw new Error('validation failed half way');
    }),
  );
  t.ok(rolledBack);
  t.notOk(committed);
  t.equal(store.dump(), before, 'dump identical after a failed transaction');
  t.equal(store.revision(), 1);
});

t.test('unique index violations are refused as SHOAL_ERR_ALREADY_EXISTS', async (t) => {
  const { store } = open(t);
  await store.update((tx) => tx.put('thing', thing('a', 'same')));
  await t.rejects(
    store.update((tx) => tx.put('thing', thing('b', 'same'))),
    { code: 'SHOAL_ERR_ALREADY_EXISTS' },
  );
});

t.test('a transaction without writes does not advance the revision', async (t) => {
  const { store } = open(t);
  const before = store.dump();
  await store.update((tx) => tx.get('thing', 'nothing'));
  t.equal(store.revision(), 0);
  t.equal(store.dump(), before);
});

t.test('watchers see each committed batch in order', async (t) => {
  const { store } = open(t);
  const seen: string[] = [];
  const stop = store.watch((b) => seen.push(`${b.revision}:${b.events.map((e) => `${e.op} ${e.kind}/${e.id}`).join(',')}`));
  await store.update((tx) => tx.put('thing', thing('a', 'alpha')));
  await store.update((tx) => tx.delete('thing', 'a'));
  await t.rejects(
    store.update(() => {
      throw new Error('no');
    }),
  );
  stop();
  await store.update((tx) => tx.put('thing', thing('c', 'gamma')));
  t.same(seen, ['1:put thing/a', '2:delete thing/a']);
});

t.test('data survives reopening, and the dump is deterministic and readable read-only', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'x.db');
  const s1 = new SqliteStore<Kinds>(path, schema);
  await s1.update((tx) => {
    tx.put('thing', thing('b', 'beta', 'g', ['q']));
    tx.put('thing', thing('a', 'alpha'));
    tx.put('other', { id: 'o', version: 0, n: 5 });
  });
  const d1 = s1.dump();
  s1.close();
  const s2 = new SqliteStore<Kinds>(path, schema);
  t.teardown(() => s2.close());
  t.equal(s2.revision(), 1);
  t.equal(s2.dump(), d1);
  const ro = new SqliteStore<Kinds>(path, schema, { readonly: true });
  t.teardown(() => ro.close());
  t.equal(ro.dump(), d1);
  t.match(d1, /^revision 1\nother o \{"id":"o","n":5,"version":1\}\nthing a /);
  t.equal(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 2 }] } }), '{"a":{"c":[3,{"e":2,"f":1}],"d":2},"b":1}');
});

t.test('nested update is refused', async (t) => {
  const { store } = open(t);
  await t.rejects(
    store.update(() => {
      store.updateSync(() => undefined);
    }),
    { code: 'SHOAL_ERR_STORE' },
  );
});

t.test('an index declared after data was stored is added and filled on open', async (t) => {
  const path = join(tempDir(t), 'evolve.db');
  const s1 = new SqliteStore<Kinds>(path, { thing: { indexes: [] }, other: { indexes: [] } });
  await s1.update((tx) => {
    tx.put('thing', thing('a', 'alpha', 'g1', ['x']));
    tx.put('thing', thing('b', 'beta', 'g2', ['x', 'y']));
  });
  s1.close();
  const s2 = new SqliteStore<Kinds>(path, schema);
  t.teardown(() => s2.close());
  s2.view((tx) => {
    t.same(tx.idsByIndex('thing', 'grp', 'g2'), ['b']);
    t.same(tx.idsByIndex('thing', 'tag', 'x'), ['a', 'b']);
    t.same(tx.idsByIndex('thing', 'name', 'alpha'), ['a']);
  });
});
