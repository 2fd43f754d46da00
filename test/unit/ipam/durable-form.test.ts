import fc from 'fast-check';
import t from 'tap';
import { testSeed, codeOf } from '../../support/seed.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import { createAddressSpace, ingressNetworkRequest, restoreAddressSpace, type StoredNetwork } from '../../../src/ipam/index.ts';

const seed = testSeed();

t.test('the form is compact and readable', async (t) => {
  const space = createAddressSpace();
  const n = space.createNetwork({ id: 'a', name: 'front' });
  t.equal(n.serialize(), '1|10.0.0.0/24,d1');
  n.allocate();
  t.equal(n.serialize(), '1|10.0.0.0/24,d1,c3,uAAECAA');
  const big = space.createNetwork({
    id: 'b',
    name: 'big',
    subnets: [{ subnet: '10.20.0.0/16', gateway: '10.20.255.254', auxAddresses: { 'db,1|x': '10.20.0.9' } }],
  });
  for (let i = 0; i < 60_000; i++) big.allocate();
  const form = big.serialize();
  t.ok(form.length < 200, `60,000 serial addresses in a /16 take ${form.length} characters`);
  t.match(form, /^1\|10\.20\.0\.0\/16,g10\.20\.255\.254,xdb%2C1%7Cx=10\.20\.0\.9,/);
  // Worst case for runs: every other address held. The raw-bitmap fallback bounds it.
  const checker = space.createNetwork({ id: 'c', name: 'checker', subnets: [{ subnet: '10.30.0.0/16' }] });
  for (let i = 2; i < 65_534; i += 2) checker.allocateStatic(`10.30.${i >> 8}.${i & 255}`);
  t.ok(checker.serialize().length < 11_500, `alternate addresses in a /16: ${checker.serialize().length} characters (bitmap is 8 KiB)`);
  const r = restoreAddressSpace({}, space.serializeAll());
  t.same(r.serializeAll(), space.serializeAll());
  t.same(r.get('c')!.usage(), checker.usage());
  t.same(r.get('b')!.subnets, big.subnets);
});

t.test('restore is exact: the next allocations and carvings are the same as without it', async (t) => {
  const space = createAddressSpace();
  space.createNetwork(ingressNetworkRequest('ing'));
  const nets = [0, 1, 2, 3].map((i) => space.createNetwork({ id: `n${i}`, name: `n${i}`, ipv6: i % 2 === 1 }));
  for (const n of nets) for (let i = 0; i < 10; i++) n.allocateEndpoint();
  nets[0]!.release('10.0.0.5');
  nets[1]!.release('fd73:686f:616c::3');
  space.removeNetwork('n2');
  const clone = restoreAddressSpace({}, space.serializeAll());
  const step = (s: typeof space) => [
    s.get('n0')!.allocate(),
    s.get('n1')!.allocateEndpoint(),
    s.createNetwork({ id: 'x', name: 'x', ipv6: true }).subnets.map((x) => x.subnet),
    s.get('ing')!.allocate(),
  ];
  t.same(step(clone), step(space));
  t.same(clone.serializeAll(), space.serializeAll());
});

t.test('after the newest carved network is removed, the carving continues after the one before it (live and restored alike)', async (t) => {
  const space = createAddressSpace();
  for (let i = 0; i < 3; i++) space.createNetwork({ id: `n${i}`, name: `n${i}` });
  space.removeNetwork('n2');
  const clone = restoreAddressSpace({}, space.serializeAll());
  t.equal(space.createNetwork({ id: 'a', name: 'a' }).subnets[0]!.subnet, '10.0.2.0/24');
  t.equal(clone.createNetwork({ id: 'a', name: 'a' }).subnets[0]!.subnet, '10.0.2.0/24');
});

t.test('restore refuses unreadable or contradictory state, naming every bad network', async (t) => {
  const good = createAddressSpace().createNetwork({ id: 'g', name: 'good' }).serialize();
  const bad: [string, string][] = [
    ['2|10.0.0.0/24', 'unknown version'],
    ['1', 'no subnet'],
    ['1|10.0.0.1/24', 'host bits'],
    ['1|10.0.0.0/24,q1', 'unknown field'],
    ['1|10.0.0.0/24,c1', 'cursor'], // offset 1 is fine? it is the gateway, still inside the range: accepted below
    ['1|10.0.0.0/24,cfff', 'cursor outside'],
    ['1|10.0.0.0/24,uAAEAAQ', 'reserved'], // holds offset 0 (network address)
    ['1|10.0.0.0/24,u!!!!', 'truncated'],
    ['1|10.0.0.0/24,gnope', 'not an IPv4'],
  ];
  for (const [state, why] of bad) {
    const code = codeOf(() => restoreAddressSpace({}, [{ id: 'x', name: 'broken', state }]));
    if (why === 'cursor') t.equal(code, undefined, `${state} is valid`);
    else t.equal(code, 'SHOAL_ERR_IPAM_BAD_STATE', `${state}: ${why}`);
  }
  let err: unknown;
  try {
    restoreAddressSpace({}, [
      { id: 'a', name: 'a', state: good },
      { id: 'b', name: 'b', state: '1|10.0.0.0/16' },
      { id: 'a', name: 'a2', state: '1|10.9.0.0/24' },
      { id: 'c', name: 'c', state: 'garbage' },
    ]);
  } catch (e) {
    err = e;
  }
  t.ok(isShoalError(err, 'SHOAL_ERR_IPAM_BAD_STATE'));
  const problems = (err as { details: { problems: string[] } }).details.problems;
  t.same(problems.length, 3, problems.join(' | '));
  t.match(problems.join('\n'), 'network ID a is stored twice');
  t.match(problems.join('\n'), 'stored IPAM state of network "c" (c) cannot be read');
  t.match(problems.join('\n'), 'subnet 10.0.0.0/24 of network "a" overlaps 10.0.0.0/16 of network "b"');
});

t.test('random allocate/release cycles across chunk boundaries round-trip at every step', async () => {
  // A /19 spans two 4,096-address chunks; an ip-range across the middle and statics outside it.
  const op = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ t: 'alloc' as const, a: 0 }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('release' as const), a: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('static' as const), a: fc.nat({ max: 8191 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('burst' as const), a: fc.nat({ max: 3000 }) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      let space = createAddressSpace();
      space.createNetwork({ id: 'n', name: 'n', subnets: [{ subnet: '10.40.0.0/19', ipRange: '10.40.15.0/24' }] });
      const held = new Set<string>();
      for (const o of ops) {
        const n = space.get('n')!;
        if (o.t === 'alloc' || o.t === 'burst') {
          for (let i = 0; i < (o.t === 'burst' ? o.a : 1); i++) {
            let a: string;
            try {
              a = n.allocate();
            } catch (err) {
              if (!isShoalError(err, 'SHOAL_ERR_IPAM_EXHAUSTED')) throw err;
              break;
            }
            if (held.has(a)) return false; // handed out twice
            if (!a.startsWith('10.40.15.')) return false; // outside the range
            held.add(a);
          }
        } else if (o.t === 'release') {
          const list = [...held];
          if (list.length === 0) continue;
          const a = list[o.a % list.length]!;
          if (!n.release(a)) return false;
          held.delete(a);
        } else {
          const a = `10.40.${o.a >> 8}.${o.a & 255}`;
          const status = n.status(a);
          try {
            n.allocateStatic(a);
            if (status !== 'free' || held.has(a)) return false;
            held.add(a);
          } catch (err) {
            if (status === 'free') return false;
            if (!isShoalError(err)) throw err;
          }
        }
        const stored: StoredNetwork[] = space.serializeAll();
        const back = restoreAddressSpace({}, stored);
        if (JSON.stringify(back.serializeAll()) !== JSON.stringify(stored)) return false;
        space = back;
        if (space.get('n')!.usage().ipv4!.used !== held.size) return false;
      }
      const all = [...space.get('n')!.allocatedAddresses()];
      return all.length === held.size && all.every((a) => held.has(a));
    }),
    { seed, numRuns: 150 },
  );
});
