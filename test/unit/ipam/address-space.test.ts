import fc from 'fast-check';
import t from 'tap';
import { testSeed, codeOf, messageOf } from '../../support/seed.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import {
  createAddressSpace,
  defaultAddressSpaceConfig,
  ingressNetworkRequest,
  subnetRequestsFromFlags,
  validateAddressSpaceConfig,
} from '../../../src/ipam/index.ts';
import { parseCidr } from '../../../src/ipam/address.ts';

const seed = testSeed();

t.test('Docker parity with the default pools', async (t) => {
  const space = createAddressSpace();
  const ingress = space.createNetwork(ingressNetworkRequest('ing'));
  t.same(
    ingress.subnets.map((s) => [s.subnet, s.gateway]),
    [['10.255.0.0/16', '10.255.0.1']],
  );
  const nets = [0, 1, 2].map((i) => space.createNetwork({ id: `n${i}`, name: `net${i}` }));
  t.same(
    nets.map((n) => [n.subnets[0]!.subnet, n.gateway()]),
    [
      ['10.0.0.0/24', '10.0.0.1'],
      ['10.0.1.0/24', '10.0.1.1'],
      ['10.0.2.0/24', '10.0.2.1'],
    ],
  );
  t.ok(nets[0]!.subnets[0]!.fromDefaultPool);
  t.equal(nets[0]!.allocate(), '10.0.0.2');
  t.equal(ingress.allocate(), '10.255.0.2');
});

t.test('the default carving skips the ingress range even before ingress exists', async (t) => {
  const space = createAddressSpace({
    defaultAddrPools: ['10.254.255.0/24', '10.255.0.0/23', '10.200.0.0/24'],
    defaultAddrPoolMaskLength: 24,
  });
  t.equal(space.createNetwork({ id: 'a', name: 'a' }).subnets[0]!.subnet, '10.254.255.0/24');
  t.equal(space.createNetwork({ id: 'b', name: 'b' }).subnets[0]!.subnet, '10.200.0.0/24', '10.255.0.0/23 lies in the ingress range');
  t.equal(
    codeOf(() => space.createNetwork({ id: 'c', name: 'c' })),
    'SHOAL_ERR_IPAM_POOL_EXHAUSTED',
  );
  // But it can be given explicitly (that is how ingress is made).
  t.equal(space.createNetwork(ingressNetworkRequest('ing')).subnets[0]!.subnet, '10.255.0.0/16');
});

t.test('carving skips subnets users took and continues after the newest carved network', async (t) => {
  const space = createAddressSpace();
  space.createNetwork({ id: 'u', name: 'user', subnets: [{ subnet: '10.0.1.0/24' }, { subnet: '10.0.4.0/22' }] });
  let count = 0;
  const got = () => space.createNetwork({ id: `n${count}`, name: `n${count++}` }).subnets[0]!.subnet;
  t.equal(got(), '10.0.0.0/24');
  t.equal(got(), '10.0.2.0/24');
  t.equal(got(), '10.0.3.0/24');
  t.equal(got(), '10.0.8.0/24', 'skips the user /22 in one step');
  // A removed network's subnet is not handed out again at once.
  t.ok(space.removeNetwork('n1'));
  t.equal(got(), '10.0.9.0/24');
});

t.test('carving wraps round to free subnets at the start of the pools', async (t) => {
  const space = createAddressSpace({ defaultAddrPools: ['192.168.0.0/22'], defaultAddrPoolMaskLength: 24 });
  const ids = [0, 1, 2, 3].map((i) => space.createNetwork({ id: `n${i}`, name: `n${i}` }).subnets[0]!.subnet);
  t.same(ids, ['192.168.0.0/24', '192.168.1.0/24', '192.168.2.0/24', '192.168.3.0/24']);
  t.equal(
    messageOf(() => space.createNetwork({ id: 'x', name: 'x' })),
    'no free /24 subnet left in the default address pools (192.168.0.0/22); remove unused networks, give --subnet, or configure more pools (--default-addr-pool) or a longer mask (--default-addr-pool-mask-length)',
  );
  space.removeNetwork('n1');
  t.equal(space.createNetwork({ id: 'y', name: 'y' }).subnets[0]!.subnet, '192.168.1.0/24');
});

t.test('several default pools and a mask length (--default-addr-pool, --default-addr-pool-mask-length)', async (t) => {
  const space = createAddressSpace({ defaultAddrPools: ['10.10.0.0/23', '10.20.0.0/16'], defaultAddrPoolMaskLength: 23 });
  const subnets = [0, 1, 2].map((i) => space.createNetwork({ id: `n${i}`, name: `n${i}` }).subnets[0]!.subnet);
  t.same(subnets, ['10.10.0.0/23', '10.20.0.0/23', '10.20.2.0/23']);
  t.equal(space.get('n0')!.usage().ipv4!.free, 512 - 3);
});

t.test('--ipv6 without a subnet carves a /64 from the ULA pool', async (t) => {
  const space = createAddressSpace();
  t.equal(defaultAddressSpaceConfig().defaultIpv6Pool, 'fd73:686f:616c::/48');
  const a = space.createNetwork({ id: 'a', name: 'a', ipv6: true });
  const b = space.createNetwork({ id: 'b', name: 'b', ipv6: true, subnets: [{ subnet: '10.50.0.0/16' }] });
  const c = space.createNetwork({ id: 'c', name: 'c', ipv4: false, ipv6: true });
  t.same(
    a.subnets.map((s) => s.subnet),
    ['10.0.0.0/24', 'fd73:686f:616c::/64'],
  );
  t.same(
    b.subnets.map((s) => s.subnet),
    ['10.50.0.0/16', 'fd73:686f:616c:1::/64'],
  );
  t.same(
    c.subnets.map((s) => s.subnet),
    ['fd73:686f:616c:2::/64'],
  );
  t.equal(a.gateway(6), 'fd73:686f:616c::1');
  t.same(a.allocateEndpoint(), { ipv4: '10.0.0.2', ipv6: 'fd73:686f:616c::2' });
  const d = space.createNetwork({ id: 'd', name: 'd', subnets: [{ subnet: 'fd00:9::/64' }] });
  t.same(
    d.subnets.map((s) => s.subnet),
    ['fd00:9::/64', '10.0.1.0/24'],
    'an IPv6 subnet implies --ipv6 and IPv4 is still carved',
  );
});

t.test('overlap between networks is refused, naming the other network', async (t) => {
  const space = createAddressSpace();
  space.createNetwork({ id: 'f', name: 'front', subnets: [{ subnet: '10.0.0.0/16' }] });
  t.equal(
    codeOf(() => space.createNetwork({ id: 'b', name: 'back', subnets: [{ subnet: '10.0.0.0/24' }] })),
    'SHOAL_ERR_IPAM_OVERLAP',
  );
  t.equal(
    messageOf(() => space.createNetwork({ id: 'b', name: 'back', subnets: [{ subnet: '10.0.0.0/24' }] })),
    'subnet 10.0.0.0/24 overlaps 10.0.0.0/16 of network "front"',
  );
  t.equal(
    messageOf(() => space.createNetwork({ id: 'b', name: 'back', subnets: [{ subnet: '10.0.0.0/8' }] })),
    'subnet 10.0.0.0/8 overlaps 10.0.0.0/16 of network "front"',
  );
  t.equal(
    messageOf(() => space.createNetwork({ id: 'b', name: 'back', subnets: [{ subnet: '10.9.0.0/16' }, { subnet: '10.9.1.0/24' }] })),
    'subnet 10.9.1.0/24 overlaps 10.9.0.0/16 of the same network "back"',
  );
  t.same(space.findOverlap('10.0.3.0/24'), { networkId: 'f', networkName: 'front', subnet: '10.0.0.0/16' });
  t.equal(space.findOverlap('10.1.0.0/16'), undefined);
  t.equal(
    codeOf(() => space.createNetwork({ id: 'f', name: 'again' })),
    'SHOAL_ERR_IPAM_NETWORK_EXISTS',
  );
  // The carving steps over the user network.
  t.equal(space.createNetwork({ id: 'n', name: 'n' }).subnets[0]!.subnet, '10.1.0.0/24');
  // Removing frees the subnet for explicit use.
  t.ok(space.removeNetwork('f'));
  t.equal(space.createNetwork({ id: 'b', name: 'back', subnets: [{ subnet: '10.0.0.0/24' }] }).subnets[0]!.subnet, '10.0.0.0/24');
  t.equal(
    codeOf(() => space.require('f')),
    'SHOAL_ERR_IPAM_NETWORK_NOT_FOUND',
  );
});

t.test('random subnet sets: overlap detection agrees with a brute-force check', async () => {
  const cidrArb = fc.oneof(
    fc.tuple(fc.nat({ max: 0xffff }), fc.integer({ min: 16, max: 30 })).map(([hi, p]) => {
      const v = (0x0a000000 + hi * 256) >>> 0;
      const base = p === 0 ? 0 : (v >>> (32 - p)) << (32 - p);
      return `${base >>> 24}.${((base >>> 16) & 255) >>> 0}.${(base >>> 8) & 255}.${base & 255}/${p}`;
    }),
    fc.tuple(fc.nat({ max: 0xff }), fc.integer({ min: 56, max: 64 })).map(([w, p]) => {
      const v = BigInt(w) << 64n;
      const host = 128n - BigInt(p);
      const base = (v >> host) << host;
      const words = [];
      for (let i = 7; i >= 0; i--) words.push(Number((base >> BigInt(i * 16)) & 0xffffn).toString(16));
      return `fd00:0:0:${words.slice(3, 4)[0]}::/${p}`;
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(cidrArb, fc.boolean()), { minLength: 1, maxLength: 60 }), (ops) => {
      const space = createAddressSpace();
      const accepted = new Map<string, string>(); // id -> cidr
      let n = 0;
      for (const [cidr, remove] of ops) {
        if (remove && accepted.size > 0) {
          const victim = [...accepted.keys()][n % accepted.size]!;
          space.removeNetwork(victim);
          accepted.delete(victim);
        }
        const c = parseCidr(cidr);
        const clash = [...accepted.values()].some((o) => {
          const oc = parseCidr(o);
          return oc.family === c.family && oc.base <= c.last && c.base <= oc.last;
        });
        const id = `n${n++}`;
        const code = codeOf(() => space.createNetwork({ id, name: id, ipv4: c.family === 4, subnets: [{ subnet: cidr }] }));
        if (clash !== (code === 'SHOAL_ERR_IPAM_OVERLAP')) return false;
        if (!clash) {
          if (code !== undefined) return false;
          accepted.set(id, cidr);
        }
        if (space.size !== accepted.size) return false;
      }
      return true;
    }),
    { seed, numRuns: 300 },
  );
});

t.test('config is validated all at once and frozen', async (t) => {
  const c = validateAddressSpaceConfig({ defaultAddrPools: ['10.20.0.0/16'], defaultAddrPoolMaskLength: 26 });
  t.ok(Object.isFrozen(c));
  t.equal(c.defaultIpv6PoolMaskLength, 64);
  let err: unknown;
  try {
    createAddressSpace({
      defaultAddrPools: ['10.0.0.0/8', '10.1.0.0/16', 'fd00::/48', 'bogus'],
      defaultAddrPoolMaskLength: 31,
      defaultIpv6Pool: '10.0.0.0/8',
    });
  } catch (e) {
    err = e;
  }
  t.ok(isShoalError(err, 'SHOAL_ERR_INVALID_CONFIG'));
  const problems = (err as { details: { problems: string[] } }).details.problems;
  t.equal(problems.length, 5, problems.join(' | '));
  t.match(problems.join('\n'), /overlap/);
  t.match(problems.join('\n'), /out of range 1-30/);
  t.match(problems.join('\n'), /must be IPv6/);
});

t.test('Docker-style flags are grouped per subnet', async (t) => {
  const reqs = subnetRequestsFromFlags({
    subnets: ['10.1.0.0/16', 'fd00:5::/64'],
    gateways: ['fd00:5::fffe', '10.1.255.254'],
    ipRanges: ['10.1.8.0/24'],
    auxAddresses: ['router=10.1.0.2', 'dns=fd00:5::53'],
  });
  t.same(reqs, [
    { subnet: '10.1.0.0/16', gateway: '10.1.255.254', ipRange: '10.1.8.0/24', auxAddresses: { router: '10.1.0.2' } },
    { subnet: 'fd00:5::/64', gateway: 'fd00:5::fffe', auxAddresses: { dns: 'fd00:5::53' } },
  ]);
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: ['10.1.0.0/16'], gateways: ['10.2.0.1'] })),
    'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
  );
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: ['10.1.0.0/16'], gateways: ['10.1.0.1', '10.1.0.2'] })),
    'SHOAL_ERR_IPAM_BAD_OPTIONS',
  );
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: ['10.1.0.0/16'], ipRanges: ['10.1.0.0/24', '10.1.1.0/24'] })),
    'SHOAL_ERR_IPAM_BAD_OPTIONS',
  );
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: [], ipRanges: ['10.1.0.0/24'] })),
    'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
  );
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: ['10.1.0.0/16'], auxAddresses: ['noequals'] })),
    'SHOAL_ERR_IPAM_BAD_OPTIONS',
  );
  t.equal(
    codeOf(() => subnetRequestsFromFlags({ subnets: ['10.1.0.0/16'], auxAddresses: ['a=10.1.0.5', 'a=10.1.0.6'] })),
    'SHOAL_ERR_IPAM_BAD_OPTIONS',
  );
  const space = createAddressSpace();
  const n = space.createNetwork({ id: 'x', name: 'x', subnets: reqs });
  t.equal(n.gateway(4), '10.1.255.254');
  t.equal(n.allocate(4), '10.1.8.0');
  t.equal(n.status('10.1.0.2'), 'aux');
});

t.test('transaction undoes every IPAM change when the store write fails', async (t) => {
  const space = createAddressSpace();
  const front = space.createNetwork({ id: 'f', name: 'front' });
  front.allocate();
  const before = space.serializeAll();
  const boom = new Error('store write failed');
  const thrown = (() => {
    try {
      space.transaction(() => {
        front.allocate();
        front.allocateStatic('10.0.0.99');
        front.release('10.0.0.2');
        const back = space.createNetwork({ id: 'b', name: 'back', ipv6: true });
        back.allocateEndpoint();
        space.removeNetwork('f');
        throw boom;
      });
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  t.equal(thrown, boom, 'the error is rethrown');
  t.same(space.serializeAll(), before, 'state is exactly as before, cursors included');
  t.ok(front.live);
  t.equal(space.get('b'), undefined);
  t.equal(front.allocate(), '10.0.0.3', 'the cursor did not move');
  t.equal(space.createNetwork({ id: 'b', name: 'back' }).subnets[0]!.subnet, '10.0.1.0/24', 'the carving position is back too');

  // Nested: an inner failure undoes only the inner part.
  const out = space.transaction(() => {
    const a = front.allocate();
    try {
      space.transaction(() => {
        front.allocate();
        throw new Error('inner');
      });
    } catch {
      // handled
    }
    return a;
  });
  t.equal(out, '10.0.0.4');
  t.equal(front.allocate(), '10.0.0.5');
  t.same(
    space.transaction(() => 42),
    42,
  );
});

t.test('the example at the top of src/ipam/index.ts does what it says', async (t) => {
  const space = createAddressSpace({ defaultAddrPools: ['10.0.0.0/8'], defaultAddrPoolMaskLength: 24 });
  const ingress = space.createNetwork(ingressNetworkRequest('ingressId'));
  t.same([ingress.subnets[0]!.subnet, ingress.gateway()], ['10.255.0.0/16', '10.255.0.1']);
  const front = space.createNetwork({ id: 'id', name: 'front' });
  t.same([front.subnets[0]!.subnet, front.gateway()], ['10.0.0.0/24', '10.0.0.1']);
  const back = space.createNetwork({
    id: 'id2',
    name: 'back',
    ipv6: true,
    subnets: subnetRequestsFromFlags({ subnets: ['10.9.0.0/16'], gateways: ['10.9.0.254'] }),
  });
  const vip = front.allocate();
  t.equal(vip, '10.0.0.2');
  t.same(back.allocateEndpoint(), { ipv4: '10.9.0.1', ipv6: 'fd73:686f:616c::2' });
  t.equal(back.allocateStatic('10.9.3.7'), '10.9.3.7');
  t.ok(front.release(vip));
  t.same(front.usage().ipv4, { size: 256, reserved: 3, used: 0, free: 253, dynamicFree: 253 });
  t.ok(space.removeNetwork('id2'));
  t.equal(space.findOverlap('10.9.0.0/16'), undefined);
});
