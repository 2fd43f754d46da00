/**
 * Conformance of watch(): the link events and VXLAN misses of the real kernel against the
 * FakeKernel's, for one scenario run on both.
 *
 * The kernel sends a link message for every change it makes (several per operation), so
 * link events compare as the set of (type, link) pairs. Misses come from traffic on the
 * real kernel: a second namespace (a "container" on the bridge) sends UDP, its ARP
 * request reaches the vxlan device, which has no neighbour for the target (l3miss), or,
 * with a neighbour, no fdb entry for its MAC (l2miss). The fake cannot see traffic, so
 * the test injects the same misses; what must agree is their shape.
 *
 * Needs root; skipped without it on a developer machine, failed in CI.
 */
import t from 'tap';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import type { FakeRtnl } from '../../../src/kernel/fake-rtnl.ts';
import { createNetnsManager, openRtnl } from '../../../src/kernel/index.ts';
import type { NeighborMiss, NetnsManager, Rtnl } from '../../../src/kernel/types.ts';
import { requireKernel, testPrefix, waitFor } from '../../support/kernel.ts';

const DEADLINE_MS = 10_000;
const MAC = '02:42:0a:00:09:06';

interface Side {
  netns: NetnsManager;
  open(ns: string): Promise<Rtnl>;
  /** Makes namespace b send a UDP datagram to `ip` (real), or injects the miss it causes (fake). */
  provoke(a: Rtnl, b: string, ip: string, miss: NeighborMiss): Promise<void>;
}

async function scenario(side: Side, names: { a: string; b: string }): Promise<{ links: string[]; misses: NeighborMiss[] }> {
  await side.netns.create(names.a);
  await side.netns.create(names.b);
  const a = await side.open(names.a);
  const b = await side.open(names.b);
  const links = new Set<string>();
  const misses: NeighborMiss[] = [];
  const watch = await a.watch({ link: (e) => links.add(`${e.type} ${e.link.name}`), miss: (m) => misses.push(m) });
  try {
    await a.addLink({ name: 'br0', kind: 'bridge', up: true });
    await a.addAddress({ link: 'br0', address: '10.0.9.1', prefixLen: 24 });
    await a.addLink({
      name: 'vx1',
      kind: 'vxlan',
      master: 'br0',
      up: true,
      vxlan: { vni: 9, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
    });
    await a.addLink({ name: 'va', kind: 'veth', master: 'br0', up: true, veth: { peerName: 'vb', peerNetns: names.b } });
    await b.addAddress({ link: 'vb', address: '10.0.9.2', prefixLen: 24 });
    await b.setLink('vb', { up: true });

    const isWanted = (m: NeighborMiss): boolean => m.address === '10.0.9.5' || m.mac === MAC;
    await side.provoke(a, names.b, '10.0.9.5', { kind: 'l3miss', link: 'vx1', address: '10.0.9.5' });
    await waitFor(() => misses.some((m) => m.kind === 'l3miss' && m.address === '10.0.9.5'), DEADLINE_MS, 'an l3miss for 10.0.9.5');
    await a.setNeighbor({ link: 'vx1', address: '10.0.9.6', lladdr: MAC });
    await side.provoke(a, names.b, '10.0.9.6', { kind: 'l2miss', link: 'vx1', mac: MAC });
    await waitFor(() => misses.some((m) => m.kind === 'l2miss' && m.mac === MAC), DEADLINE_MS, `an l2miss for ${MAC}`);

    await b.deleteLink('vb');
    await waitFor(() => links.has('del va'), DEADLINE_MS, 'the del event of the peer');
    await a.deleteLink('br0');
    await waitFor(() => links.has('del br0'), DEADLINE_MS, 'the del event of br0');
    const wanted = misses.filter(isWanted);
    // One of each, whatever the kernel repeated (ARP retries).
    const unique = [...new Map(wanted.map((m) => [JSON.stringify(m), m])).values()];
    return { links: [...links].sort(), misses: unique };
  } finally {
    watch.close();
    a.close();
    b.close();
  }
}

if (requireKernel(t)) {
  const netns = createNetnsManager();
  t.test('link events and misses agree', async (t) => {
    const prefix = testPrefix();
    const names = { a: `${prefix}-a`, b: `${prefix}-b` };
    t.teardown(async () => {
      await netns.delete(names.a);
      await netns.delete(names.b);
    });
    const real = await scenario(
      {
        netns,
        open: openRtnl,
        provoke: async (_a, b, ip) => {
          // bash's /dev/udp: one datagram, no tool needed; the ARP request it triggers is what counts.
          await execInNetns(b, 'bash', ['-c', `echo probe > /dev/udp/${ip}/9`]);
        },
      },
      names,
    );
    const kernel = new FakeKernel();
    const fake = await scenario(
      {
        netns: kernel.netns,
        open: (ns) => kernel.openRtnl(ns),
        provoke: async (a, _b, _ip, miss) => {
          (a as FakeRtnl).injectMiss(miss);
        },
      },
      names,
    );
    t.same(fake.links, real.links, 'the same links were reported new and deleted');
    t.same(fake.misses, real.misses, 'misses have the same shape');
    t.same(real.misses, [
      { kind: 'l3miss', link: 'vx1', address: '10.0.9.5' },
      { kind: 'l2miss', link: 'vx1', mac: MAC },
    ]);
  });
}
