import fc from 'fast-check';
import t from 'tap';
import { testSeed, codeOf, messageOf } from '../../support/seed.ts';
import { formatAddress, parseCidr } from '../../../src/ipam/address.ts';
import { createAddressSpace, type NetworkIpam, type NetworkRequest } from '../../../src/ipam/index.ts';

const seed = testSeed();

function net(req: Omit<NetworkRequest, 'id' | 'name'> & { name?: string }): NetworkIpam {
  return createAddressSpace().createNetwork({ id: 'n1', name: req.name ?? 'front', ...req });
}

t.test('gateway defaults to the first host address and is never handed out', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24' }] });
  t.equal(n.gateway(), '10.1.0.1');
  t.equal(n.subnets[0]!.gateway, '10.1.0.1');
  t.equal(n.status('10.1.0.0'), 'network');
  t.equal(n.status('10.1.0.1'), 'gateway');
  t.equal(n.status('10.1.0.255'), 'broadcast');
  t.equal(n.status('10.1.0.2'), 'free');
  t.equal(n.status('10.2.0.2'), 'outside');
  t.equal(n.allocate(), '10.1.0.2');
  t.equal(n.status('10.1.0.2'), 'allocated');
  const u = n.usage().ipv4!;
  t.same(u, { size: 256, reserved: 3, used: 1, free: 252, dynamicFree: 252 });
});

t.test('a /24 hands out exactly 253 addresses, then fails naming the network and its size', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24' }] });
  const seen = new Set<string>();
  for (let i = 0; i < 253; i++) seen.add(n.allocate());
  t.equal(seen.size, 253);
  t.notOk(seen.has('10.1.0.0') || seen.has('10.1.0.1') || seen.has('10.1.0.255'), 'network, gateway and broadcast never handed out');
  t.equal(
    codeOf(() => n.allocate()),
    'SHOAL_ERR_IPAM_EXHAUSTED',
  );
  t.equal(
    messageOf(() => n.allocate()),
    'network "front" (10.1.0.0/24, 253 usable addresses) has no free address; free some or use a network with a larger subnet',
  );
  t.equal(n.usage().ipv4!.dynamicFree, 0);
});

t.test('dynamic allocation continues after the last address and wraps: a released address is not reused at once', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/29' }] }); // .2-.6 usable
  t.same([n.allocate(), n.allocate(), n.allocate()], ['10.1.0.2', '10.1.0.3', '10.1.0.4']);
  t.ok(n.release('10.1.0.3'));
  t.equal(n.allocate(), '10.1.0.5', 'next after the last handed out, not the released one');
  t.equal(n.allocate(), '10.1.0.6');
  t.equal(n.allocate(), '10.1.0.3', 'wrapped round to the first free');
  t.ok(n.release('10.1.0.2'));
  t.equal(n.allocate(), '10.1.0.2');
  t.equal(
    codeOf(() => n.allocate()),
    'SHOAL_ERR_IPAM_EXHAUSTED',
  );
});

t.test('release is idempotent, refuses reserved and outside addresses', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24', auxAddresses: { printer: '10.1.0.200' } }] });
  const a = n.allocate();
  t.equal(n.release(a), true);
  t.equal(n.release(a), false, 'second release is a no-op');
  t.equal(n.release('10.1.0.77'), false, 'never held');
  t.equal(
    codeOf(() => n.release('10.1.0.1')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    messageOf(() => n.release('10.1.0.200')),
    'address 10.1.0.200 is aux address "printer" of network "front" and cannot be released',
  );
  t.equal(
    codeOf(() => n.release('10.1.0.255')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.release('10.9.0.5')),
    'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
  );
  t.equal(
    codeOf(() => n.release('not-an-ip')),
    'SHOAL_ERR_IPAM_BAD_ADDRESS',
  );
  t.equal(
    codeOf(() => n.release('fd00::1')),
    'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
  );
});

t.test('static addresses: taken, reserved and outside are refused', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24', ipRange: '10.1.0.128/25', auxAddresses: { host1: '10.1.0.10' } }] });
  t.equal(n.allocateStatic('10.1.0.50'), '10.1.0.50', 'a static address may lie outside the ip-range');
  t.equal(
    codeOf(() => n.allocateStatic('10.1.0.50')),
    'SHOAL_ERR_IPAM_ADDRESS_IN_USE',
  );
  t.equal(
    messageOf(() => n.allocateStatic('10.1.0.50')),
    'address 10.1.0.50 is already in use on network "front"',
  );
  t.equal(
    codeOf(() => n.allocateStatic('10.1.0.1')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.allocateStatic('10.1.0.10')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.allocateStatic('10.1.0.0')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.allocateStatic('10.1.0.255')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    messageOf(() => n.allocateStatic('10.2.0.1')),
    'address 10.2.0.1 is outside network "front" (10.1.0.0/24)',
  );
  t.equal(n.allocateStatic('10.1.0.130'), '10.1.0.130');
  // Dynamic addresses come only from the range, skipping the static one.
  t.equal(n.allocate(), '10.1.0.128');
  t.equal(n.allocate(), '10.1.0.129');
  t.equal(n.allocate(), '10.1.0.131');
  const u = n.usage().ipv4!;
  t.equal(u.used, 5);
  t.equal(u.reserved, 4);
  t.equal(u.free, 256 - 4 - 5);
  t.equal(u.dynamicFree, 128 - 1 /* broadcast */ - 4 /* .128 .129 .130 .131 */);
});

t.test('ip-range exhaustion names the range and its usable count', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24', ipRange: '10.1.0.8/30' }] });
  t.same([n.allocate(), n.allocate(), n.allocate(), n.allocate()], ['10.1.0.8', '10.1.0.9', '10.1.0.10', '10.1.0.11']);
  t.equal(
    messageOf(() => n.allocate()),
    'network "front" (10.1.0.0/24 range 10.1.0.8/30, 4 usable addresses) has no free address; free some or use a network with a larger subnet',
  );
  t.equal(n.allocateStatic('10.1.0.100'), '10.1.0.100', 'the rest of the subnet is still assignable statically');
});

t.test('several subnets: dynamic allocation fills them in order', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/30' }, { subnet: '10.2.0.0/30' }] });
  t.same([n.allocate(), n.allocate()], ['10.1.0.2', '10.2.0.2']);
  t.equal(
    messageOf(() => n.allocate()),
    'network "front" (10.1.0.0/30, 10.2.0.0/30, 2 usable addresses) has no free address; free some or use a network with a larger subnet',
  );
  t.ok(n.release('10.1.0.2'));
  t.equal(n.allocate(), '10.1.0.2');
});

t.test('subnet options are validated with stable codes', async (t) => {
  const space = createAddressSpace();
  const create =
    (subnets: NetworkRequest['subnets'], extra: Partial<NetworkRequest> = {}) =>
    () =>
      space.createNetwork({ id: `x${Math.random()}`, name: 'x', subnets: subnets ?? [], ...extra });
  t.equal(codeOf(create([{ subnet: '10.1.0.0' }])), 'SHOAL_ERR_IPAM_BAD_CIDR');
  t.equal(codeOf(create([{ subnet: '10.1.0.1/24' }])), 'SHOAL_ERR_IPAM_HOST_BITS_SET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/31' }])), 'SHOAL_ERR_IPAM_SUBNET_TOO_SMALL');
  t.equal(codeOf(create([{ subnet: 'fd00::/127' }])), 'SHOAL_ERR_IPAM_SUBNET_TOO_SMALL');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }])), 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET');
  t.equal(messageOf(create([{ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }])), 'gateway 10.2.0.1 is outside subnet 10.1.0.0/24');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', gateway: 'fd00::1' }])), 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', gateway: '10.1.0.255' }])), 'SHOAL_ERR_IPAM_ADDRESS_RESERVED');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', gateway: 'nope' }])), 'SHOAL_ERR_IPAM_BAD_ADDRESS');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', ipRange: '10.1.1.0/25' }])), 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', ipRange: '10.1.0.0/23' }])), 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', ipRange: '10.1.0.1/25' }])), 'SHOAL_ERR_IPAM_HOST_BITS_SET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', auxAddresses: { a: '10.9.0.1' } }])), 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', auxAddresses: { a: '10.1.0.1' } }])), 'SHOAL_ERR_IPAM_ADDRESS_RESERVED');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24', auxAddresses: { a: '10.1.0.9', b: '10.1.0.9' } }])), 'SHOAL_ERR_IPAM_BAD_OPTIONS');
  t.equal(codeOf(create([{ subnet: '10.1.0.0/24' }], { ipv4: false })), 'SHOAL_ERR_IPAM_BAD_OPTIONS');
  t.equal(codeOf(create([{ subnet: 'fd00::/64' }], { ipv6: false })), 'SHOAL_ERR_IPAM_BAD_OPTIONS');
  t.equal(codeOf(create([], { ipv4: false, ipv6: false })), 'SHOAL_ERR_IPAM_BAD_OPTIONS');
  t.equal(space.size, 0, 'nothing was created by any refused request');
});

t.test('a family the network lacks is an error, not a crash', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24' }] });
  t.equal(
    codeOf(() => n.allocate(6)),
    'SHOAL_ERR_IPAM_NO_SUBNET',
  );
  t.equal(
    messageOf(() => n.gateway(6)),
    'network "front" has no IPv6 subnet',
  );
  t.same(n.allocateEndpoint(), { ipv4: '10.1.0.2', ipv6: undefined });
});

t.test('IPv6 /64: the anycast address and gateway are reserved, allocation is serial', async (t) => {
  const n = net({ ipv4: false, subnets: [{ subnet: '2001:db8:1:2::/64' }] });
  t.equal(n.gateway(), '2001:db8:1:2::1');
  t.equal(n.status('2001:db8:1:2::'), 'anycast');
  t.equal(n.allocate(), '2001:db8:1:2::2');
  t.equal(n.allocate(6), '2001:db8:1:2::3');
  t.equal(n.allocateStatic('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2:ffff:ffff:ffff:ffff', 'the last address is usable in IPv6');
  t.equal(n.allocateStatic('2001:DB8:1:2:0:0:0:9'), '2001:db8:1:2::9', 'canonical form returned');
  t.equal(n.status('2001:db8:1:2::9'), 'allocated');
  t.equal(
    codeOf(() => n.allocateStatic('2001:db8:1:2::')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.allocateStatic('2001:db8:1:3::5')),
    'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
  );
  t.ok(n.release('2001:db8:1:2::2'));
  t.equal(n.allocate(), '2001:db8:1:2::4');
  const u = n.usage().ipv6!;
  t.equal(u.size, 2 ** 64);
  t.equal(u.used, 4);
  t.equal(u.reserved, 2);
  t.same([...n.allocatedAddresses()], ['2001:db8:1:2::3', '2001:db8:1:2::4', '2001:db8:1:2::9', '2001:db8:1:2:ffff:ffff:ffff:ffff']);
});

t.test('IPv6 serial allocation crosses 16-bit and chunk boundaries', async (t) => {
  const n = net({ ipv4: false, subnets: [{ subnet: 'fd00:0:0:7::/64', ipRange: 'fd00:0:0:7:0:1:ffff:f000/116' }] });
  const first = n.allocate();
  t.equal(first, 'fd00::7:0:1:ffff:f000');
  let last = first;
  for (let i = 1; i < 4096; i++) last = n.allocate();
  t.equal(last, 'fd00::7:0:1:ffff:ffff');
  t.equal(
    codeOf(() => n.allocate()),
    'SHOAL_ERR_IPAM_EXHAUSTED',
  );
  t.equal(n.allocateStatic('fd00:0:0:7:0:2::'), 'fd00::7:0:2:0:0', 'RFC 5952: the first of two equal zero runs is compressed');
});

t.test('IPv6 subnets larger than /64: statics anywhere, dynamic addresses inside the range', async (t) => {
  const n = net({
    ipv4: false,
    subnets: [{ subnet: '2001:db8::/48', ipRange: '2001:db8:0:5::/64', auxAddresses: { lb: '2001:db8:0:9::1' } }],
  });
  t.equal(n.gateway(), '2001:db8::1');
  t.equal(n.status('2001:db8::'), 'anycast');
  t.equal(n.status('2001:db8::1'), 'gateway');
  t.equal(n.status('2001:db8:0:9::1'), 'aux');
  t.equal(n.allocate(), '2001:db8:0:5::');
  t.equal(n.allocate(), '2001:db8:0:5::1');
  t.equal(n.allocateStatic('2001:db8:0:ffff::7'), '2001:db8:0:ffff::7');
  t.equal(n.allocateStatic('2001:db8::2'), '2001:db8::2');
  t.equal(
    codeOf(() => n.allocateStatic('2001:db8:0:ffff::7')),
    'SHOAL_ERR_IPAM_ADDRESS_IN_USE',
  );
  t.equal(
    codeOf(() => n.allocateStatic('2001:db8::1')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(
    codeOf(() => n.release('2001:db8:0:9::1')),
    'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
  );
  t.equal(n.status('2001:db8:0:ffff::7'), 'allocated');
  t.same([...n.allocatedAddresses()], ['2001:db8::2', '2001:db8:0:5::', '2001:db8:0:5::1', '2001:db8:0:ffff::7']);
  t.equal(n.usage().ipv6!.used, 4);
  t.ok(n.release('2001:db8:0:ffff::7'));
  t.notOk(n.release('2001:db8:0:ffff::7'));
  t.equal(n.usage().ipv6!.used, 3);
});

t.test('dual stack: allocateEndpoint gives one address per family, all or nothing', async (t) => {
  const n = net({ subnets: [{ subnet: '10.1.0.0/24' }, { subnet: 'fd00:1::/126' }] });
  t.same(n.allocateEndpoint(), { ipv4: '10.1.0.2', ipv6: 'fd00:1::2' });
  t.equal(n.subnetOf('fd00:1::2')?.subnet, 'fd00:1::/126');
  t.equal(n.subnetOf('10.1.0.2')?.gateway, '10.1.0.1');
  t.equal(n.subnetOf('10.2.0.2'), undefined);
  t.same(n.allocateEndpoint(), { ipv4: '10.1.0.3', ipv6: 'fd00:1::3' });
  // IPv6 is now full: the IPv4 address taken for a third endpoint must be given back.
  t.equal(
    codeOf(() => n.allocateEndpoint()),
    'SHOAL_ERR_IPAM_EXHAUSTED',
  );
  t.match(
    messageOf(() => n.allocateEndpoint()),
    /has no free IPv6 address/,
  );
  t.equal(n.usage().ipv4!.used, 2);
  t.equal(n.allocate(4), '10.1.0.4', 'and the IPv4 cursor did not move either');
});

t.test('a removed network refuses allocation but release stays harmless', async (t) => {
  const space = createAddressSpace();
  const n = space.createNetwork({ id: 'a', name: 'front' });
  const a = n.allocate();
  t.ok(space.removeNetwork('a'));
  t.notOk(n.live);
  t.equal(
    codeOf(() => n.allocate()),
    'SHOAL_ERR_IPAM_NETWORK_NOT_FOUND',
  );
  t.equal(
    codeOf(() => n.allocateStatic('10.0.0.9')),
    'SHOAL_ERR_IPAM_NETWORK_NOT_FOUND',
  );
  t.equal(n.release(a), false);
  t.notOk(space.removeNetwork('a'), 'removing twice is a no-op');
});

t.test('IPv6 text of handed-out addresses is canonical whatever the words (random offsets)', async (t) => {
  for (const subnet of ['fd73:686f:616c::/64', '2001:db8:0:1::/64', 'fd00::/100', '::/64', '2001:db8::/48']) {
    const c = parseCidr(subnet);
    const host = 128 - c.prefix;
    // Words drawn from a few values so that zero runs of every shape and repeats occur.
    const word = fc.constantFrom(0, 0, 0, 1, 0xffff, 0x1234);
    fc.assert(
      fc.property(fc.array(fc.array(word, { minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 40 }), (list) => {
        const n = createAddressSpace().createNetwork({ id: 'n', name: 'n', ipv4: false, subnets: [{ subnet }] });
        for (const words of list) {
          let v = 0n;
          for (const w of words) v = (v << 16n) | BigInt(w);
          const offset = v & ((1n << BigInt(host)) - 1n);
          const value = c.base + offset;
          const text = formatAddress(6, value);
          const status = n.status(text);
          if (status === 'free') {
            if (n.allocateStatic(text) !== text) return false;
          } else if (status === 'allocated') {
            if (n.subnetOf(text)?.subnet !== c.text) return false;
          }
        }
        const held = [...n.allocatedAddresses()];
        return held.every((a) => formatAddress(6, parseCidr(`${a}/128`).base) === a);
      }),
      { seed, numRuns: 100 },
    );
    // Serial allocation through zero runs: compare with the reference formatter.
    const n = createAddressSpace().createNetwork({
      id: 'n',
      name: 'n',
      ipv4: false,
      subnets: [{ subnet, ipRange: `${formatAddress(6, c.base + 0xfff0n)}/${Math.max(c.prefix, 124)}` }],
    });
    for (let i = 0; i < 16; i++) {
      const a = n.allocate();
      t.equal(a, formatAddress(6, parseCidr(`${a}/128`).base));
    }
  }
});
