/**
 * Acceptance: an l3miss from a VXLAN device arrives through the event API. A packet to
 * an overlay address with no neighbour entry makes the kernel ask (RTM_GETNEIGH); the
 * agent answers such misses from gossip or the manager.
 */
import t from 'tap';
import { openRtnl } from '../../../src/kernel/rtnl.ts';
import type { LinkEvent, NeighborMiss } from '../../../src/kernel/types.ts';
import { requireKernel, run, throwawayNamespaces, waitFor } from '../../support/kernel.ts';

if (requireKernel(t)) {
  t.test('l3miss and link events reach the watcher', async (t) => {
    const ns = await throwawayNamespaces(t, 'ov');
    const r = await openRtnl(ns.ov);
    t.teardown(() => r.close());
    const misses: NeighborMiss[] = [];
    const links: LinkEvent[] = [];
    const watch = await r.watch({ miss: (m) => misses.push(m), link: (e) => links.push(e) });
    t.teardown(() => watch.close());

    await r.addLink({ name: 'br0', kind: 'bridge', up: true });
    await r.addLink({
      name: 'vx4100',
      kind: 'vxlan',
      master: 'br0',
      up: true,
      vxlan: { vni: 4100, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
    });
    await r.addAddress({ link: 'br0', address: '10.0.9.1', prefixLen: 24 });
    await waitFor(
      () => links.some((e) => e.type === 'new' && e.link.name === 'vx4100' && e.link.kind === 'vxlan'),
      5000,
      'link event for vx4100',
    );

    // ARP for an address nobody has: the bridge floods it to the vxlan port, which has
    // proxy on and no neighbour entry, so it reports an l3miss
    try {
      run('nsenter', [`--net=/run/netns/${ns.ov}`, '--', 'ping', '-c', '1', '-W', '1', '10.0.9.77']);
    } catch {
      /* no answer expected */
    }
    await waitFor(() => misses.some((m) => m.kind === 'l3miss' && m.address === '10.0.9.77'), 5000, 'l3miss for 10.0.9.77');
    const miss = misses.find((m) => m.address === '10.0.9.77');
    t.same(miss, { kind: 'l3miss', link: 'vx4100', address: '10.0.9.77' }, 'the miss names the device and the address');

    await r.deleteLink('vx4100');
    await waitFor(() => links.some((e) => e.type === 'del' && e.link.name === 'vx4100'), 5000, 'del event for vx4100');
    t.pass('link deletion reported');
  });
}
