/**
 * dumpRtnl: the canonical namespace dump and its filter of kernel-made objects, over a
 * FakeKernel and over a scripted Rtnl that returns what the real kernel lists.
 */
import t from 'tap';
import { dumpRtnl, isKernelAddress, isKernelFdb, isKernelNeighbor, isKernelRoute, isMulticastIp } from '../../../src/kernel/dump.ts';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import type { Link, Rtnl } from '../../../src/kernel/types.ts';

t.test('a fake namespace dumps sorted canonical lines', async (t) => {
  const kernel = new FakeKernel({ seed: 3 });
  await kernel.netns.create('d1');
  const r = await kernel.openRtnl('d1');
  await r.addLink({ name: 'br0', kind: 'bridge', up: true });
  await r.addLink({
    name: 'vx9',
    kind: 'vxlan',
    mtu: 1450,
    master: 'br0',
    up: true,
    vxlan: { vni: 9, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
  });
  await r.addAddress({ link: 'br0', address: '10.0.9.1', prefixLen: 24 });
  await r.addRoute({ family: 4, dst: '10.9.0.0/16', gateway: '10.0.9.254', table: 100 });
  await r.setNeighbor({ link: 'vx9', address: '10.0.9.5', lladdr: '02:42:0a:00:09:05' });
  await r.setFdb({ link: 'vx9', mac: '02:42:0a:00:09:05', dst: '192.0.2.5' });
  await r.setFdb({ link: 'vx9', mac: '00:00:00:00:00:00', dst: '192.0.2.5' });
  await r.setFdb({ link: 'vx9', mac: '02:42:0a:00:09:06', dst: '192.0.2.6', permanent: false });
  const expected = [
    'addr 10.0.9.1/24 dev br0',
    'fdb 00:00:00:00:00:00 dev vx9 dst 192.0.2.5 self permanent',
    'fdb 02:42:0a:00:09:05 dev vx9 dst 192.0.2.5 self permanent',
    'link br0 bridge mtu 1450 up',
    'link lo other mtu 65536 down',
    'link vx9 vxlan id 9 dstport 4789 nolearning proxy l2miss l3miss mtu 1450 master br0 up',
    'neigh 10.0.9.5 lladdr 02:42:0a:00:09:05 dev vx9 permanent',
    'route 10.0.9.0/24 dev br0 src 10.0.9.1 table 254',
  ];
  t.equal(await dumpRtnl(r), expected.join('\n'), 'main table only; dynamic and local fdb entries left out');
  const withTable = await dumpRtnl(r, { tables: [254, 100] });
  t.match(withTable, /^route 10\.9\.0\.0\/16 via 10\.0\.9\.254 dev br0 table 100$/m);
  const all = await dumpRtnl(r, { kernelObjects: true, mac: true });
  const vx = (await r.getLink('vx9'))!;
  t.match(all, new RegExp(`^fdb ${vx.mac} dev vx9 master permanent$`, 'm'), 'kernelObjects keeps the local entry');
  t.match(all, /^fdb 02:42:0a:00:09:06 dev vx9 dst 192\.0\.2\.6 self$/m, 'and the dynamic one');
  t.match(all, new RegExp(`^link vx9 .* address ${vx.mac} master br0 up$`, 'm'));
});

t.test('kernel-made objects as the real kernel lists them are filtered', async (t) => {
  const links: Link[] = [
    { index: 1, name: 'lo', kind: 'other', mtu: 65536, mac: '00:00:00:00:00:00', up: true },
    { index: 2, name: 'br0', kind: 'bridge', mtu: 1500, mac: '5e:74:e7:d3:83:d5', up: true },
    {
      index: 3,
      name: 'vx1',
      kind: 'vxlan',
      mtu: 1500,
      mac: '5e:74:e7:d3:83:d5',
      up: true,
      master: 'br0',
      vxlan: { vni: 1, dstport: 4789, learning: false, proxy: false, l2miss: false, l3miss: false },
    },
  ];
  const stub = {
    netns: 'x',
    listLinks: async () => links,
    listAddresses: async () => [
      { link: 'br0', address: 'fe80::5c74:e7ff:fed3:83d5', prefixLen: 64 },
      { link: 'br0', address: 'fd00::1', prefixLen: 64 },
    ],
    listRoutes: async () => [
      { family: 6 as const, dst: 'fe80::/64', dev: 'br0', table: 254, metric: 256 },
      { family: 6 as const, dst: 'fd00::/64', dev: 'br0', table: 254, metric: 256 },
    ],
    listNeighbors: async () => [
      { link: 'br0', address: 'ff02::16', lladdr: '33:33:00:00:00:16', state: 'noarp' as const },
      { link: 'br0', address: '224.0.0.22', lladdr: '01:00:5e:00:00:16', state: 'noarp' as const },
      { link: 'br0', address: 'fe80::1', lladdr: '02:00:00:00:00:01', state: 'stale' as const },
      { link: 'br0', address: '10.0.0.5', lladdr: '02:00:00:00:00:05', state: 'permanent' as const },
    ],
    listFdb: async () => [
      { link: 'br0', mac: '33:33:00:00:00:01', self: true, permanent: true },
      { link: 'vx1', mac: '5e:74:e7:d3:83:d5', master: true, permanent: true },
      { link: 'vx1', mac: '02:00:00:00:00:77', master: true },
      { link: 'vx1', mac: '00:00:00:00:00:00', dst: '192.0.2.1', self: true, permanent: true },
    ],
  } as unknown as Rtnl;
  t.equal(
    await dumpRtnl(stub),
    [
      'addr fd00::1/64 dev br0',
      'fdb 00:00:00:00:00:00 dev vx1 dst 192.0.2.1 self permanent',
      'link br0 bridge mtu 1500 up',
      'link lo other mtu 65536 up',
      'link vx1 vxlan id 1 dstport 4789 nolearning mtu 1500 master br0 up',
      'neigh 10.0.0.5 lladdr 02:00:00:00:00:05 dev br0 permanent',
      'route fd00::/64 dev br0 table 254 metric 256',
    ].join('\n'),
  );
  t.equal((await dumpRtnl(stub, { kernelObjects: true })).split('\n').length, 15, 'everything with kernelObjects');
});

t.test('predicates', async (t) => {
  t.ok(isKernelAddress({ link: 'x', address: 'febf::1', prefixLen: 64 }));
  t.notOk(isKernelAddress({ link: 'x', address: 'fec0::1', prefixLen: 64 }));
  t.ok(isKernelRoute({ family: 6, dst: 'fe80::/64', dev: 'x' }));
  t.notOk(isKernelRoute({ family: 6, dst: 'fe80::/10', dev: 'x' }));
  t.ok(isMulticastIp('239.255.255.250'));
  t.notOk(isMulticastIp('240.0.0.1'));
  t.ok(isKernelNeighbor({ link: 'x', address: 'ff02::1', lladdr: '33:33:00:00:00:01' }));
  t.notOk(isKernelNeighbor({ link: 'x', address: '10.0.0.1', lladdr: '02:00:00:00:00:01' }));
  const links = new Map([['p1', { index: 2, name: 'p1', kind: 'veth', mtu: 1500, mac: '02:00:00:00:00:01', up: true } as Link]]);
  t.ok(isKernelFdb({ link: 'p1', mac: '02:00:00:00:00:01', master: true, permanent: true }, links));
  t.notOk(isKernelFdb({ link: 'p1', mac: '02:00:00:00:00:02', master: true, permanent: true }, links));
});
