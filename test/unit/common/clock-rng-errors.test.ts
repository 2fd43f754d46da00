import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import { createRng } from '../../../src/common/rng.ts';
import {
  ShoalError,
  asShoalError,
  declaredErrorTables,
  defineErrorCodes,
  deletedUnlessMissing,
  errnoOf,
  isExists,
  isNotFound,
  isShoalError,
} from '../../../src/common/errors.ts';
import { newId, isId, shortId } from '../../../src/common/ids.ts';

t.test('FakeClock fires timers in due order, ties in creation order, cancels', async (t) => {
  const c = new FakeClock();
  const fired: string[] = [];
  c.setTimer(30, () => fired.push('c'));
  c.setTimer(10, () => fired.push('a'));
  c.setTimer(10, () => fired.push('b'));
  const x = c.setTimer(20, () => fired.push('x'));
  x.cancel();
  c.setTimer(15, () => c.setTimer(5, () => fired.push('nested@20')));
  c.advance(25);
  t.same(fired, ['a', 'b', 'nested@20']);
  t.equal(c.now(), 25);
  c.advance(10);
  t.same(fired, ['a', 'b', 'nested@20', 'c']);
  t.equal(c.pending, 0);
});

t.test('seeded Rng replays and samples without repeats', async (t) => {
  const a = createRng(42);
  const b = createRng(42);
  const xs = Array.from({ length: 100 }, () => a.next());
  t.same(
    xs,
    Array.from({ length: 100 }, () => b.next()),
    'same seed, same sequence',
  );
  t.ok(xs.every((x) => x >= 0 && x < 1));
  const items = Array.from({ length: 50 }, (_, i) => i);
  const s = createRng(7).sample(items, 10);
  t.equal(new Set(s).size, 10, 'sample has distinct items');
  const counts = new Array(6).fill(0);
  const r = createRng(1);
  for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
  t.ok(
    counts.every((n) => n > 9000 && n < 11000),
    `int() is roughly uniform: ${counts.join(',')}`,
  );
});

t.test('errors carry codes, causes, errno and categories', async (t) => {
  const cause = Object.assign(new Error('Request rejected: EEXIST'), { code: 'EEXIST' });
  const e = new ShoalError('SHOAL_ERR_ALREADY_EXISTS', 'link br0 exists', { cause, details: { link: 'br0' }, errno: 'EEXIST' });
  t.equal(e.code, 'SHOAL_ERR_ALREADY_EXISTS');
  t.equal(e.category, 'exists');
  t.equal(e.cause, cause);
  t.same(e.toJSON(), { code: 'SHOAL_ERR_ALREADY_EXISTS', message: 'link br0 exists', details: { link: 'br0' }, errno: 'EEXIST' });
  t.ok(isShoalError(e, 'SHOAL_ERR_ALREADY_EXISTS'));
  t.equal(errnoOf(cause), 'EEXIST');
  const wrapped = asShoalError(cause, 'SHOAL_ERR_NETLINK');
  t.equal(wrapped.code, 'SHOAL_ERR_NETLINK');
  t.equal(wrapped.errno, 'EEXIST');
});

t.test('a table declares codes with typed constructors and predicates; undeclared codes are refused', async (t) => {
  const table = defineErrorCodes('Test only', {
    SHOAL_ERR_TEST_ONLY_MISSING: ['not_found', 'a thing the test looked for is not there'],
    SHOAL_ERR_TEST_ONLY_TWICE: ['exists', 'a thing the test made is there already'],
  });
  t.ok(declaredErrorTables().includes(table as never), 'the table is listed for the docs');
  const e = table.error('SHOAL_ERR_TEST_ONLY_MISSING', 'no such thing', { thing: 'x' });
  t.equal(e.code, 'SHOAL_ERR_TEST_ONLY_MISSING');
  t.equal(e.category, 'not_found');
  t.same(e.details, { thing: 'x' });
  t.ok(table.is(e) && table.is(e, 'SHOAL_ERR_TEST_ONLY_MISSING') && !table.is(e, 'SHOAL_ERR_TEST_ONLY_TWICE'));
  t.ok(isNotFound(e) && !isExists(e));
  t.ok(isExists(table.error('SHOAL_ERR_TEST_ONLY_TWICE', 'again')));
  t.notOk(table.is(new ShoalError('SHOAL_ERR_INTERNAL', 'other table')));
  // @ts-expect-error a code no table declares does not compile
  t.throws(() => table.error('SHOAL_ERR_TEST_ONLY_TYPO', 'x'), /declared by no table/);
  // @ts-expect-error nor does one in no table at all
  t.throws(() => new ShoalError('SHOAL_ERR_UNHEARD_OF', 'x'), /declared by no table/);
  t.throws(() => defineErrorCodes('Again', { SHOAL_ERR_TEST_ONLY_TWICE: ['exists', 'declared a second time'] }), /declared twice/);
  t.throws(() => defineErrorCodes('Bad', { NOT_A_CODE: ['invalid', 'not of the form'] }), /SHOAL_ERR_/);
  // a code from another build's manager keeps its text and counts as internal
  const remote = ShoalError.remote('SHOAL_ERR_FROM_A_NEWER_BUILD', 'remote');
  t.equal(remote.code, 'SHOAL_ERR_FROM_A_NEWER_BUILD');
  t.equal(remote.category, 'internal');
});

t.test('a delete of something missing is false; other failures are thrown', async (t) => {
  t.equal(await deletedUnlessMissing(async () => undefined), true);
  t.equal(
    await deletedUnlessMissing(() => {
      throw new ShoalError('SHOAL_ERR_LINK_NOT_FOUND', 'no link');
    }),
    false,
  );
  t.equal(
    await deletedUnlessMissing(async () => {
      throw new ShoalError('SHOAL_ERR_NETLINK', 'no address', { errno: 'EADDRNOTAVAIL' });
    }),
    false,
  );
  await t.rejects(
    deletedUnlessMissing(async () => {
      throw new ShoalError('SHOAL_ERR_NETLINK', 'busy', { errno: 'EBUSY' });
    }),
    { code: 'SHOAL_ERR_NETLINK' },
  );
});

t.test('ids look like Docker ids', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, () => newId()));
  t.equal(ids.size, 1000);
  for (const id of ids) t.ok(isId(id), id);
  t.equal(newId(createRng(3)), newId(createRng(3)), 'seeded ids replay');
  t.equal(shortId('abcdefghijklmnopqrstuvwxy'), 'abcdefghijkl');
});
