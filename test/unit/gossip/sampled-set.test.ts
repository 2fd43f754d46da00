import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { MemberTable, membershipSnapshot } from '../../../src/gossip/member-table.ts';
import { SampledSet, sharedNames } from '../../../src/gossip/sampled-set.ts';

t.test('sampled set: add, delete, sample without duplicates, over a shared base', async (t) => {
  const base = sharedNames(Array.from({ length: 100 }, (_, i) => `n${i}`));
  const s = new SampledSet(base);
  t.equal(s.size, 100);
  t.ok(s.delete('n5'));
  t.notOk(s.delete('n5'));
  t.notOk(s.has('n5'));
  t.ok(s.add('x1'));
  t.notOk(s.add('n6'), 'already present');
  t.equal(s.size, 100);
  const rng = createRng(7);
  for (let i = 0; i < 200; i++) {
    const got = s.sample(rng, 5, (n) => n === 'n7');
    t.equal(new Set(got).size, 5);
    if (got.includes('n5') || got.includes('n7')) t.fail('sampled a removed or rejected name');
  }
  const small = new SampledSet();
  small.add('a');
  small.add('b');
  t.same(small.sample(rng, 5).sort(), ['a', 'b'], 'asks for more than there are: all of them');
  t.same(
    small.sample(rng, 2, () => true),
    [],
    'everything rejected',
  );
  const other = new SampledSet(base);
  t.equal(other.size, 100, 'the base is not modified by another set');
});

t.test('member table: probe order visits every live member once per cycle', async (t) => {
  const snap = membershipSnapshot(
    Array.from({ length: 50 }, (_, i) => ({ name: `n${i}`, addr: `192.0.2.${i}:7946` })),
    1,
  );
  const table = new MemberTable('n0', snap);
  t.equal(table.liveCount, 50);
  const dead = table.get('n3')!;
  table.setState(dead, 'dead', 10);
  t.equal(table.liveCount, 49);
  t.ok(table.failed.has('n3'));
  const rng = createRng(3);
  const seen = new Map<string, number>();
  for (let i = 0; i < 48 * 3; i++) {
    const n = table.nextProbeTarget(rng)!;
    seen.set(n, (seen.get(n) ?? 0) + 1);
  }
  t.equal(seen.size, 48, 'every live member but self');
  t.notOk(seen.has('n0') || seen.has('n3'));
  t.ok(
    [...seen.values()].every((c) => c === 3),
    'each exactly once per cycle',
  );
  table.remove('n3');
  t.equal(table.get('n3'), undefined);
  t.equal(table.size, 49);
  table.add({ name: 'n3', addr: 'a', incarnation: 2, state: 'alive', since: 20, accusedAt: -Infinity });
  t.equal(table.size, 50);
  t.equal(table.liveCount, 50);
});
