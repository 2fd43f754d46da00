/**
 * Seeded random sequences of Rtnl operations over two namespaces of a FakeKernel. After
 * every operation the kernel's invariants must hold as seen through Rtnl: every address,
 * route, neighbour and fdb entry names a link of its namespace, routes only go through
 * up links, masters are bridges of the same namespace, veth peers point at each other.
 * The same seed gives the same dumps (the fake is deterministic). The seed is printed.
 */
import t, { type Test } from 'tap';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { isShoalError } from '../../../src/common/errors.ts';
import { dumpRtnl } from '../../../src/kernel/dump.ts';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import type { FakeRtnl } from '../../../src/kernel/fake-rtnl.ts';

const NAMES = ['br0', 'br1', 'vx1', 'vx2', 've0', 've1', 've2', 've3'];
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '10.0.0.254', '10.9.9.9'];
const V6 = ['fd00::1', 'fd00::2', 'fd00:1::1'];
const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '00:00:00:00:00:00'];
const VTEPS = ['192.0.2.1', '192.0.2.2'];

type Op = (r: FakeRtnl, other: string) => Promise<unknown>;

function ops(rng: Rng): Op[] {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  return [
    (r) => r.addLink({ name: pick(['br0', 'br1']), kind: 'bridge', up: rng.int(2) === 0 }),
    (r) =>
      r.addLink({
        name: pick(['vx1', 'vx2']),
        kind: 'vxlan',
        vxlan: { vni: 1 + rng.int(3), dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
      }),
    (r, other) =>
      r.addLink({
        name: pick(['ve0', 've1']),
        kind: 'veth',
        veth: { peerName: pick(['ve2', 've3']), ...(rng.int(2) === 0 ? { peerNetns: other } : {}) },
      }),
    (r) => r.setLink(pick(NAMES), { up: rng.int(3) !== 0 }),
    (r) => r.setLink(pick(NAMES), { mtu: pick([1200, 1400, 1500, 9000]) }),
    (r) => r.setLink(pick(NAMES), { master: rng.int(3) === 0 ? null : pick(['br0', 'br1']) }),
    (r) => r.setLink(pick(NAMES), { mac: pick(MACS.slice(0, 2)) }),
    (r) => r.setLink(pick(NAMES), { name: pick(NAMES) }),
    (r, other) => r.setLink(pick(NAMES), { netns: other }),
    (r) => r.deleteLink(pick(NAMES)),
    (r) => r.addAddress({ link: pick(NAMES), address: pick(V4), prefixLen: pick([24, 16, 32]) }),
    (r) => r.addAddress({ link: pick(NAMES), address: pick(V6), prefixLen: pick([64, 128]) }),
    (r) => r.deleteAddress({ link: pick(NAMES), address: pick(V4), prefixLen: pick([24, 16, 32]) }),
    (r) => r.deleteAddress({ link: pick(NAMES), address: pick(V6), prefixLen: pick([64, 128]) }),
    (r) =>
      r.addRoute({
        family: 4,
        dst: pick(['10.5.0.0/16', 'default', '10.6.0.1/32']),
        gateway: pick(V4),
        ...(rng.int(2) === 0 ? { table: 100 } : {}),
      }),
    (r) =>
      r.addRoute({
        family: 4,
        dst: pick(['10.7.0.0/16', '10.8.0.0/24']),
        dev: pick(NAMES),
        ...(rng.int(2) === 0 ? { src: pick(V4) } : {}),
      }),
    (r) => r.addRoute({ family: 6, dst: pick(['fd00:5::/64', 'default']), gateway: pick(V6) }),
    (r) => r.deleteRoute({ family: 4, dst: pick(['10.5.0.0/16', 'default', '10.7.0.0/16']), dev: pick(NAMES) }),
    (r) => r.setNeighbor({ link: pick(NAMES), address: pick([...V4, ...V6]), lladdr: pick(MACS.slice(0, 2)) }),
    (r) => r.deleteNeighbor({ link: pick(NAMES), address: pick([...V4, ...V6]) }),
    (r) => r.setFdb({ link: pick(NAMES), mac: pick(MACS), dst: pick(VTEPS), self: true }),
    (r) => r.setFdb({ link: pick(NAMES), mac: pick(MACS.slice(0, 2)), master: true }),
    (r) => r.deleteFdb({ link: pick(NAMES), mac: pick(MACS), ...(rng.int(2) === 0 ? { dst: pick(VTEPS) } : {}), self: true }),
  ];
}

async function checkInvariants(t: Test, rs: Record<string, FakeRtnl>, where: string): Promise<void> {
  const byNs = new Map<string, Awaited<ReturnType<FakeRtnl['listLinks']>>>();
  for (const [ns, r] of Object.entries(rs)) byNs.set(ns, await r.listLinks());
  const problems: string[] = [];
  for (const [ns, r] of Object.entries(rs)) {
    const links = byNs.get(ns)!;
    const names = new Set(links.map((l) => l.name));
    if (names.size !== links.length) problems.push(`${ns}: duplicate link names`);
    const up = new Set(links.filter((l) => l.up).map((l) => l.name));
    for (const l of links) {
      if (l.master !== undefined && links.find((m) => m.name === l.master)?.kind !== 'bridge')
        problems.push(`${ns}: ${l.name} has master ${l.master}, not a bridge here`);
      if (l.kind === 'veth') {
        const peers = [...byNs.values()].flat().filter((p) => p.kind === 'veth' && p.index === l.peerIndex && p.peerIndex === l.index);
        if (peers.length === 0) problems.push(`${ns}: veth ${l.name} has no peer pointing back`);
      }
    }
    for (const a of await r.listAddresses()) if (!names.has(a.link)) problems.push(`${ns}: address on missing ${a.link}`);
    for (const table of [254, 100]) {
      for (const route of await r.listRoutes({ table })) {
        if (!route.dev || !up.has(route.dev)) problems.push(`${ns}: route ${route.dst} through ${route.dev}, which is not an up link`);
      }
    }
    for (const n of await r.listNeighbors()) if (!names.has(n.link)) problems.push(`${ns}: neighbour on missing ${n.link}`);
    for (const f of await r.listFdb()) if (!names.has(f.link)) problems.push(`${ns}: fdb on missing ${f.link}`);
  }
  if (problems.length > 0) t.fail(`${where}: ${problems.join('; ')}`);
}

async function run(t: Test, seed: number, steps: number): Promise<string> {
  const rng = createRng(seed);
  const kernel = new FakeKernel({ seed });
  await kernel.netns.create('r-a');
  await kernel.netns.create('r-b');
  const rs = { 'r-a': await kernel.openRtnl('r-a'), 'r-b': await kernel.openRtnl('r-b') };
  const table = ops(rng);
  let errors = 0;
  for (let i = 0; i < steps; i++) {
    const [ns, other] = rng.int(2) === 0 ? (['r-a', 'r-b'] as const) : (['r-b', 'r-a'] as const);
    try {
      await table[rng.int(table.length)]!(rs[ns], other);
    } catch (err) {
      if (!isShoalError(err)) throw err;
      errors++;
    }
    await checkInvariants(t, rs, `seed ${seed} step ${i}`);
  }
  t.ok(errors < steps, `seed ${seed}: ${steps - errors} of ${steps} operations succeeded`);
  return `${await dumpRtnl(rs['r-a'], { tables: [254, 100], mac: true })}\n--\n${await dumpRtnl(rs['r-b'], { tables: [254, 100], mac: true })}`;
}

const seed = Number(process.env['SHOAL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
t.comment(`seed ${seed} (rerun with SHOAL_SEED=${seed})`);

t.test('random operations keep the invariants, deterministically', async (t) => {
  for (let i = 0; i < 5; i++) {
    const s = (seed + i) >>> 0;
    const first = await run(t, s, 300);
    const second = await run(t, s, 300);
    t.equal(first, second, `seed ${s}: same seed, same state`);
  }
});
