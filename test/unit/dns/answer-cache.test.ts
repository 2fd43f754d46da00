/**
 * The answer cache (src/dns/answer-cache.ts) on real encoded messages: a kept answer comes
 * back with the new query's id and otherwise the same bytes; a set of tasks comes back with
 * all of its addresses in a shuffled order; another spelling, type or EDNS size is another
 * query; a new generation, a clear or too many entries start over.
 */
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { AnswerCache, MAX_ENTRIES, shuffleGroups } from '../../../src/dns/answer-cache.ts';
import { CLASS_IN, emptyResponse, type Query, RR_TYPE, type ResourceRecord } from '../../../src/dns/message.ts';
import { decodeResponse } from '../../../src/dns/wire.ts';
import { encodeQuery, encodeResponse } from '../../../src/dns/wire-encode.ts';

const query = (id: number, name: string, type: number = RR_TYPE.A, edns?: number): Query => ({
  id,
  opcode: 0,
  rd: true,
  cd: false,
  question: { name, type, class: CLASS_IN },
  ...(edns !== undefined ? { edns: { udpPayloadSize: edns, dnssecOk: false } } : {}),
});

const a = (name: string, address: string): ResourceRecord => ({
  name,
  type: RR_TYPE.A,
  class: CLASS_IN,
  ttl: 5,
  data: { kind: 'a', address },
});
const aaaa = (name: string, address: string): ResourceRecord => ({
  name,
  type: RR_TYPE.AAAA,
  class: CLASS_IN,
  ttl: 5,
  data: { kind: 'aaaa', address },
});

function answer(q: Query, records: ResourceRecord[]): Uint8Array {
  return encodeResponse({ ...emptyResponse(q), aa: true, answers: records }, 512);
}

const addressesOf = (bytes: Uint8Array): string[] => decodeResponse(bytes).answers.map((r) => (r.data as { address: string }).address);

t.test('a kept answer comes back with the id of the query that asks again', async (t) => {
  const cache = new AnswerCache(createRng(1));
  const gen = {};
  const q1 = encodeQuery(query(0x1111, 'web'));
  t.equal(cache.get(q1, gen), undefined, 'nothing kept yet');
  const first = answer(query(0x1111, 'web'), [a('web', '10.0.1.2')]);
  cache.put(q1, gen, first, 'same');
  const again = cache.get(encodeQuery(query(0xbeef, 'web')), gen);
  t.ok(again);
  t.equal(Buffer.from(again!).readUInt16BE(0), 0xbeef, 'its own id');
  t.same(Buffer.from(again!).subarray(2), Buffer.from(first).subarray(2), 'the rest as kept');
  t.not(again, first, 'a copy: a send may still hold the one before');
  t.same(addressesOf(again!), ['10.0.1.2']);
});

t.test('another spelling, type or EDNS size is another query', async (t) => {
  const cache = new AnswerCache(createRng(1));
  const gen = {};
  cache.put(encodeQuery(query(1, 'web')), gen, answer(query(1, 'web'), [a('web', '10.0.1.2')]), 'same');
  t.equal(cache.get(encodeQuery(query(2, 'WEB')), gen), undefined, 'the case is echoed: another key');
  t.equal(cache.get(encodeQuery(query(2, 'web', RR_TYPE.AAAA)), gen), undefined, 'another type');
  t.equal(cache.get(encodeQuery(query(2, 'web', RR_TYPE.A, 1232)), gen), undefined, 'with EDNS');
  t.ok(cache.get(encodeQuery(query(2, 'web')), gen), 'the same question');
  t.equal(cache.get(new Uint8Array(5), gen), undefined, 'a message shorter than a header');
});

t.test('a set of tasks comes back whole, in shuffled orders', async (t) => {
  const cache = new AnswerCache(createRng(7));
  const gen = {};
  const name = 'tasks.web';
  const v4 = Array.from({ length: 8 }, (_, i) => `10.0.1.${10 + i}`);
  const v6 = ['fd00::1', 'fd00::2', 'fd00::3'];
  const q = query(1, name, RR_TYPE.ANY);
  const records = [...v4.map((x) => a(name, x)), ...v6.map((x) => aaaa(name, x))];
  cache.put(encodeQuery(q), gen, answer(q, records), 'shuffle');
  const orders = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const got = decodeResponse(cache.get(encodeQuery(query(i, name, RR_TYPE.ANY)), gen)!);
    const got4 = got.answers.filter((r) => r.type === RR_TYPE.A).map((r) => (r.data as { address: string }).address);
    const got6 = got.answers.filter((r) => r.type === RR_TYPE.AAAA).map((r) => (r.data as { address: string }).address);
    t.same([...got4].sort(), [...v4].sort(), 'every IPv4 address, once');
    t.same([...got6].sort(), [...v6].sort(), 'every IPv6 address, once');
    t.ok(got.answers.every((r) => r.name === name && r.ttl === 5));
    orders.add(got4.join(','));
  }
  t.ok(orders.size > 10, `the order changes from answer to answer (${orders.size} orders in 50)`);

  // a `same` answer is never reordered
  const fixed = new AnswerCache(createRng(7));
  const qf = query(1, 'web');
  fixed.put(
    encodeQuery(qf),
    gen,
    answer(
      qf,
      v4.map((x) => a('web', x)),
    ),
    'same',
  );
  t.same(addressesOf(fixed.get(encodeQuery(query(9, 'web')), gen)!), v4);
});

t.test('shuffleGroups: record data by owner name and type, groups of one left out', async (t) => {
  const q = query(1, 'x', RR_TYPE.ANY);
  const bytes = answer(q, [a('x', '10.0.0.1'), a('x', '10.0.0.2'), aaaa('x', 'fd00::1'), a('y', '10.0.0.3')]);
  const groups = shuffleGroups(bytes)!;
  t.equal(groups.length, 1, 'only the two A records of x');
  t.equal(groups[0]!.size, 4);
  t.same(
    groups[0]!.offsets.map((o) => [...bytes.subarray(o, o + 4)].join('.')),
    ['10.0.0.1', '10.0.0.2'],
  );
  t.equal(shuffleGroups(bytes.subarray(0, bytes.length - 3)), undefined, 'a message cut short');
});

t.test('a new generation, a clear or a full cache start over', async (t) => {
  const cache = new AnswerCache(createRng(1));
  const q = encodeQuery(query(1, 'web'));
  const g1 = {};
  cache.put(q, g1, answer(query(1, 'web'), [a('web', '10.0.1.2')]), 'same');
  t.ok(cache.get(q, g1));
  const g2 = {};
  t.equal(cache.get(q, g2), undefined, 'the records changed: the old answer is gone');
  t.equal(cache.size, 0);
  cache.put(q, g2, answer(query(1, 'web'), [a('web', '10.0.9.9')]), 'same');
  t.same(addressesOf(cache.get(q, g2)!), ['10.0.9.9']);
  cache.clear();
  t.equal(cache.get(q, g2), undefined, 'cleared');

  for (let i = 0; i < MAX_ENTRIES; i++) {
    const qi = query(1, `n${i}`);
    cache.put(encodeQuery(qi), g2, answer(qi, [a(`n${i}`, '10.0.0.1')]), 'same');
  }
  t.equal(cache.size, MAX_ENTRIES);
  const qn = query(1, 'one-more');
  cache.put(encodeQuery(qn), g2, answer(qn, [a('one-more', '10.0.0.1')]), 'same');
  t.equal(cache.size, 1, 'past the bound it starts over with the newest');
});
