/**
 * Reader, diff, applier and syncer on a FakeKernel: converging from empty, a second sync
 * that changes nothing, scaling remotes while nothing that was right is touched,
 * leftovers (of ours) removed and other objects left alone, a VXLAN device left in the
 * host namespace by a crash, incremental syncs ending where full ones do (seeded random
 * sequences), doctor printing exactly the drift, links made again when what cannot change
 * in place differs, failures reported without stopping, and 1,000 remote endpoints.
 */
import t, { type Test } from 'tap';
import { ShoalError } from '../../../src/common/errors.ts';
import { createRng } from '../../../src/common/rng.ts';
import { createFakeKernel, type FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import type { LinkEvent } from '../../../src/kernel/types.ts';
import {
  type AppliedOp,
  applyOverlay,
  diffOverlay,
  formatChanges,
  type OverlayKernel,
  readOverlayActual,
} from '../../../src/overlay/apply.ts';
import { createFakeOverlayKernel, type FakeOverlayKernel } from '../../../src/overlay/fake-overlay-kernel.ts';
import type { OverlayModel } from '../../../src/overlay/model.ts';
import { egressVethName, tempVxlanName } from '../../../src/overlay/names.ts';
import { planOverlay } from '../../../src/overlay/plan.ts';
import { dumpOverlay } from '../../../src/overlay/state-dump.ts';
import { OverlaySyncer } from '../../../src/overlay/syncer.ts';
import { testSeed } from '../../support/seed.ts';
import { BACK, BACK_NS, baseModel, FRONT, FRONT_NS, PREFIX, remote, remotes, sandbox } from './model-fixtures.ts';

const SB_A = `${PREFIX}sb-a1a1a1a1a1a1`;
const SB_C = `${PREFIX}sb-c2c2c2c2c2c2`;

function setup(fk: FakeKernel = createFakeKernel({ seed: 7 })): { fk: FakeKernel; k: FakeOverlayKernel; syncer: OverlaySyncer } {
  const k = createFakeOverlayKernel(fk);
  return { fk, k, syncer: new OverlaySyncer(k, { prefix: PREFIX }) };
}

const opLine = (o: AppliedOp): string => `${o.kind} ${o.netns || 'host'} ${o.text}`;

async function converged(t: Test, k: FakeOverlayKernel, syncer: OverlaySyncer, m: OverlayModel): Promise<void> {
  const r = await syncer.sync(m, true);
  t.same(r.failures, [], 'no failures');
  t.same(await syncer.doctor(m), [], 'doctor finds nothing to change');
  void k;
}

t.test('converges from empty; a second sync, full or not, changes nothing', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  const hostEvents: LinkEvent[] = [];
  const host = await fk.openRtnl('');
  const watch = await host.watch({ link: (e) => hostEvents.push(e) });
  t.teardown(() => {
    watch.close();
    host.close();
  });

  const first = await syncer.sync(m, true);
  t.same(first.failures, [], 'no failures');
  t.same(first.problems, [], 'no problems');
  t.ok(first.applied.length > 15, `${first.applied.length} changes applied`);
  t.ok(
    first.applied.every((o) => o.kind !== 'delete'),
    'nothing deleted from an empty kernel',
  );

  const dump = await dumpOverlay(k, PREFIX);
  for (const line of [
    `== netns ${FRONT_NS}`,
    'link vx4097 vxlan id 4097 dstport 4789 local 192.0.2.12 nolearning proxy l2miss l3miss mtu 1450 master br0 up',
    'link br0 bridge mtu 1450 up',
    'addr 10.0.0.1/24 dev br0',
    'neigh 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent',
    'fdb 02:42:0a:00:00:06 dev vx4097 dst 192.0.2.13 self permanent',
    'link va1a1a1a1a1a1 veth mtu 1450 master br0 up',
    `== netns ${SB_A}`,
    'link eth0 veth mtu 1450 up',
    'addr 10.0.0.3/24 dev eth0',
    'addr 172.18.0.2/16 dev eth1',
    'route default via 172.18.0.1 dev eth1 table 254',
    'link shoal-h2-gw0 bridge mtu 1500 up',
    `link ${egressVethName(PREFIX, 'a1a1a1a1a1a1a1a1')} veth mtu 1500 master shoal-h2-gw0 up`,
    '  rule ip saddr 172.18.0.0/16 oifname != "shoal-h2-gw0" masquerade',
    'net.ipv4.ip_forward = 1',
  ]) {
    t.ok(dump.includes(line), `the kernel has: ${line}`);
  }
  const sbC = dump.slice(dump.indexOf(`== netns ${SB_C}`)).split('== ')[1]!;
  t.notMatch(sbC, /route default/, 'the internal network sandbox has no default route');
  t.notMatch(sbC, /eth1/, 'and no egress interface');
  const sbA = await fk.openRtnl(SB_A);
  t.equal((await sbA.getLink('eth0'))?.mac, '02:42:0a:00:00:03', "eth0 carries the attachment's MAC");
  sbA.close();

  const temp = tempVxlanName(PREFIX, 4097);
  t.ok(
    hostEvents.some((e) => e.type === 'new' && e.link.name === temp && e.link.kind === 'vxlan'),
    'the vxlan was created in the host namespace',
  );
  t.ok(
    hostEvents.some((e) => e.type === 'del' && e.link.name === temp),
    'and left it (moved into the overlay namespace)',
  );

  for (const full of [true, false]) {
    const again = await syncer.sync(m, full);
    t.same(again.applied, [], `a ${full ? 'full' : 'incremental'} sync with nothing changed applies nothing`);
    t.same(again.failures, []);
  }
  const incremental = await syncer.sync(m, false);
  t.equal(incremental.namespacesRead, 0, 'an incremental sync of an unchanged model reads no namespace');

  const restarted = new OverlaySyncer(k, { prefix: PREFIX });
  const r = await restarted.sync(m, false);
  t.ok(r.full, "a new syncer's first sync is full");
  t.same(r.applied, [], 'after a restart the full resync changes nothing that was right');
  t.equal(await dumpOverlay(k, PREFIX), dump, 'and the state is as it was');
});

t.test('scaling remotes 3 -> 10 -> 2 changes only those entries', async (t) => {
  const { k, syncer } = setup();
  const m = baseModel({ remotes: remotes(3) });
  await converged(t, k, syncer, m);

  const up = await syncer.sync({ ...m, remotes: remotes(10) }, false);
  t.same(up.failures, []);
  t.equal(up.namespacesRead, 1, 'one overlay namespace read');
  const added = remotes(10).slice(3);
  t.same(
    up.applied.map(opLine).sort(),
    added
      .flatMap((r) => [
        `add ${FRONT_NS} neigh ${r.ip} lladdr ${r.mac} dev vx4097 permanent`,
        `add ${FRONT_NS} fdb ${r.mac} dev vx4097 dst ${r.vtep} self permanent`,
      ])
      .sort(),
    'exactly one neighbour and one fdb entry added per new endpoint',
  );

  const down = await syncer.sync({ ...m, remotes: remotes(2) }, false);
  t.same(down.failures, []);
  const removed = remotes(10).slice(2);
  t.same(
    down.applied.map(opLine).sort(),
    removed
      .flatMap((r) => [
        `delete ${FRONT_NS} neigh ${r.ip} lladdr ${r.mac} dev vx4097 permanent`,
        `delete ${FRONT_NS} fdb ${r.mac} dev vx4097 dst ${r.vtep} self permanent`,
      ])
      .sort(),
    'exactly the entries of the endpoints that went are deleted',
  );
  t.same(await syncer.doctor({ ...m, remotes: remotes(2) }), [], 'and the kernel is right');

  // A remote moving to another VTEP is a change of its fdb entry, not a delete and add.
  const moved = remotes(2).map((r, i) => (i === 0 ? { ...r, vtep: '192.0.2.77' } : r));
  const move = await syncer.sync({ ...m, remotes: moved }, false);
  t.same(move.applied.map(opLine), [`change ${FRONT_NS} fdb ${moved[0]!.mac} dev vx4097 dst 192.0.2.77 self permanent`]);
});

t.test('leftovers of ours are removed; other objects are left alone', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  await converged(t, k, syncer, m);
  const before = await dumpOverlay(k, PREFIX);

  // Ours, not desired:
  await fk.netns.create(`${PREFIX}ov-deadbeef0000`);
  await fk.netns.create(`${PREFIX}sb-deadbeef0000`);
  const host = await fk.openRtnl('');
  const sb = await fk.openRtnl(SB_A);
  const ov = await fk.openRtnl(FRONT_NS);
  t.teardown(() => {
    host.close();
    sb.close();
    ov.close();
  });
  const strayVeth = egressVethName(PREFIX, 'gone-sandbox');
  await host.addLink({ name: strayVeth, kind: 'veth', master: 'shoal-h2-gw0', veth: { peerName: 'eth3', peerNetns: SB_A } });
  await sb.addAddress({ link: 'eth3', address: '172.18.9.9', prefixLen: 16 });
  await ov.setNeighbor({ link: 'vx4097', address: '10.0.0.99', lladdr: '02:42:0a:00:00:63', state: 'permanent' });
  await ov.setFdb({ link: 'vx4097', mac: '00:00:00:00:00:00', dst: '192.0.2.99', self: true, permanent: true });
  await ov.addAddress({ link: 'br0', address: '10.0.0.254', prefixLen: 24 });
  // Not ours:
  await fk.netns.create('unrelated-ns');
  await fk.netns.create(`${PREFIX}other`);
  await host.addLink({ name: 'keep-br', kind: 'bridge' });
  await host.addLink({ name: `${PREFIX}x`, kind: 'bridge' });
  await k.fakeNft('').apply('add table ip other-table\n');

  const changes = await syncer.doctor(m);
  t.same(
    formatChanges(changes).split('\n'),
    [
      `- netns ${PREFIX}ov-deadbeef0000`,
      `- neigh ${FRONT_NS} 10.0.0.99 lladdr 02:42:0a:00:00:63 dev vx4097 permanent`,
      `- fdb ${FRONT_NS} 00:00:00:00:00:00 dev vx4097 dst 192.0.2.99 self permanent`,
      `- addr ${FRONT_NS} 10.0.0.254/24 dev br0`,
      `- link host ${strayVeth} veth mtu 1500 master shoal-h2-gw0 down`,
      `- link ${SB_A} eth3 veth mtu 1500 down`,
      `- netns ${PREFIX}sb-deadbeef0000`,
    ],
    'doctor lists the leftovers, and only them',
  );
  const r = await syncer.sync(m, true);
  t.same(r.failures, []);
  t.ok(await fk.netns.exists('unrelated-ns'), 'a namespace of someone else stays');
  t.ok(await fk.netns.exists(`${PREFIX}other`), 'a prefixed namespace of another role stays');
  t.ok(await host.getLink('keep-br'), 'a link of someone else stays');
  t.ok(await host.getLink(`${PREFIX}x`), 'a prefixed host link of another role stays');
  t.ok(await k.fakeNft('').listTable('ip', 'other-table'), 'a table of someone else stays');
  await host.deleteLink('keep-br');
  await host.deleteLink(`${PREFIX}x`);
  t.equal(await dumpOverlay(k, PREFIX), before, 'apart from those, the state is what it was before the leftovers');
});

t.test('a VXLAN device left in the host namespace by a crash is removed and the network built', async (t) => {
  const { fk, syncer } = setup();
  const host = await fk.openRtnl('');
  t.teardown(() => host.close());
  const temp = tempVxlanName(PREFIX, 4097);
  // Created, then the agent died before the move: it holds the name and VNI 4097 here.
  await host.addLink({
    name: temp,
    kind: 'vxlan',
    mtu: 1450,
    vxlan: { vni: 4097, dstport: 4789, local: '192.0.2.12', learning: false, proxy: true, l2miss: true, l3miss: true },
  });
  const m = baseModel();
  const changes = await syncer.doctor(m);
  t.equal(changes[0]?.text, `link ${temp} vxlan id 4097 dstport 4789 local 192.0.2.12 nolearning proxy l2miss l3miss mtu 1450 down`);
  t.equal(changes[0]?.kind, 'delete', 'the first change clears it away');
  const r = await syncer.sync(m, true);
  t.same(r.failures, [], 'the network is built despite the leftover');
  t.notOk(await host.getLink(temp), 'the leftover is gone');
  t.same(await syncer.doctor(m), []);
});

t.test('incremental syncs end where full syncs do (seeded random changes)', async (t) => {
  const seed = testSeed();
  const rng = createRng(seed);
  const a = setup(createFakeKernel({ seed: 1 }));
  const b = setup(createFakeKernel({ seed: 1 }));
  let m = baseModel();
  const steps: string[] = [];
  const mutate = (): void => {
    const choice = rng.int(8);
    const s = [...m.sandboxes];
    const rs = [...m.remotes];
    switch (choice) {
      case 0: {
        const host = 10 + rng.int(200);
        if (!rs.some((r) => r.ip === `10.0.0.${host}`)) rs.push(remote(host, rng.int(2) === 0 ? 11 : 13));
        steps.push(`add remote ${host}`);
        break;
      }
      case 1:
        if (rs.length > 0) steps.push(`remove remote ${rs.splice(rng.int(rs.length), 1)[0]!.ip}`);
        break;
      case 2: {
        const id = `s${rng.int(1000)}x`;
        const host = 210 + rng.int(40);
        if (!s.some((x) => x.id === id) && !s.some((x) => x.attachments.some((at) => at.address === `10.0.0.${host}/24`))) {
          s.push(sandbox(id, [[FRONT, `10.0.0.${host}/24`]], rng.int(2) === 0 ? `172.18.1.${host}/16` : undefined));
          steps.push(`add sandbox ${id}`);
        }
        break;
      }
      case 3:
        if (s.length > 0) steps.push(`remove sandbox ${s.splice(rng.int(s.length), 1)[0]!.id}`);
        break;
      case 4:
        if (rs.length > 0) {
          const i = rng.int(rs.length);
          rs[i] = { ...rs[i]!, vtep: rs[i]!.vtep === '192.0.2.11' ? '192.0.2.13' : '192.0.2.11' };
          steps.push(`move remote ${rs[i]!.ip}`);
        }
        break;
      case 5: {
        const had = m.networks.some((n) => n.id === BACK);
        m = {
          ...m,
          networks: had ? m.networks.filter((n) => n.id !== BACK) : [...m.networks, baseModel().networks[1]!],
        };
        steps.push(had ? 'remove network back' : 'add network back');
        break;
      }
      case 6: {
        const i = rng.int(Math.max(1, s.length));
        const x = s[i];
        if (x && x.attachments.length > 0 && x.attachments[0]!.networkId === FRONT) {
          if (x.egress === undefined) s[i] = { ...x, egress: `172.18.2.${i + 1}/16` };
          else s[i] = { id: x.id, attachments: x.attachments };
          steps.push(`toggle egress of ${x.id}`);
        }
        break;
      }
      default:
        steps.push('nothing');
    }
    m = { ...m, sandboxes: s, remotes: rs };
  };
  for (let i = 0; i < 60; i++) {
    mutate();
    const ra = await a.syncer.sync(m, false);
    const rb = await b.syncer.sync(m, true);
    if (ra.failures.length > 0 || rb.failures.length > 0) {
      t.fail(`step ${i} (${steps.at(-1)}): failures ${JSON.stringify([...ra.failures, ...rb.failures])}`);
      break;
    }
    const [da, db] = [await dumpOverlay(a.k, PREFIX), await dumpOverlay(b.k, PREFIX)];
    if (da !== db) {
      t.equal(da, db, `step ${i} (${steps.at(-1)}): incremental and full states differ (seed ${seed}; steps ${steps.join(', ')})`);
      break;
    }
    const drift = await a.syncer.doctor(m);
    if (drift.length > 0) {
      t.same(formatChanges(drift), '', `step ${i} (${steps.at(-1)}): drift after an incremental sync`);
      break;
    }
  }
  t.pass(`60 steps: ${steps.filter((s) => s !== 'nothing').length} changes`);
});

t.test('doctor lists exactly the drift after manual changes', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  await converged(t, k, syncer, m);
  const ov = await fk.openRtnl(FRONT_NS);
  const sb = await fk.openRtnl(SB_A);
  t.teardown(() => {
    ov.close();
    sb.close();
  });
  await ov.deleteNeighbor({ link: 'vx4097', address: '10.0.0.5' });
  await ov.deleteFdb({ link: 'vx4097', mac: '02:42:0a:00:00:06', dst: '192.0.2.13' });
  await ov.setLink('br0', { mtu: 1400 });
  await sb.deleteRoute({ dst: 'default', family: 4, gateway: '172.18.0.1', table: 254 });
  const drift = await syncer.doctor(m);
  t.same(formatChanges(drift).split('\n'), [
    `~ link ${FRONT_NS} br0 bridge mtu 1450 up (was: link br0 bridge mtu 1400 up)`,
    `+ route ${SB_A} default via 172.18.0.1 dev eth1 table 254`,
    `+ neigh ${FRONT_NS} 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent`,
    `+ fdb ${FRONT_NS} 02:42:0a:00:00:06 dev vx4097 dst 192.0.2.13 self permanent`,
  ]);
  const r = await syncer.sync(m, true);
  t.same(r.applied.map(opLine).sort(), drift.map((c) => `${c.kind} ${c.netns || 'host'} ${c.text}`).sort(), 'a sync applies exactly that');
  t.same(await syncer.doctor(m), []);
});

t.test('a link whose identity drifted is made again, with what was on it', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  await converged(t, k, syncer, m);
  const before = await dumpOverlay(k, PREFIX);
  const sb = await fk.openRtnl(SB_A);
  t.teardown(() => sb.close());
  // The MAC names the attachment: a different one is not patched, the pair is rebuilt.
  await sb.setLink('eth0', { mac: '02:42:0a:00:00:99' });
  const drift = await syncer.doctor(m);
  t.equal(drift.length, 2, 'the pair and the address that goes with it');
  t.match(drift[0], { kind: 'change', type: 'link', netns: FRONT_NS, recreate: true });
  t.match(drift[1], { kind: 'add', type: 'addr', netns: SB_A, text: 'addr 10.0.0.3/24 dev eth0' });
  const r = await syncer.sync(m, true);
  t.same(r.failures, []);
  t.equal(await dumpOverlay(k, PREFIX), before, 'back to the right state');

  // Attachments reordered: eth0 and eth1 trade networks.
  const two = baseModel({
    sandboxes: [
      sandbox(
        'a1a1a1a1a1a1a1a1',
        [
          [FRONT, '10.0.0.3/24'],
          [BACK, '10.0.1.3/24'],
        ],
        '172.18.0.2/16',
      ),
    ],
  });
  const swapped = baseModel({
    sandboxes: [
      sandbox(
        'a1a1a1a1a1a1a1a1',
        [
          [BACK, '10.0.1.3/24'],
          [FRONT, '10.0.0.3/24'],
        ],
        '172.18.0.2/16',
      ),
    ],
  });
  t.same((await syncer.sync(two, false)).failures, []);
  const sw = await syncer.sync(swapped, false);
  t.same(sw.failures, [], 'the swap applies');
  t.same(await syncer.doctor(swapped), [], 'and leaves nothing to change');
  const fresh = setup(createFakeKernel({ seed: 3 }));
  t.same((await fresh.syncer.sync(swapped, true)).failures, []);
  t.equal(await dumpOverlay(k, PREFIX), await dumpOverlay(fresh.k, PREFIX), 'the same state as building it from scratch');
});

t.test('failures are reported and the others still applied; the next sync repairs', async (t) => {
  const { k, syncer } = setup();
  const m = baseModel();
  k.fakeNft('').failNextApply();
  const r = await syncer.sync(m, false);
  t.equal(r.failures.length, 1, 'one failure');
  t.match(r.failures[0], { kind: 'add', type: 'nft', netns: '', code: 'SHOAL_ERR_NFT', errno: 'EBUSY' });
  t.ok(
    r.applied.some((o) => o.type === 'neigh'),
    'the rest was applied',
  );
  t.equal((await syncer.doctor(m)).length, 1, 'only the table is missing');
  const again = await syncer.sync(m, false);
  t.ok(again.full, 'the sync after a failure is full');
  t.same(
    again.applied.map((o) => o.type),
    ['nft'],
    'and applies what failed',
  );
  t.same(await syncer.doctor(m), []);
});

t.test('a namespace that cannot be read is a failure, and the rest of the sync goes on', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  await converged(t, k, syncer, m);
  const ov = await fk.openRtnl(FRONT_NS);
  t.teardown(() => ov.close());
  await ov.deleteNeighbor({ link: 'vx4097', address: '10.0.0.5' });
  const broken: OverlayKernel = {
    ...k,
    rtnl: (ns) =>
      ns === SB_C
        ? Promise.reject(new ShoalError('SHOAL_ERR_NETLINK', `injected: cannot open ${ns}: EPERM`, { errno: 'EPERM' }))
        : k.rtnl(ns),
  };
  const s2 = new OverlaySyncer(broken, { prefix: PREFIX });
  const r = await s2.sync(m, true);
  t.same(
    r.failures.map((f) => [f.type, f.netns, f.text, f.code, f.errno]),
    [['netns', SB_C, `read ${SB_C}`, 'SHOAL_ERR_NETLINK', 'EPERM']],
    'the unreadable namespace is reported',
  );
  t.same(r.applied.map(opLine), [`add ${FRONT_NS} neigh 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent`], 'the rest is repaired');
  t.ok((await s2.sync(m, false)).full, 'the next sync is full');

  // A desired namespace deleted behind our back is created again with its contents.
  await fk.netns.delete(SB_C);
  const again = await syncer.sync(m, false);
  t.same(again.failures, []);
  t.same(await syncer.doctor(m), [], 'rebuilt');
});

t.test('one host namespace per fake host: the host handle is the named namespace', async (t) => {
  const fk = createFakeKernel({ seed: 9 });
  await fk.netns.create('tb-h1');
  await fk.netns.create('tb-h2');
  const k1 = createFakeOverlayKernel(fk, { hostNetns: 'tb-h1' });
  const k2 = createFakeOverlayKernel(fk, { hostNetns: 'tb-h2' });
  const m1 = baseModel({ prefix: 'h1-', vtep: '192.0.2.11', remotes: [remote(4, 12)] });
  const m2 = baseModel({
    prefix: 'h2-',
    vtep: '192.0.2.12',
    remotes: [remote(3, 11)],
    sandboxes: [sandbox('b9', [[FRONT, '10.0.0.4/24']], '172.18.0.2/16')],
  });
  t.same((await new OverlaySyncer(k1, { prefix: 'h1-' }).sync(m1, true)).failures, [], 'host 1 converges');
  t.same((await new OverlaySyncer(k2, { prefix: 'h2-' }).sync(m2, true)).failures, [], 'host 2 converges with the same VNI');
  const h1 = await fk.openRtnl('tb-h1');
  const root = await fk.openRtnl('');
  t.teardown(() => {
    h1.close();
    root.close();
  });
  t.ok(await h1.getLink('h1-gw0'), "host 1's gateway bridge is in its namespace");
  t.notOk(await root.getLink('h1-gw0'), 'not in the initial one');
  t.ok(await k1.fakeNft('').listTable('ip', 'h1-egress'), "host 1's egress table");
  t.notOk(await k2.fakeNft('').listTable('ip', 'h1-egress'), "not in host 2's namespace");
});

t.test('1,000 remote endpoints: one sync, then one entry at a time', async (t) => {
  const { syncer } = setup();
  const many = Array.from({ length: 1000 }, (_, i) => remote(0, 13 + (i % 5))).map((r, i) => {
    const ip = `10.0.${4 + Math.floor(i / 250)}.${(i % 250) + 2}`;
    return {
      ...r,
      ip,
      mac: `02:42:0a:00:${(4 + Math.floor(i / 250)).toString(16).padStart(2, '0')}:${((i % 250) + 2).toString(16).padStart(2, '0')}`,
    };
  });
  const m = baseModel({
    networks: [{ id: FRONT, vni: 4097, subnet: '10.0.0.0/16', gateway: '10.0.0.1', internal: false }],
    sandboxes: [sandbox('a1a1a1a1a1a1a1a1', [[FRONT, '10.0.0.3/16']], '172.18.0.2/16')],
    remotes: many,
  });
  const started = performance.now();
  const r = await syncer.sync(m, true);
  const ms = performance.now() - started;
  t.same(r.failures, []);
  t.equal(r.applied.filter((o) => o.type === 'neigh').length, 1000, '1,000 neighbours');
  t.equal(r.applied.filter((o) => o.type === 'fdb').length, 1000, '1,000 fdb entries');
  t.comment(`first sync with 1,000 remotes: ${ms.toFixed(0)} ms on the fake`);
  const one = { ...m, remotes: [...many, { networkId: FRONT, ip: '10.0.9.9', mac: '02:42:0a:00:09:09', vtep: '192.0.2.11' }] };
  const inc = await syncer.sync(one, false);
  t.equal(inc.namespacesRead, 1, 'one namespace read');
  t.equal(inc.applied.length, 2, 'one neighbour and one fdb entry added');
  t.same(await syncer.doctor(one), []);
});

t.test('the empty model removes everything of ours', async (t) => {
  const { fk, k, syncer } = setup();
  const m = baseModel();
  await converged(t, k, syncer, m);
  await fk.netns.create('unrelated-ns');
  const empty = { ...m, networks: [], sandboxes: [], remotes: [] };
  const r = await syncer.sync(empty, false);
  t.same(r.failures, []);
  t.same(await fk.netns.list(), ['unrelated-ns'], 'only the unrelated namespace remains');
  const host = await fk.openRtnl('');
  t.same(
    (await host.listLinks()).map((l) => l.name),
    ['lo'],
    'no host link of ours remains',
  );
  host.close();
  t.notOk(await k.fakeNft('').listTable('ip', `${PREFIX}egress`), 'the egress table is gone');
  t.same(await syncer.doctor(empty), []);
});

t.test('readOverlayActual, diffOverlay and applyOverlay compose without the syncer', async (t) => {
  const { k } = setup();
  const m = baseModel();
  const desired = planOverlay(m);
  const changes = diffOverlay(desired, await readOverlayActual(k, PREFIX));
  const report = await applyOverlay(k, changes);
  t.same(report.failures, []);
  t.equal(report.applied.length, changes.length, 'every change applied');
  t.same(diffOverlay(desired, await readOverlayActual(k, PREFIX)), [], 'nothing left');
  const only = await readOverlayActual(k, PREFIX, new Set([FRONT_NS]));
  t.same([...only.read.keys()], [FRONT_NS], 'only the namespace asked for is read');
  t.equal(only.namespaces.size, 4, 'but every namespace of ours is listed');
  t.ok(BACK_NS, 'fixture');
  k.release();
});
