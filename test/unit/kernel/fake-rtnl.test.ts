/**
 * FakeKernel / FakeRtnl / FakeNetns semantics on their own (no root needed). The same
 * rules are checked against the real kernel by test/kernel/conformance/.
 */
import t from 'tap';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import type { FakeRtnl } from '../../../src/kernel/fake-rtnl.ts';
import { dumpRtnl } from '../../../src/kernel/dump.ts';
import type { LinkEvent, NeighborMiss } from '../../../src/kernel/types.ts';

const VX = { learning: false, proxy: true, l2miss: true, l3miss: true } as const;

async function setup(seed = 1): Promise<{ kernel: FakeKernel; a: FakeRtnl; b: FakeRtnl }> {
  const kernel = new FakeKernel({ seed });
  await kernel.netns.create('ns-a');
  await kernel.netns.create('ns-b');
  return { kernel, a: await kernel.openRtnl('ns-a'), b: await kernel.openRtnl('ns-b') };
}

async function names(r: FakeRtnl): Promise<string[]> {
  return (await r.listLinks()).map((l) => l.name);
}

t.test('namespaces: created with lo down, listed, deleted', async (t) => {
  const kernel = new FakeKernel({ seed: 1 });
  t.equal(await kernel.netns.create('x1'), true);
  t.equal(await kernel.netns.create('x1'), false, 'existing = success, false');
  t.same(await kernel.netns.list(), ['x1']);
  t.equal(await kernel.netns.exists('x1'), true);
  t.equal(kernel.netns.path('x1'), '/run/netns/x1');
  const r = await kernel.openRtnl('x1');
  t.same(await r.listLinks(), [{ index: 1, name: 'lo', kind: 'other', mtu: 65536, mac: '00:00:00:00:00:00', up: false }]);
  r.close();
  t.equal(await kernel.netns.delete('x1'), true);
  t.equal(await kernel.netns.delete('x1'), false, 'missing = success, false');
  t.equal(await kernel.netns.exists('x1'), false);
  await t.rejects(kernel.openRtnl('x1'), { code: 'SHOAL_ERR_NETNS_NOT_FOUND', errno: 'ENOENT' });
  await t.rejects(kernel.netns.create('a/b'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
});

t.test('a deleted namespace lives while a handle is open; then its veth peers elsewhere go', async (t) => {
  const { kernel, a, b } = await setup();
  await a.addLink({ name: 'va', kind: 'veth', veth: { peerName: 'vb', peerNetns: 'ns-b' } });
  await kernel.netns.delete('ns-b');
  t.equal(await kernel.netns.exists('ns-b'), false);
  t.ok(await b.getLink('vb'), 'the handle still sees its namespace');
  t.ok(await a.getLink('va'), 'the peer is still there');
  b.close();
  t.equal(await a.getLink('va'), undefined, 'closing the last handle destroyed the namespace and the peer went');
  await t.rejects(b.listLinks(), { code: 'SHOAL_ERR_CLOSED' });
});

t.test('link defaults and read-back', async (t) => {
  const { a, b } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge' });
  await a.addLink({ name: 'vx1', kind: 'vxlan', vxlan: { vni: 42, dstport: 4789, local: '192.0.2.1', ttl: 0, ...VX } });
  await a.addLink({
    name: 've0',
    kind: 'veth',
    mtu: 1400,
    up: true,
    veth: { peerName: 've1', peerNetns: 'ns-b', peerMac: '02:00:00:00:00:01' },
  });
  const links = await a.listLinks();
  t.same(
    links.map((l) => [l.index, l.name, l.kind, l.mtu, l.up]),
    [
      [1, 'lo', 'other', 65536, false],
      [2, 'br0', 'bridge', 1500, false],
      [3, 'vx1', 'vxlan', 1500, false],
      [4, 've0', 'veth', 1400, true],
    ],
    'a vxlan without a lower device has MTU 1500; new links are down unless asked',
  );
  t.same(
    links[2]!.vxlan,
    { vni: 42, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true, local: '192.0.2.1' },
    'ttl 0 reads back as absent',
  );
  const ve1 = await b.getLink('ve1');
  t.same(
    [ve1?.index, ve1?.mtu, ve1?.mac, ve1?.up, ve1?.peerIndex],
    [2, 1400, '02:00:00:00:00:01', false, 4],
    'the peer: first index in its namespace, same MTU, own MAC, down',
  );
  t.equal(links[3]!.peerIndex, 2);
  for (const l of links.slice(1))
    t.match(l.mac, /^[0-9a-f][2367abef](:[0-9a-f]{2}){5}$/, `${l.name}: random unicast, locally administered MAC`);
});

t.test('link errors and nothing half-done', async (t) => {
  const { a, b } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge' });
  await a.addLink({ name: 'v0', kind: 'veth', veth: { peerName: 'v1' } });
  await b.addLink({ name: 'taken', kind: 'bridge' });
  await t.rejects(a.addLink({ name: 'br0', kind: 'bridge' }), { code: 'SHOAL_ERR_ALREADY_EXISTS', errno: 'EEXIST' });
  await t.rejects(a.addLink({ name: 'v2', kind: 'veth', veth: { peerName: 'taken', peerNetns: 'ns-b' } }), {
    code: 'SHOAL_ERR_ALREADY_EXISTS',
  });
  await t.rejects(a.addLink({ name: 'v2', kind: 'veth', veth: { peerName: 'x', peerNetns: 'ns-none' } }), {
    code: 'SHOAL_ERR_NETNS_NOT_FOUND',
  });
  await t.rejects(a.addLink({ name: 'v2', kind: 'veth', master: 'v0', veth: { peerName: 'v3' } }), {
    code: 'SHOAL_ERR_NETLINK',
    errno: 'ENOTSUP',
  });
  t.same(await names(a), ['lo', 'br0', 'v1', 'v0'], 'failed adds leave nothing behind (a veth peer is registered first)');
  await t.rejects(
    a
      .addLink({ name: 'vxa', kind: 'vxlan', vxlan: { vni: 7, dstport: 4789, ...VX } })
      .then(() => a.addLink({ name: 'vxb', kind: 'vxlan', vxlan: { vni: 7, dstport: 4789, ...VX } })),
    {
      code: 'SHOAL_ERR_ALREADY_EXISTS',
    },
  );
  await a.addLink({ name: 'vxc', kind: 'vxlan', vxlan: { vni: 7, dstport: 4789, local: 'fd00::1', ...VX } });
  t.pass('the same VNI over IPv6 is another device');

  await t.rejects(a.setLink('nope', { up: true }), { code: 'SHOAL_ERR_LINK_NOT_FOUND', errno: 'ENODEV' });
  await t.rejects(a.setLink('v0', { mtu: 1400, master: 'v1' }), { name: 'ShoalError', errno: 'ENOTSUP' });
  t.equal((await a.getLink('v0'))?.mtu, 1500, 'a refused change changes nothing');
  await t.rejects(a.setLink('v0', { mtu: 10 }), { code: 'SHOAL_ERR_BAD_MTU' });
  await t.rejects(a.setLink('v0', { mac: '01:00:5e:00:00:01' }), { name: 'ShoalError', errno: 'EADDRNOTAVAIL' });
  await t.rejects(a.setLink('v0', { name: 'v1' }), { code: 'SHOAL_ERR_ALREADY_EXISTS' });
  await t.rejects(a.setLink('br0', { netns: 'ns-b' }), { name: 'ShoalError', errno: 'EINVAL' });
  await t.rejects(a.setLink('lo', { master: 'br0' }), { name: 'ShoalError', errno: 'EINVAL' });
  await a.addLink({ name: 'br1', kind: 'bridge' });
  await t.rejects(a.setLink('br1', { master: 'br0' }), { name: 'ShoalError', errno: 'ELOOP' });
  await t.rejects(a.deleteLink('lo'), { name: 'ShoalError', errno: 'ENOTSUP' });
  t.equal(await a.deleteLink('nope'), false, 'deleting a missing link is success');
  await t.rejects(a.addLink({ name: 'x'.repeat(16), kind: 'bridge' }), { code: 'SHOAL_ERR_BAD_IFNAME' });
});

t.test('bridge MTU and MAC follow the ports until set', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge', mtu: 9000 });
  await a.addLink({
    name: 'p1',
    kind: 'veth',
    mtu: 1450,
    veth: { peerName: 'q1', peerMac: '02:00:00:00:00:09' },
    mac: '02:00:00:00:00:05',
  });
  await a.addLink({ name: 'p2', kind: 'veth', veth: { peerName: 'q2' }, mac: '02:00:00:00:00:03' });
  await a.setLink('p1', { master: 'br0' });
  t.same(
    await a.getLink('br0'),
    { index: 2, name: 'br0', kind: 'bridge', mtu: 1450, mac: '02:00:00:00:00:05', up: false },
    'an MTU given at creation does not stick',
  );
  await a.setLink('p2', { master: 'br0' });
  t.equal((await a.getLink('br0'))?.mac, '02:00:00:00:00:03', 'smallest port MAC');
  await a.setLink('p1', { mtu: 1400 });
  t.equal((await a.getLink('br0'))?.mtu, 1400);
  await a.setLink('br0', { mtu: 1500 });
  await a.setLink('p1', { mtu: 1300 });
  t.equal((await a.getLink('br0'))?.mtu, 1500, 'an MTU set by hand sticks');
  await a.deleteLink('p2');
  t.equal(await a.getLink('q2'), undefined, 'the veth peer went too');
  t.equal((await a.getLink('br0'))?.mac, '02:00:00:00:00:05');
  await a.setLink('p1', { master: null });
  t.equal((await a.getLink('br0'))?.mac, '00:00:00:00:00:00', 'the last port gone: all-zero MAC');
  await a.setLink('br0', { mac: '02:00:00:00:00:99' });
  await a.setLink('p1', { master: 'br0' });
  t.equal((await a.getLink('br0'))?.mac, '02:00:00:00:00:99', 'a MAC set by hand sticks');
  await a.deleteLink('br0');
  t.equal((await a.getLink('p1'))?.master, undefined, 'deleting the bridge releases its ports');
});

t.test('connected routes follow addresses and link state', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge' });
  await a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 });
  await a.addAddress({ link: 'br0', address: 'fd00:1:0::1', prefixLen: 64 });
  t.same(await a.listRoutes(), [], 'no routes while down');
  await a.setLink('br0', { up: true });
  t.same(await a.listRoutes(), [
    { family: 4, dst: '10.1.0.0/24', dev: 'br0', src: '10.1.0.1', table: 254 },
    { family: 6, dst: 'fd00:1::/64', dev: 'br0', table: 254, metric: 256 },
  ]);
  await a.addAddress({ link: 'br0', address: '10.1.0.2', prefixLen: 24 });
  await a.addAddress({ link: 'br0', address: '10.9.9.9', prefixLen: 32 });
  await a.addAddress({ link: 'br0', address: 'fd00:9::9', prefixLen: 128 });
  t.same(
    (await a.listRoutes()).map((r) => r.dst),
    ['10.1.0.0/24', 'fd00:1::/64', 'fd00:9::9/128'],
    'no route for a secondary or an IPv4 /32; one for an IPv6 /128',
  );
  await t.rejects(a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }), { code: 'SHOAL_ERR_ALREADY_EXISTS', errno: 'EEXIST' });
  await t.rejects(a.addAddress({ link: 'br0', address: 'fd00:1::1', prefixLen: 80 }), { code: 'SHOAL_ERR_ALREADY_EXISTS' });
  t.same(
    (await a.listAddresses('br0')).map((x) => `${x.address}/${x.prefixLen}`),
    ['10.1.0.1/24', '10.1.0.2/24', '10.9.9.9/32', 'fd00:1::1/64', 'fd00:9::9/128'],
    'addresses in canonical form',
  );

  await a.addRoute({ family: 4, dst: '10.20.0.0/16', gateway: '10.1.0.254', table: 100 });
  await a.setLink('br0', { up: false });
  t.same(
    (await a.listAddresses('br0')).map((x) => x.address),
    ['10.1.0.1', '10.1.0.2', '10.9.9.9'],
    'down: IPv6 addresses go, IPv4 stay',
  );
  t.same([await a.listRoutes(), await a.listRoutes({ table: 100 })], [[], []], 'down: every route through the link goes');
  await a.setLink('br0', { up: true });
  t.same(
    (await a.listRoutes()).map((r) => r.dst),
    ['10.1.0.0/24'],
    'up again: only the connected route comes back',
  );

  t.equal(await a.deleteAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 16 }), false, 'the prefix length must match');
  t.equal(await a.deleteAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 }), true);
  t.same(
    (await a.listAddresses('br0')).map((x) => x.address),
    ['10.9.9.9'],
    'the primary took its secondary',
  );
  t.same(await a.listRoutes(), []);
  await a.setNeighbor({ link: 'br0', address: '10.9.9.1', lladdr: '02:00:00:00:00:01' });
  await a.setNeighbor({ link: 'br0', address: 'fd00::1', lladdr: '02:00:00:00:00:01' });
  await a.addRoute({ family: 4, dst: '10.30.0.0/16', dev: 'br0' });
  t.equal(await a.deleteAddress({ link: 'br0', address: '10.9.9.9', prefixLen: 32 }), true);
  t.same(await a.listRoutes(), [], 'the last IPv4 address took the IPv4 routes through the link');
  t.same(
    (await a.listNeighbors()).map((n) => n.address),
    ['fd00::1'],
    'and the IPv4 neighbours',
  );
});

t.test('routes: reachability, sources, duplicates, deletes', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge', up: true });
  await a.addLink({ name: 'br9', kind: 'bridge' });
  await a.addAddress({ link: 'br0', address: '10.1.0.1', prefixLen: 24 });
  await a.addAddress({ link: 'br0', address: 'fd00:1::1', prefixLen: 64 });
  await a.addRoute({ family: 4, dst: 'default', gateway: '10.1.0.254' });
  await a.addRoute({ family: 4, dst: '10.1.0.128/25', gateway: '10.1.0.7' });
  await a.addRoute({ family: 4, dst: '10.24.0.0/16', gateway: '10.1.0.200' });
  t.pass('an IPv4 gateway is found through the connected route even under a more specific gateway route');
  await a.addRoute({ family: 4, dst: '10.5.0.1/32', dev: 'br0', src: '10.1.0.1' });
  await a.addRoute({ family: 6, dst: 'fd00:2::/64', gateway: 'fd00:1::fe' });
  await a.addRoute({ family: 6, dst: 'fd00:3::/64', dev: 'br0', metric: 5 });
  t.same(
    (await a.listRoutes({ family: 6 })).map((r) => [r.dst, r.metric]),
    [
      ['fd00:1::/64', 256],
      ['fd00:2::/64', undefined],
      ['fd00:3::/64', 5],
    ],
    'IPv6 metric 1024 (the default) reads back as absent',
  );
  await t.rejects(a.addRoute({ family: 4, dst: '10.30.0.0/16', gateway: '10.99.0.1' }), {
    code: 'SHOAL_ERR_NETLINK',
    errno: 'ENETUNREACH',
  });
  await t.rejects(
    a.addRoute({ family: 4, dst: '10.31.0.0/16', gateway: '10.24.0.5' }),
    { name: 'ShoalError', errno: 'ENETUNREACH' },
    'not through another gateway',
  );
  await t.rejects(a.addRoute({ family: 4, dst: '10.32.0.0/16', gateway: '10.1.0.5', dev: 'br9' }), {
    name: 'ShoalError',
    errno: 'ENETUNREACH',
  });
  await t.rejects(a.addRoute({ family: 4, dst: '10.33.0.0/16', dev: 'br9' }), { name: 'ShoalError', errno: 'ENETDOWN' });
  await t.rejects(a.addRoute({ family: 4, dst: '10.34.0.0/16', dev: 'br0', src: '10.1.0.9' }), { name: 'ShoalError', errno: 'EINVAL' });
  await t.rejects(a.addRoute({ family: 4, dst: '10.35.0.0/16', dev: 'nope' }), { code: 'SHOAL_ERR_LINK_NOT_FOUND' });
  await t.rejects(a.addRoute({ family: 4, dst: '10.36.0.1/16', dev: 'br0' }), { code: 'SHOAL_ERR_BAD_PREFIX' });
  await t.rejects(
    a.addRoute({ family: 4, dst: '10.1.0.0/24', dev: 'br0' }),
    { code: 'SHOAL_ERR_ALREADY_EXISTS' },
    'the connected route holds the key',
  );
  await t.rejects(a.addRoute({ family: 4, dst: '10.24.0.0/16', gateway: '10.1.0.9' }), { code: 'SHOAL_ERR_ALREADY_EXISTS' });
  await a.addRoute({ family: 4, dst: '10.24.0.0/16', gateway: '10.1.0.9', metric: 10 });
  await a.addRoute({ family: 6, dst: 'default', gateway: 'fd00:1::fe' });
  await t.rejects(
    a.addRoute({ family: 6, dst: 'fd00:4::/64', gateway: 'fd00:9::1' }),
    { name: 'ShoalError', errno: 'EHOSTUNREACH' },
    'the longest match is via a gateway',
  );
  await t.rejects(
    a.addRoute({ family: 6, dst: 'fd00:5::/64', gateway: 'fd00:1::1' }),
    { name: 'ShoalError', errno: 'EINVAL' },
    'a local address',
  );
  await a.addRoute({ family: 6, dst: 'fd00:6::/64', dev: 'br0', table: 100 });
  await a.addRoute({ family: 6, dst: 'fd00:7::/64', gateway: 'fd00:6::5', table: 100 });
  t.pass('a gateway is found in the route table first');

  t.equal(await a.deleteRoute({ family: 4, dst: '10.1.0.0/24', dev: 'br0' }), false, 'connected routes are not ours to delete');
  t.equal(await a.deleteRoute({ family: 4, dst: '10.99.0.0/16', dev: 'br0' }), false);
  t.equal(await a.deleteRoute({ family: 4, dst: '10.24.0.0/16', gateway: '10.1.0.77' }), false, 'the gateway must match');
  t.equal(await a.deleteRoute({ family: 4, dst: '10.24.0.0/16', dev: 'br0' }), true, 'the lowest metric first');
  t.same(
    (await a.listRoutes({ family: 4 })).filter((r) => r.dst === '10.24.0.0/16').map((r) => r.metric),
    [10],
  );
  t.equal(await a.deleteRoute({ family: 6, dst: 'fd00:3::/64', dev: 'br0' }), true, 'no metric matches any');
  t.equal(await a.deleteRoute({ family: 6, dst: 'fd00:7::/64', gateway: 'fd00:6::5' }), false, 'table main by default');
  t.equal(await a.deleteRoute({ family: 4, dst: '10.5.0.1/32', dev: 'nope' }), false);

  await a.addAddress({ link: 'br0', address: '10.2.0.1', prefixLen: 24 });
  await a.addRoute({ family: 4, dst: '10.40.0.0/16', dev: 'br0', src: '10.2.0.1' });
  await a.deleteAddress({ link: 'br0', address: '10.2.0.1', prefixLen: 24 });
  t.notOk(
    (await a.listRoutes()).some((r) => r.dst === '10.40.0.0/16'),
    'a route preferring a deleted address goes',
  );
});

t.test('neighbours', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'vx1', kind: 'vxlan', up: true, vxlan: { vni: 1, dstport: 4789, ...VX } });
  await a.setNeighbor({ link: 'vx1', address: '10.0.0.5', lladdr: '02:00:00:00:00:05' });
  await a.setNeighbor({ link: 'vx1', address: '10.0.0.5', lladdr: '02:00:00:00:00:55', state: 'noarp' });
  await a.setNeighbor({ link: 'vx1', address: 'FD00:0::5', lladdr: '02:00:00:00:00:05' });
  t.same(
    await a.listNeighbors(),
    [
      { link: 'vx1', address: '10.0.0.5', lladdr: '02:00:00:00:00:55', state: 'noarp' },
      { link: 'vx1', address: 'fd00::5', lladdr: '02:00:00:00:00:05', state: 'permanent' },
    ],
    'set replaces; addresses canonical; permanent by default',
  );
  t.same(await a.listNeighbors({ family: 6 }), [{ link: 'vx1', address: 'fd00::5', lladdr: '02:00:00:00:00:05', state: 'permanent' }]);
  t.equal(await a.deleteNeighbor({ link: 'vx1', address: '10.0.0.9' }), false);
  t.equal(await a.deleteNeighbor({ link: 'nope', address: '10.0.0.9' }), false);
  await t.rejects(a.setNeighbor({ link: 'nope', address: '10.0.0.9', lladdr: '02:00:00:00:00:09' }), { code: 'SHOAL_ERR_LINK_NOT_FOUND' });
  t.equal(await a.deleteNeighbor({ link: 'vx1', address: 'fd00::5' }), true);
  await a.setLink('vx1', { up: false });
  t.same(await a.listNeighbors(), [], 'down flushes neighbours, permanent ones too');
  await a.setNeighbor({ link: 'vx1', address: '10.0.0.5', lladdr: '02:00:00:00:00:05' });
  t.equal((await a.listNeighbors()).length, 1, 'a down link accepts neighbours');
  await a.setLink('vx1', { mac: '02:00:00:00:01:01' });
  t.same(await a.listNeighbors(), [], 'a MAC change flushes neighbours');
});

t.test('vxlan fdb: flood lists, unicast replace, deletes', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'vx1', kind: 'vxlan', up: true, vxlan: { vni: 1, dstport: 4789, ...VX } });
  const Z = '00:00:00:00:00:00';
  await a.setFdb({ link: 'vx1', mac: Z, dst: '192.0.2.1', self: true });
  await a.setFdb({ link: 'vx1', mac: Z, dst: '192.0.2.2', self: true });
  await a.setFdb({ link: 'vx1', mac: Z, dst: '192.0.2.1', self: true });
  await a.setFdb({ link: 'vx1', mac: '02:42:0a:00:00:05', dst: '192.0.2.1' });
  await a.setFdb({ link: 'vx1', mac: '02:42:0A:00:00:05', dst: '192.0.2.3' });
  await a.setFdb({ link: 'vx1', mac: '02:42:0a:00:00:06', dst: '192.0.2.3', permanent: false });
  t.same(
    await a.listFdb(),
    [
      { link: 'vx1', mac: Z, dst: '192.0.2.1', self: true, permanent: true },
      { link: 'vx1', mac: Z, dst: '192.0.2.2', self: true, permanent: true },
      { link: 'vx1', mac: '02:42:0a:00:00:05', dst: '192.0.2.3', self: true, permanent: true },
      { link: 'vx1', mac: '02:42:0a:00:00:06', dst: '192.0.2.3', self: true },
    ],
    'several flood destinations; a unicast MAC has one, replaced',
  );
  t.equal(
    await a.deleteFdb({ link: 'vx1', mac: Z, dst: '192.0.2.9', self: true }),
    true,
    'a destination the MAC lacks: success, no change',
  );
  t.equal((await a.listFdb()).length, 4);
  t.equal(await a.deleteFdb({ link: 'vx1', mac: Z, dst: '192.0.2.2', self: true }), true);
  t.equal(await a.deleteFdb({ link: 'vx1', mac: '02:42:0a:00:00:99', self: true }), false);
  await a.setLink('vx1', { up: false });
  t.same(
    (await a.listFdb()).map((f) => f.mac),
    [Z, '02:42:0a:00:00:05'],
    'down drops the dynamic entry only',
  );
  await a.addLink({ name: 've0', kind: 'veth', veth: { peerName: 've1' } });
  await t.rejects(
    a.setFdb({ link: 've1', mac: '02:00:00:00:00:01', master: true }),
    { name: 'ShoalError', errno: 'ENOTSUP' },
    'master on a link without a master',
  );
});

t.test('bridge fdb: local entries and master entries', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge', mac: '02:00:00:00:00:0b' });
  await a.addLink({ name: 'p1', kind: 'veth', master: 'br0', mac: '02:00:00:00:00:01', veth: { peerName: 'q1' } });
  await a.setFdb({ link: 'p1', mac: '02:00:00:00:00:77', master: true });
  t.same(await a.listFdb(), [
    { link: 'p1', mac: '02:00:00:00:00:01', master: true, permanent: true },
    { link: 'br0', mac: '02:00:00:00:00:0b', master: true, permanent: true },
    { link: 'p1', mac: '02:00:00:00:00:77', master: true, permanent: true },
  ]);
  t.equal(
    await dumpRtnl(a).then((d) =>
      d
        .split('\n')
        .filter((l) => l.startsWith('fdb'))
        .join('\n'),
    ),
    'fdb 02:00:00:00:00:77 dev p1 master permanent',
    'the dump leaves out the local entries',
  );
  t.equal(await a.deleteFdb({ link: 'p1', mac: '02:00:00:00:00:77', master: true }), true);
  t.equal(await a.deleteFdb({ link: 'p1', mac: '02:00:00:00:00:77', master: true }), false);
  await a.setFdb({ link: 'p1', mac: '02:00:00:00:00:78', master: true });
  await a.setLink('p1', { master: null });
  t.same(
    (await a.listFdb()).map((f) => f.mac),
    ['02:00:00:00:00:0b'],
    'releasing a port drops its entries',
  );
});

t.test('moving links between namespaces', async (t) => {
  const { a, b } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge', up: true });
  await a.addLink({ name: 'm0', kind: 'veth', up: true, master: 'br0', veth: { peerName: 'm1' } });
  await a.addAddress({ link: 'm0', address: '10.5.0.1', prefixLen: 24 });
  await a.setNeighbor({ link: 'm0', address: '10.5.0.2', lladdr: '02:00:00:00:00:02' });
  await a.addLink({ name: 'vx1', kind: 'vxlan', up: true, vxlan: { vni: 9, dstport: 4789, ...VX } });
  await a.setFdb({ link: 'vx1', mac: '02:00:00:00:00:09', dst: '192.0.2.9' });
  await a.setNeighbor({ link: 'vx1', address: '10.6.0.9', lladdr: '02:00:00:00:00:09' });
  await b.addLink({ name: 'vx1', kind: 'bridge' });
  await t.rejects(a.setLink('vx1', { netns: 'ns-b' }), { code: 'SHOAL_ERR_ALREADY_EXISTS' }, 'the name is taken there');
  await t.rejects(a.setLink('vx1', { netns: 'ns-none' }), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
  await a.setLink('vx1', { netns: 'ns-b', name: 'vx9' });
  await a.setLink('m0', { netns: 'ns-b', up: true });
  t.same(await names(a), ['lo', 'br0', 'm1']);
  t.same(await a.listAddresses(), [], 'addresses stay behind, and go');
  t.same(await a.listNeighbors(), []);
  const moved = await b.listLinks();
  t.same(
    moved.map((l) => [l.name, l.index, l.up, l.master]),
    [
      ['lo', 1, false, undefined],
      ['vx1', 2, false, undefined],
      ['m0', 4, false, undefined],
      ['vx9', 5, false, undefined],
    ],
    'moved links arrive down, without master, keeping a free ifindex',
  );
  t.same(
    (await b.listFdb({ link: 'vx9' })).map((f) => f.mac),
    ['02:00:00:00:00:09'],
    'a vxlan keeps its permanent fdb entries',
  );
  t.equal((await a.getLink('m1'))?.peerIndex, 4, 'the peer follows');
  t.equal((await b.getLink('m0'))?.peerIndex, 3);
  await t.rejects(
    a.addLink({ name: 'vx2', kind: 'vxlan', vxlan: { vni: 9, dstport: 4789, ...VX } }),
    { code: 'SHOAL_ERR_ALREADY_EXISTS' },
    'a moved vxlan keeps its VNI in the namespace it was made in',
  );
  await b.addLink({ name: 'vx2', kind: 'vxlan', vxlan: { vni: 9, dstport: 4789, ...VX } });
  t.equal((await a.getLink('br0'))?.mac, '00:00:00:00:00:00', 'the bridge lost its last port');
  await b.deleteLink('m0');
  t.equal(await a.getLink('m1'), undefined, 'deleting a moved end deletes its peer');
});

t.test('IPv6 needs an MTU of 1280', async (t) => {
  const { a } = await setup();
  await a.addLink({ name: 'br0', kind: 'bridge', up: true });
  await a.addAddress({ link: 'br0', address: 'fd00::1', prefixLen: 64 });
  await a.setLink('br0', { mtu: 1200 });
  t.same(await a.listAddresses(), []);
  t.same(await a.listRoutes(), []);
  await t.rejects(a.addAddress({ link: 'br0', address: 'fd00::1', prefixLen: 64 }), { name: 'ShoalError', errno: 'EINVAL' });
  await a.setLink('br0', { mtu: 1280 });
  await a.addAddress({ link: 'br0', address: 'fd00::1', prefixLen: 64 });
});

t.test('lo up brings 127.0.0.1/8 and ::1/128', async (t) => {
  const { a } = await setup();
  await a.setLink('lo', { up: true });
  t.same(await a.listAddresses(), [
    { link: 'lo', address: '127.0.0.1', prefixLen: 8 },
    { link: 'lo', address: '::1', prefixLen: 128 },
  ]);
  t.same(await a.listRoutes(), [], 'their routes live in table local');
  await a.setLink('lo', { up: false });
  t.same(
    (await a.listAddresses()).map((x) => x.address),
    ['127.0.0.1'],
  );
});

t.test('watch: link events, misses, close', async (t) => {
  const { kernel, a, b } = await setup();
  const eventsA: string[] = [];
  const eventsB: string[] = [];
  const misses: NeighborMiss[] = [];
  const fmt = (e: LinkEvent): string => `${e.type} ${e.link.name}${e.link.up ? ' up' : ''}`;
  const wa = await a.watch({ link: (e) => eventsA.push(fmt(e)), miss: (m) => misses.push(m) });
  const wb = await b.watch({ link: (e) => eventsB.push(fmt(e)) });
  await a.addLink({ name: 'va', kind: 'veth', veth: { peerName: 'vb', peerNetns: 'ns-b' } });
  await a.setLink('va', { up: true });
  await a.setLink('va', { mtu: 1500 });
  await b.deleteLink('vb');
  t.same(eventsA, ['new va', 'new va up', 'del va up'], 'no event for a change that changes nothing; the peer deletion reaches a');
  t.same(eventsB, ['new vb', 'del vb']);

  await a.addLink({
    name: 'vx1',
    kind: 'vxlan',
    vxlan: { vni: 5, dstport: 4789, learning: false, proxy: true, l2miss: false, l3miss: true },
  });
  t.equal(a.injectMiss({ kind: 'l3miss', link: 'vx1', address: 'FD00::0:5' }), true);
  t.equal(a.injectMiss({ kind: 'l2miss', link: 'vx1', mac: '02:00:00:00:00:05' }), false, 'the device has no l2miss');
  t.equal(kernel.injectMiss('ns-a', { kind: 'l3miss', link: 'nope', address: '10.0.0.5' }), false);
  t.same(misses, [{ kind: 'l3miss', link: 'vx1', address: 'fd00::5' }]);

  wa.close();
  wb.close();
  await a.addLink({ name: 'br0', kind: 'bridge' });
  t.equal(eventsA.at(-1), 'new vx1', 'a closed watch reports nothing');
  a.close();
  await t.rejects(a.addLink({ name: 'br1', kind: 'bridge' }), { code: 'SHOAL_ERR_CLOSED' });
});

t.test('the same seed picks the same MACs', async (t) => {
  const run = async (seed: number): Promise<string[]> => {
    const { a } = await setup(seed);
    await a.addLink({ name: 'v0', kind: 'veth', veth: { peerName: 'v1' } });
    return (await a.listLinks()).map((l) => l.mac);
  };
  t.same(await run(7), await run(7));
  t.not((await run(7)).join(), (await run(8)).join());
  t.equal(new FakeKernel({ seed: 99 }).seed, 99);
});
