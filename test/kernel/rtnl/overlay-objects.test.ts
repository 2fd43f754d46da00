/**
 * Acceptance: through src/kernel, in throwaway namespaces, build what an overlay needs
 * (bridge, vxlan nolearning proxy l2miss l3miss dstport 4789, a veth whose peer sits in a
 * second namespace, addresses, routes, fdb and neighbour entries), verify each with
 * iproute2's own JSON output, and send a ping across the veth.
 */
import t from 'tap';
import { openRtnl } from '../../../src/kernel/rtnl.ts';
import { bridgeJson, ipJson, requireKernel, run, throwawayNamespaces } from '../../support/kernel.ts';

interface IpLink {
  ifname: string;
  mtu: number;
  flags: string[];
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind: string; info_data?: Record<string, unknown> };
}

if (requireKernel(t)) {
  t.test('overlay objects built through src/kernel, checked with ip -j and bridge -j', async (t) => {
    const ns = await throwawayNamespaces(t, 'ov', 'sb');
    const ov = await openRtnl(ns.ov);
    const sb = await openRtnl(ns.sb);
    t.teardown(() => {
      ov.close();
      sb.close();
    });

    await ov.addLink({ name: 'br0', kind: 'bridge', up: true });
    await ov.addLink({
      name: 'vx4097',
      kind: 'vxlan',
      mtu: 1450,
      master: 'br0',
      up: true,
      vxlan: { vni: 4097, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
    });
    await ov.addLink({
      name: 'veth-sb',
      kind: 'veth',
      master: 'br0',
      up: true,
      mtu: 1450,
      veth: { peerName: 'eth0', peerNetns: ns.sb, peerMac: '02:42:0a:00:01:02' },
    });
    await ov.addAddress({ link: 'br0', address: '10.0.1.1', prefixLen: 24 });
    await sb.setLink('lo', { up: true });
    await sb.setLink('eth0', { up: true });
    await sb.addAddress({ link: 'eth0', address: '10.0.1.2', prefixLen: 24 });
    await sb.addAddress({ link: 'eth0', address: 'fd00:1::2', prefixLen: 64 });
    await sb.addRoute({ family: 4, dst: 'default', gateway: '10.0.1.1' });
    await sb.addRoute({ family: 4, dst: '10.99.0.7/32', dev: 'eth0' });
    await ov.setNeighbor({ link: 'vx4097', address: '10.0.1.5', lladdr: '02:42:0a:00:01:05', state: 'permanent' });
    await ov.setFdb({ link: 'vx4097', mac: '02:42:0a:00:01:05', dst: '192.0.2.12', self: true, permanent: true });
    await ov.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.12', self: true, permanent: true });
    await ov.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.13', self: true, permanent: true });

    // --- independent verification with iproute2 ---
    const links = ipJson<IpLink[]>(ns.ov, '-d', 'link', 'show');
    const br = links.find((l) => l.ifname === 'br0');
    const vx = links.find((l) => l.ifname === 'vx4097');
    const veth = links.find((l) => l.ifname === 'veth-sb');
    t.equal(br?.linkinfo?.info_kind, 'bridge', 'br0 is a bridge');
    t.ok(br?.flags.includes('UP'), 'br0 is up');
    t.equal(vx?.linkinfo?.info_kind, 'vxlan', 'vx4097 is a vxlan');
    t.match(
      vx?.linkinfo?.info_data,
      { id: 4097, port: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
      'vxlan options as programmed',
    );
    t.equal(vx?.mtu, 1450);
    t.equal(vx?.master, 'br0', 'vxlan enslaved to br0');
    t.equal(veth?.linkinfo?.info_kind, 'veth');
    t.equal(veth?.master, 'br0', 'veth enslaved to br0');
    t.ok(veth?.link_netnsid !== undefined, 'veth peer lives in another namespace');

    const sbLinks = ipJson<Array<IpLink & { address: string }>>(ns.sb, 'link', 'show', 'eth0');
    t.equal(sbLinks[0]?.address, '02:42:0a:00:01:02', 'peer created in the sandbox namespace with its MAC');
    const sbAddrs = ipJson<Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>>(ns.sb, 'addr', 'show', 'eth0');
    const locals = sbAddrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`) ?? [];
    t.ok(locals.includes('10.0.1.2/24') && locals.includes('fd00:1::2/64'), `sandbox addresses ${locals.join(' ')}`);
    const routes = ipJson<Array<{ dst: string; gateway?: string; dev: string }>>(ns.sb, 'route', 'show');
    t.ok(
      routes.some((r) => r.dst === 'default' && r.gateway === '10.0.1.1'),
      'default route via the gateway',
    );
    t.ok(
      routes.some((r) => r.dst === '10.99.0.7' && r.dev === 'eth0'),
      '/32 route on eth0',
    );

    const neigh = ipJson<Array<{ dst: string; lladdr: string; state: string[] }>>(ns.ov, 'neigh', 'show', 'dev', 'vx4097');
    t.ok(
      neigh.some((n) => n.dst === '10.0.1.5' && n.lladdr === '02:42:0a:00:01:05' && n.state.includes('PERMANENT')),
      'permanent neighbour entry',
    );
    const fdb = bridgeJson<Array<{ mac: string; dst?: string; flags: string[]; state: string }>>(ns.ov, 'fdb', 'show', 'dev', 'vx4097');
    const selfFdb = fdb
      .filter((f) => f.flags.includes('self') && f.dst)
      .map((f) => `${f.mac} ${f.dst} ${f.state}`)
      .sort();
    t.same(
      selfFdb,
      ['00:00:00:00:00:00 192.0.2.12 permanent', '00:00:00:00:00:00 192.0.2.13 permanent', '02:42:0a:00:01:05 192.0.2.12 permanent'],
      'fdb entries incl. two flood entries',
    );

    // --- what src/kernel reads back agrees ---
    const ourFdb = (await ov.listFdb({ link: 'vx4097' })).filter((f) => f.self && f.dst);
    t.equal(ourFdb.length, 3, 'listFdb sees the three entries');
    t.same((await ov.getLink('vx4097'))?.vxlan, { vni: 4097, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true });

    // --- packets: the sandbox pings its gateway across the veth and bridge ---
    const out = run('nsenter', [`--net=/run/netns/${ns.sb}`, '--', 'ping', '-c', '2', '-W', '2', '-i', '0.2', '10.0.1.1']);
    t.match(out, /2 packets transmitted, 2 received/, 'ping crosses the veth');

    // --- deletion cascades and is idempotent ---
    t.equal(await ov.deleteLink('veth-sb'), true);
    t.equal(await ov.deleteLink('veth-sb'), false, 'deleting a missing link is success');
    t.same(ipJson(ns.sb, 'link', 'show', 'type', 'veth'), [], 'deleting one end removed the peer in the other namespace');
    t.equal(await ov.deleteFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.13', self: true }), true);
    t.equal((await ov.listFdb({ link: 'vx4097' })).filter((f) => f.self && f.dst).length, 2, 'one flood entry removed, the other kept');
  });

  t.test('bad input is refused before the kernel is touched', async (t) => {
    const ns = await throwawayNamespaces(t, 'v');
    const r = await openRtnl(ns.v);
    t.teardown(() => r.close());
    const before = run('ip', ['-n', ns.v, '-d', 'link', 'show']);
    await t.rejects(r.addLink({ name: 'a-very-long-name0', kind: 'bridge' }), { code: 'SHOAL_ERR_BAD_IFNAME' });
    await t.rejects(
      r.addLink({
        name: 'vx0',
        kind: 'vxlan',
        vxlan: { vni: 0x1000000, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
      }),
      { code: 'SHOAL_ERR_BAD_VNI' },
    );
    await t.rejects(r.addLink({ name: 'br1', kind: 'bridge', mac: '02:42:zz:00:00:01' }), { code: 'SHOAL_ERR_BAD_MAC' });
    await t.rejects(r.addAddress({ link: 'lo', address: '10.0.0.300', prefixLen: 24 }), { code: 'SHOAL_ERR_BAD_ADDRESS' });
    await t.rejects(r.addAddress({ link: 'lo', address: '10.0.0.3', prefixLen: 33 }), { code: 'SHOAL_ERR_BAD_PREFIX' });
    await t.rejects(r.addLink({ name: 'v0', kind: 'veth', veth: { peerName: 'v1', peerNetns: 'shoal-no-such-ns' } }), {
      code: 'SHOAL_ERR_NETNS_NOT_FOUND',
    });
    t.equal(run('ip', ['-n', ns.v, '-d', 'link', 'show']), before, 'nothing changed');
    await r.addLink({ name: 'br1', kind: 'bridge' });
    await t.rejects(r.addLink({ name: 'br1', kind: 'bridge' }), { code: 'SHOAL_ERR_ALREADY_EXISTS', errno: 'EEXIST' });
    await t.rejects(r.setLink('nope0', { up: true }), { code: 'SHOAL_ERR_LINK_NOT_FOUND' });
  });
}
