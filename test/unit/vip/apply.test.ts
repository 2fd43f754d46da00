/**
 * VipSyncer on FakeNft and FakeConntrack: converging from nothing; a second sync, full or
 * incremental, applying nothing; one backend change as one element transaction without a
 * table statement; incremental syncs ending in the ruleset full syncs write (seeded random
 * changes, compared as canonical text); conntrack entries of removed and unhealthy backends
 * deleted while those of kept and draining ones stay; UDP ports that get a backend losing
 * their un-NATed flows; drift repaired by an element transaction or a rewrite; nft and
 * conntrack failures; doctor; a table name change; remove(); frozen inputs.
 */
import t from 'tap';
import { ShoalError } from '../../../src/common/errors.ts';
import { createRng } from '../../../src/common/rng.ts';
import { FakeConntrack } from '../../../src/kernel/fake-conntrack.ts';
import { FakeNft } from '../../../src/kernel/fake-nft.ts';
import { canonicalNftTable } from '../../../src/kernel/nft.ts';
import type { Conntrack } from '../../../src/kernel/types.ts';
import { VipSyncer } from '../../../src/vip/apply.ts';
import type { VipModel, VipService } from '../../../src/vip/model.ts';
import { planVip } from '../../../src/vip/plan.ts';
import { canonicalOfState } from '../../../src/vip/table-state.ts';
import { testSeed } from '../../support/seed.ts';
import { down, draining, every, model, numbered, randomChange, service, TABLE, tcp, udp, up } from './fixtures.ts';

function setup(): { nft: FakeNft; ct: FakeConntrack; syncer: VipSyncer } {
  const nft = new FakeNft({ netns: 'sandbox' });
  const ct = new FakeConntrack();
  return { nft, ct, syncer: new VipSyncer(nft, ct) };
}

const web = (backends: VipService['backends']): VipService => service('web', '10.0.0.2', [tcp(80, 8080), udp(53, 5353)], backends);

/** A connection from the client 10.0.0.9 to VIP:port NATed to backend:target. */
function flow(ct: FakeConntrack, protocol: 'tcp' | 'udp', vip: string, port: number, backend: string, target: number, sport: number): void {
  ct.add({
    protocol,
    orig: { src: '10.0.0.9', dst: vip, sport, dport: port },
    reply: { src: backend, dst: '10.0.0.9', sport: target, dport: sport },
  });
}

t.test('converges; a second sync, full or incremental, applies nothing', async (t) => {
  const { nft, syncer } = setup();
  const m = model(web([up('10.1.0.2'), up('10.1.0.3')]), service('db', '10.0.0.3', [tcp(5432)], [up('10.1.0.7')]));
  const first = await syncer.sync(m, false);
  t.equal(first.full, true, 'the first sync is full');
  t.equal(first.transaction, 'rewrite');
  t.equal(first.rewriteReason, 'the table does not exist');
  t.equal(nft.dump(), canonicalOfState(planVip(m).state), 'the kernel holds the plan');
  t.equal(first.services, 2);
  const calls = nft.applyCalls;
  const again = await syncer.sync(m, false);
  t.equal(again.full, false);
  t.equal(again.transaction, 'none');
  const full = await syncer.sync(m, true);
  t.equal(full.transaction, 'none', 'a full sync reads back and finds nothing to change');
  t.equal(nft.applyCalls, calls, 'no transaction after the first');
  t.same(await syncer.doctor(m), [], 'doctor agrees');
});

t.test('one backend change is one element transaction, with no table statement', async (t) => {
  const { nft, syncer } = setup();
  const others = Array.from({ length: 200 }, (_, i) => numbered(i + 1, 3));
  await syncer.sync(model(web([up('10.1.200.2'), up('10.1.200.3'), up('10.1.200.4')]), ...others), true);
  const calls = nft.applyCalls;
  const r = await syncer.sync(model(web([up('10.1.200.2'), up('10.1.200.3'), up('10.1.200.5')]), ...others), false);
  t.equal(nft.applyCalls, calls + 1, 'one transaction');
  const tx = nft.applied.at(-1)!;
  t.notMatch(tx, /\btable\b/, 'no table statement');
  t.notMatch(tx, /\bchain\b/, 'no chain changes (the count stays 3)');
  t.equal(
    tx,
    [
      `delete element ip ${TABLE} backends-tcp { 10.0.0.2 . 80 . 2 }`,
      `delete element ip ${TABLE} backends-udp { 10.0.0.2 . 53 . 2 }`,
      `add element ip ${TABLE} backends-tcp { 10.0.0.2 . 80 . 2 : 10.1.200.5 . 8080 }`,
      `add element ip ${TABLE} backends-udp { 10.0.0.2 . 53 . 2 : 10.1.200.5 . 5353 }`,
      '',
    ].join('\n'),
  );
  t.equal(r.transaction, 'elements');
  t.equal(r.elementsAdded, 2);
  t.equal(r.elementsDeleted, 2);
  t.same(r.conntrack.flushed, ['tcp 10.1.200.4 8080', 'udp 10.1.200.4 5353']);
  const drop = await syncer.sync(model(web([up('10.1.200.2'), up('10.1.200.3')]), ...others), false);
  t.equal(drop.transaction, 'elements');
  t.match(nft.applied.at(-1)!, /^add chain ip \S+ pick-tcp-2\n/, 'a new count brings its pick chain in the same transaction');
  t.match(nft.applied.at(-1)!, /delete chain ip \S+ pick-udp-3\n$/, 'and the unused one goes last');
  t.notMatch(nft.applied.at(-1)!, /delete chain ip \S+ pick-tcp-3/, 'the other services keep pick-tcp-3');
});

t.test('incremental syncs end in the ruleset full syncs write (seeded random changes)', async (t) => {
  const seed = testSeed();
  const rng = createRng(seed);
  const inc = setup();
  const full = setup();
  let services: VipService[] = [];
  const next = { id: 0 };
  const steps: string[] = [];
  let rewrites = 0;
  for (let i = 0; i < 150; i++) {
    const change = randomChange(rng, services, next);
    services = change.services;
    steps.push(change.what);
    const m = model(...services);
    const a = await inc.syncer.sync(m, false);
    const b = await full.syncer.sync(model(...services.map((s) => structuredClone(s))), true);
    if (i > 0 && a.transaction === 'rewrite') rewrites++;
    const where = `step ${i} (${change.what}; seed ${seed})`;
    if (inc.nft.dump() !== full.nft.dump()) {
      t.fail(`${where}: incremental and full rulesets differ; steps: ${steps.join(', ')}`);
      return;
    }
    if (inc.nft.dump() !== canonicalOfState(planVip(m).state)) {
      t.fail(`${where}: the ruleset is not the plan`);
      return;
    }
    t.same(a.problems, b.problems, `${where}: same problems`);
  }
  t.equal(rewrites, 0, 'the incremental path never rewrote the table');
  t.pass(`150 steps, rulesets equal (seed ${seed})`);
});

t.test('conntrack: removed and unhealthy backends lose their entries, kept and draining ones keep theirs', async (t) => {
  const { ct, syncer } = setup();
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3'), up('10.1.0.4'), up('10.1.0.5')])), true);
  let sport = 40000;
  for (const b of ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5']) {
    flow(ct, 'tcp', '10.0.0.2', 80, b, 8080, sport++);
    flow(ct, 'udp', '10.0.0.2', 53, b, 5353, sport++);
  }
  // Unrelated: the same backend address on another port, through no VIP.
  ct.add({ protocol: 'tcp', orig: { src: '10.0.0.9', dst: '10.1.0.3', sport: 50000, dport: 22 } });
  const r = await syncer.sync(model(web([up('10.1.0.2'), down('10.1.0.3'), draining('10.1.0.5')])), false);
  t.same(r.conntrack.flushed, ['tcp 10.1.0.3 8080', 'tcp 10.1.0.4 8080', 'udp 10.1.0.3 5353', 'udp 10.1.0.4 5353']);
  t.equal(r.conntrack.deleted, 4);
  const left = ct.list().map((e) => `${e.protocol} ${e.reply.src}:${e.reply.sport}`);
  t.same(left.sort(), ['tcp 10.1.0.2:8080', 'tcp 10.1.0.3:22', 'tcp 10.1.0.5:8080', 'udp 10.1.0.2:5353', 'udp 10.1.0.5:5353']);
  // The draining backend leaves the model: now its connections go.
  const gone = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.equal(gone.transaction, 'none', 'a draining backend was in no map already');
  t.same(gone.conntrack.flushed, ['tcp 10.1.0.5 8080', 'udp 10.1.0.5 5353']);
  t.same(
    ct
      .list()
      .map((e) => e.reply.src)
      .sort(),
    ['10.1.0.2', '10.1.0.2', '10.1.0.3'],
  );
});

t.test('conntrack: a lost backend (its node failed) loses its unanswered entries once, its answered ones stay', async (t) => {
  const { ct, syncer } = setup();
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), true);
  flow(ct, 'tcp', '10.0.0.2', 80, '10.1.0.3', 8080, 40000); // answered
  // SYNs and a datagram sent to it before its node was known to have failed
  for (const [protocol, port, target, sport] of [
    ['tcp', 80, 8080, 40001],
    ['tcp', 80, 8080, 40002],
    ['udp', 53, 5353, 40003],
  ] as const) {
    ct.add({
      protocol,
      orig: { src: '10.0.0.9', dst: '10.0.0.2', sport, dport: port },
      reply: { src: '10.1.0.3', dst: '10.0.0.9', sport: target, dport: sport },
      replied: false,
    });
  }
  // and one unanswered SYN to the live backend, which stays
  ct.add({
    protocol: 'tcp',
    orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 40004, dport: 80 },
    reply: { src: '10.1.0.2', dst: '10.0.0.9', sport: 8080, dport: 40004 },
    replied: false,
  });
  const lost = { ip: '10.1.0.3', healthy: true, draining: true, lost: true };
  const r = await syncer.sync(model(web([up('10.1.0.2'), lost])), false);
  t.same(r.conntrack.lost, ['10.1.0.3']);
  t.same(r.conntrack.flushed, [], 'a draining backend keeps its ports');
  t.equal(r.conntrack.deleted, 3, "the lost backend's three unanswered entries");
  t.same(
    ct
      .list()
      .map((e) => `${e.protocol} ${e.orig.sport} -> ${e.reply.src}`)
      .sort(),
    ['tcp 40000 -> 10.1.0.3', 'tcp 40004 -> 10.1.0.2'],
  );
  // Still lost at the next syncs: nothing more is asked of conntrack.
  const asked = ct.deletes.length;
  const again = await syncer.sync(model(web([up('10.1.0.2'), { ...lost }, up('10.1.0.4')])), false);
  t.same(again.conntrack.lost, [], 'once per backend while it stays lost');
  t.equal(ct.deletes.length, asked);
  // Back (its node alive again), then lost a second time: deleted again.
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), false);
  const twice = await syncer.sync(model(web([up('10.1.0.2'), { ...lost }])), false);
  t.same(twice.conntrack.lost, ['10.1.0.3'], 'a second failure cleans again');
});

t.test('conntrack: a service leaving a shared VIP cuts its own backend ports, not those of the others on the same backend', async (t) => {
  const { nft, ct, syncer } = setup();
  const a = service('a', '10.0.0.2', [tcp(8080, 80)], [up('10.1.0.5'), up('10.1.0.6')]);
  const b = service('b', '10.0.0.2', [tcp(8081, 81), udp(5353, 53)], [up('10.1.0.5')]);
  await syncer.sync(model(a, b), true);
  flow(ct, 'tcp', '10.0.0.2', 8080, '10.1.0.5', 80, 40001);
  flow(ct, 'tcp', '10.0.0.2', 8080, '10.1.0.6', 80, 40002);
  flow(ct, 'tcp', '10.0.0.2', 8081, '10.1.0.5', 81, 40003);
  flow(ct, 'udp', '10.0.0.2', 5353, '10.1.0.5', 53, 40004);
  const r = await syncer.sync(model(b), false);
  t.equal(r.transaction, 'elements');
  t.notMatch(nft.applied.at(-1)!, /vips/, 'the VIP stays in vips: b has it');
  t.same(r.conntrack.flushed, ['tcp 10.1.0.5 80', 'tcp 10.1.0.6 80']);
  t.same(
    ct
      .list()
      .map((e) => `${e.protocol} ${e.orig.dport} ${e.reply.src}:${e.reply.sport}`)
      .sort(),
    ['tcp 8081 10.1.0.5:81', 'udp 5353 10.1.0.5:53'],
    "b's connections to the backend a shared stay",
  );
  t.equal(r.services, 1);
  t.equal(nft.dump(), canonicalOfState(planVip(model(b)).state));
});

t.test('conntrack on a full sync: what the kernel pointed at, and what the last sync kept', async (t) => {
  const { nft, ct, syncer } = setup();
  await syncer.sync(model(web([up('10.1.0.2'), draining('10.1.0.3')])), true);
  flow(ct, 'tcp', '10.0.0.2', 80, '10.1.0.3', 8080, 40001);
  flow(ct, 'tcp', '10.0.0.2', 80, '10.1.0.2', 8080, 40002);
  const r = await syncer.sync(model(web([])), true);
  t.same(r.conntrack.flushed, ['tcp 10.1.0.2 8080', 'tcp 10.1.0.3 8080', 'udp 10.1.0.2 5353', 'udp 10.1.0.3 5353']);
  t.equal(ct.list().length, 0);
  // A fresh syncer (an agent restart) learns the old backends from the table itself.
  await syncer.sync(model(web([up('10.1.0.4')])), true);
  flow(ct, 'tcp', '10.0.0.2', 80, '10.1.0.4', 8080, 40003);
  const restarted = new VipSyncer(nft, ct);
  const r2 = await restarted.sync(model(web([up('10.1.0.6')])), false);
  t.equal(r2.full, true);
  t.equal(r2.transaction, 'elements', 'an element repair, not a rewrite');
  t.same(r2.conntrack.flushed, ['tcp 10.1.0.4 8080', 'udp 10.1.0.4 5353']);
  t.equal(ct.list().length, 0);
});

t.test('a UDP port that gets its first backend loses the flows sent while it had none', async (t) => {
  const { nft, ct, syncer } = setup();
  const first = await syncer.sync(model(web([])), true);
  t.same(first.conntrack.opened, [], 'no port is served yet');
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 41000, dport: 53 } });
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 41001, dport: 54 } });
  const r = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.same(r.conntrack.opened, ['udp 10.0.0.2 53']);
  t.same(
    ct.list().map((e) => e.orig.dport),
    [54],
    'only the port that opened',
  );
  const again = await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), false);
  t.same(again.conntrack.opened, [], 'a port already served is not flushed again');
  // A full sync sees the transition in the table it reads back (a restarted agent).
  await syncer.sync(model(web([])), false);
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.2', sport: 41002, dport: 53 } });
  const restarted = new VipSyncer(nft, ct);
  const full = await restarted.sync(model(web([up('10.1.0.2')])), true);
  t.same(full.conntrack.opened, ['udp 10.0.0.2 53'], 'a full sync flushes a port that opens in the table it read');
  // A new sandbox (no table yet): nothing is flushed for UDP.
  const other = setup();
  const fresh = await other.syncer.sync(model(web([up('10.1.0.2')])), true);
  t.same(fresh.conntrack.opened, [], 'no flush when the table did not exist');
});

const anyPorts = (backends: VipService['backends']): VipService =>
  service('any', '10.0.0.4', [every('tcp'), every('udp'), tcp(80, 8080)], backends);

t.test('every port: a removed or unhealthy backend loses what the VIP sent it, on any port, and nothing else', async (t) => {
  const { nft, ct, syncer } = setup();
  await syncer.sync(model(anyPorts([up('10.1.0.2'), up('10.1.0.3')])), true);
  flow(ct, 'tcp', '10.0.0.4', 7001, '10.1.0.2', 7001, 40001);
  flow(ct, 'tcp', '10.0.0.4', 7002, '10.1.0.2', 7002, 40002);
  flow(ct, 'udp', '10.0.0.4', 5000, '10.1.0.2', 5000, 40003);
  flow(ct, 'tcp', '10.0.0.4', 80, '10.1.0.2', 8080, 40004);
  flow(ct, 'tcp', '10.0.0.4', 7002, '10.1.0.3', 7002, 40005);
  // Direct, through no VIP: not the load balancer's to cut.
  ct.add({ protocol: 'tcp', orig: { src: '10.0.0.9', dst: '10.1.0.2', sport: 50000, dport: 7001 } });
  const r = await syncer.sync(model(anyPorts([up('10.1.0.3')])), false);
  t.equal(r.transaction, 'elements');
  t.match(nft.applied.at(-1)!, /add chain ip \S+ pickany-1\n/, 'the count changes: pickany-1 comes');
  t.match(nft.applied.at(-1)!, /delete chain ip \S+ pickany-2\n/, 'and pickany-2 goes');
  t.same(r.conntrack.flushed, ['tcp 10.1.0.2 * 10.0.0.4', 'tcp 10.1.0.2 8080', 'udp 10.1.0.2 * 10.0.0.4']);
  t.equal(r.conntrack.deleted, 4);
  t.same(
    ct.deletes.filter((d) => d.filter.origDst !== undefined).map((d) => `${d.address} ${d.filter.protocol} ${d.filter.origDst}`),
    ['10.1.0.2 tcp 10.0.0.4', '10.1.0.2 udp 10.0.0.4'],
    'every-port deletions are narrowed to the VIP',
  );
  t.same(
    ct
      .list()
      .map((e) => `${e.orig.dst}:${e.orig.dport} ${e.reply.src}:${e.reply.sport}`)
      .sort(),
    ['10.0.0.4:7002 10.1.0.3:7002', '10.1.0.2:7001 10.1.0.2:7001'],
    'the other backend and the direct connection keep theirs',
  );
  const sick = await syncer.sync(model(anyPorts([down('10.1.0.3')])), false);
  t.same(sick.conntrack.flushed, ['tcp 10.1.0.3 * 10.0.0.4', 'tcp 10.1.0.3 8080', 'udp 10.1.0.3 * 10.0.0.4']);
  t.equal(nft.dump(), canonicalOfState(planVip(model(anyPorts([down('10.1.0.3')]))).state));
  t.match(nft.dump(), /element 10\.0\.0\.4 \. tcp : goto refuse/, 'no healthy backend: refused');
  t.same(
    ct.list().map((e) => e.orig.dst),
    ['10.1.0.2'],
  );
});

t.test('every port: an entry added to a live service, a restarted agent, doctor', async (t) => {
  const { nft, ct, syncer } = setup();
  await syncer.sync(model(service('any', '10.0.0.4', [tcp(80, 8080)], [up('10.1.0.4')])), true);
  const added = await syncer.sync(model(anyPorts([up('10.1.0.4')])), false);
  t.equal(added.transaction, 'elements', 'an every-port entry appearing is an element change');
  t.notMatch(nft.applied.at(-1)!, /\btable\b/);
  t.match(nft.applied.at(-1)!, /add element ip \S+ backends-any \{ 10\.0\.0\.4 \. 0 : 10\.1\.0\.4 \}/);
  t.match(
    nft.applied.at(-1)!,
    /add element ip \S+ services-any \{ 10\.0\.0\.4 \. tcp : goto pickany-1, 10\.0\.0\.4 \. udp : goto pickany-1 \}/,
  );
  flow(ct, 'tcp', '10.0.0.4', 7001, '10.1.0.4', 7001, 40001);
  // A fresh syncer (an agent restart) learns the every-port backends from the table itself.
  const restarted = new VipSyncer(nft, ct);
  const r = await restarted.sync(model(anyPorts([up('10.1.0.6')])), false);
  t.equal(r.full, true);
  t.equal(r.transaction, 'elements');
  t.same(r.conntrack.flushed, ['tcp 10.1.0.4 * 10.0.0.4', 'tcp 10.1.0.4 8080', 'udp 10.1.0.4 * 10.0.0.4']);
  t.equal(ct.list().length, 0);
  await nft.apply(`delete element ip ${TABLE} backends-any { 10.0.0.4 . 0 }\n`);
  t.same(await restarted.doctor(model(anyPorts([up('10.1.0.6')]))), ['+ element backends-any: 10.0.0.4 . 0 : 10.1.0.6']);
  const removed = await restarted.sync(model(service('any', '10.0.0.4', [tcp(80, 8080)], [up('10.1.0.6')])), false);
  t.equal(removed.transaction, 'elements');
  t.same(
    removed.conntrack.flushed,
    ['udp 10.1.0.6 * 10.0.0.4'],
    'UDP every-port flows go; TCP ones stay: a deletion narrowed to the VIP would cut its kept port 80 too',
  );
  t.equal(nft.dump(), canonicalOfState(planVip(model(service('any', '10.0.0.4', [tcp(80, 8080)], [up('10.1.0.6')]))).state));
  t.notMatch(nft.dump(), /pickany/, 'no pickany chain is left');
});

t.test('every port: a UDP entry that opens loses the un-NATed flows to any port of its VIP', async (t) => {
  const { nft, ct, syncer } = setup();
  const udpAny = (backends: VipService['backends']): VipService => service('any', '10.0.0.4', [every('udp')], backends);
  await syncer.sync(model(udpAny([draining('10.1.0.5')])), true);
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.4', sport: 41000, dport: 5000 } });
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.4', sport: 41001, dport: 5001 } });
  flow(ct, 'udp', '10.0.0.4', 5002, '10.1.0.5', 5002, 41002);
  const r = await syncer.sync(model(udpAny([up('10.1.0.2'), draining('10.1.0.5')])), false);
  t.same(r.conntrack.opened, ['udp 10.0.0.4 *']);
  t.same(
    ct.list().map((e) => `${e.orig.dport} ${e.reply.src}`),
    ['5002 10.1.0.5'],
    'the draining backend keeps its flow; the un-NATed ones go',
  );
  const again = await syncer.sync(model(udpAny([up('10.1.0.2'), up('10.1.0.3')])), false);
  t.same(again.conntrack.opened, [], 'served already: not flushed again');
  // A full sync sees the transition in the table it reads back; a failure is retried.
  await syncer.sync(model(udpAny([])), false);
  ct.add({ protocol: 'udp', orig: { src: '10.0.0.9', dst: '10.0.0.4', sport: 41003, dport: 6000 } });
  let failing = true;
  const wrapped: Conntrack = {
    deleteByOrigDst: (a, f) => ct.deleteByOrigDst(a, f),
    deleteByReplySrc: (a, f) => ct.deleteByReplySrc(a, f),
    deleteMatching: (d) =>
      failing
        ? Promise.reject(new ShoalError('SHOAL_ERR_CONNTRACK', 'conntrack -D failed: injected', { errno: 'EPERM' }))
        : ct.deleteMatching(d),
  };
  const restarted = new VipSyncer(nft, wrapped);
  const full = await restarted.sync(model(udpAny([up('10.1.0.2')])), true);
  t.same(
    full.failures.map((f) => f.op),
    ['reply-src udp 10.0.0.4 *'],
  );
  failing = false;
  const retry = await restarted.sync(model(udpAny([up('10.1.0.2')])), false);
  t.same(retry.conntrack.opened, ['udp 10.0.0.4 *'], 'retried while the entry is served');
  t.equal(ct.list().length, 0);
});

t.test('drift: elements repaired in place, anything else rewritten; an incremental failure falls back to full', async (t) => {
  const { nft, syncer } = setup();
  const m = model(web([up('10.1.0.2'), up('10.1.0.3')]));
  await syncer.sync(m, true);
  await nft.apply(`delete element ip ${TABLE} backends-tcp { 10.0.0.2 . 80 . 1 }\nadd element ip ${TABLE} vips { 10.0.0.77 }\n`);
  const drift = await syncer.doctor(m);
  t.same(drift, ['+ element backends-tcp: 10.0.0.2 . 80 . 1 : 10.1.0.3 . 8080', '- element vips: 10.0.0.77']);
  const repaired = await syncer.sync(m, true);
  t.equal(repaired.transaction, 'elements');
  t.equal(repaired.elementsAdded, 1);
  t.equal(repaired.elementsDeleted, 1);
  t.notMatch(nft.applied.at(-1)!, /table/);
  t.same(await syncer.doctor(m), []);

  await nft.apply(`flush chain ip ${TABLE} refuse\n`);
  const rewritten = await syncer.sync(m, true);
  t.equal(rewritten.transaction, 'rewrite');
  t.match(rewritten.rewriteReason, /chain refuse differs/);
  t.same(await syncer.doctor(m), []);

  // Someone deletes the table: the next incremental change fails, and the same call syncs in full.
  await nft.deleteTable('ip', TABLE);
  const fell = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.equal(fell.fellBack, true);
  t.equal(fell.full, true);
  t.equal(fell.transaction, 'rewrite');
  t.equal(nft.dump(), canonicalOfState(planVip(model(web([up('10.1.0.2')]))).state));
});

t.test('an nft failure on a full sync throws, and the next sync is full again', async (t) => {
  const { nft, syncer } = setup();
  const m = model(web([up('10.1.0.2')]));
  nft.failNextApply();
  await t.rejects(syncer.sync(m, false), { code: 'SHOAL_ERR_NFT', errno: 'EBUSY' });
  t.same(await nft.listTables(), [], 'nothing applied');
  const r = await syncer.sync(m, false);
  t.equal(r.full, true, 'the sync after a failure is full');
  t.equal(r.transaction, 'rewrite');
  // A repair that nft refuses falls back to the rewrite in the same sync.
  await nft.apply(`add element ip ${TABLE} vips { 10.0.0.77 }\n`);
  nft.failNextApply();
  const r2 = await syncer.sync(m, true);
  t.equal(r2.transaction, 'rewrite');
  t.match(r2.rewriteReason, /element repair failed/);
});

t.test('deferred conntrack: the sync returns first; a backend address still being cleaned up waits, a new one does not', async (t) => {
  const nft = new FakeNft();
  const real = new FakeConntrack();
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  let failing = false;
  const ct: Conntrack = {
    deleteByOrigDst: (a, f) => real.deleteByOrigDst(a, f),
    deleteByReplySrc: (a, f) => real.deleteByReplySrc(a, f),
    deleteMatching: async (d) => {
      if (gate) await gate;
      if (failing) throw new ShoalError('SHOAL_ERR_CONNTRACK', 'conntrack -D failed: injected', { errno: 'EPERM' });
      return real.deleteMatching(d);
    },
  };
  const syncer = new VipSyncer(nft, ct, { deferConntrack: true });
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), true);
  flow(real, 'tcp', '10.0.0.2', 80, '10.1.0.3', 8080, 40000);
  gate = new Promise((r) => {
    release = r;
  });
  const removed = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.equal(removed.transaction, 'elements', 'the table changed');
  t.same(removed.conntrack.flushed, [], 'the deletions are not in the report');
  t.equal(real.list().length, 1, 'the entry is still there while the deletion waits');
  // A new backend goes in at once, while the deletion still waits.
  const fresh = await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.4')])), false);
  t.equal(fresh.transaction, 'elements', 'a new backend is programmed without waiting');
  // The removed address coming back waits for its deletion.
  let back = false;
  const again = syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.4'), up('10.1.0.3')])), false).then((r) => {
    back = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 20));
  t.equal(back, false, 'the returning address waits');
  t.equal(real.list().length, 1);
  release();
  const r = await again;
  t.equal(r.transaction, 'elements', 'then it is programmed');
  t.equal(real.list().length, 0, 'after the old entry was deleted');
  await syncer.settled();
  // A deferred failure is retried by the next sync's deletions.
  gate = undefined;
  flow(real, 'tcp', '10.0.0.2', 80, '10.1.0.4', 8080, 40001);
  failing = true;
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), false);
  await syncer.settled();
  t.equal(real.list().length, 1, 'the failed deletion left the entry');
  failing = false;
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3'), up('10.1.0.5')])), false);
  await syncer.settled();
  t.equal(real.list().length, 0, 'the next sync retried it');
});

t.test('a conntrack failure is reported and retried at the next sync', async (t) => {
  const nft = new FakeNft();
  const real = new FakeConntrack();
  let failing = true;
  const ct: Conntrack = {
    deleteByOrigDst: (a, f) => real.deleteByOrigDst(a, f),
    deleteByReplySrc: (a, f) => real.deleteByReplySrc(a, f),
    deleteMatching: (d) =>
      failing
        ? Promise.reject(new ShoalError('SHOAL_ERR_CONNTRACK', 'conntrack -D failed: injected', { errno: 'EPERM' }))
        : real.deleteMatching(d),
  };
  const syncer = new VipSyncer(nft, ct);
  await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), true);
  flow(real, 'tcp', '10.0.0.2', 80, '10.1.0.3', 8080, 40000);
  const r = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.same(
    r.failures.map((f) => `${f.op} ${f.code} ${f.errno}`),
    ['reply-src tcp 10.1.0.3 8080 SHOAL_ERR_CONNTRACK EPERM', 'reply-src udp 10.1.0.3 5353 SHOAL_ERR_CONNTRACK EPERM'],
  );
  t.equal(real.list().length, 1, 'the entry is still there');
  failing = false;
  const retry = await syncer.sync(model(web([up('10.1.0.2')])), false);
  t.equal(retry.transaction, 'none');
  t.same(retry.failures, []);
  t.same(retry.conntrack.flushed, ['tcp 10.1.0.3 8080', 'udp 10.1.0.3 5353'], 'retried');
  t.equal(real.list().length, 0);
  // A backend that came back before the retry is not flushed.
  failing = true;
  await syncer.sync(model(web([up('10.1.0.3')])), false);
  failing = false;
  const back = await syncer.sync(model(web([up('10.1.0.2'), up('10.1.0.3')])), false);
  t.same(back.conntrack.flushed, [], 'the pending backend is kept again: nothing to flush');
});

t.test('problems are reported; a bad model throws', async (t) => {
  const { syncer } = setup();
  const r = await syncer.sync(
    model(web([up('10.1.0.2')]), service('other', '10.0.0.2', [tcp(80)], []), service('bad', 'nope', [tcp(80)], [])),
    false,
  );
  t.same(
    r.problems.map((p) => `${p.service} ${p.code}`),
    ['bad SHOAL_ERR_VIP_BAD_MODEL', 'web SHOAL_ERR_VIP_CONFLICT'],
  );
  const inc = await syncer.sync(model(web([up('10.1.0.2')]), service('other', '10.0.0.2', [tcp(80)], [])), false);
  t.same(
    inc.problems.map((p) => p.service),
    ['web'],
    'the incremental path reports the same way (the smaller id keeps the port)',
  );
  await t.rejects(syncer.sync({ tableName: 'bad name', services: [] }, false), { code: 'SHOAL_ERR_VIP_BAD_MODEL' });
  await t.rejects(syncer.sync({ tableName: TABLE } as unknown as VipModel, false), { code: 'SHOAL_ERR_VIP_BAD_MODEL' });
});

t.test('a table name change deletes the old table; remove() deletes the table', async (t) => {
  const { nft, syncer } = setup();
  await syncer.sync(model(web([up('10.1.0.2')])), true);
  const renamed = await syncer.sync({ tableName: 'shoal-t-lb2', services: [web([up('10.1.0.2')])] }, false);
  t.equal(renamed.full, true);
  t.same(
    (await nft.listTables()).map((x) => x.name),
    ['shoal-t-lb2'],
  );
  t.equal(await syncer.remove('shoal-t-lb2'), true);
  t.equal(await syncer.remove('shoal-t-lb2'), false, 'missing is success');
  t.same(await nft.listTables(), []);
  const after = await syncer.sync({ tableName: 'shoal-t-lb2', services: [] }, false);
  t.equal(after.full, true, 'after remove() the next sync is full');
  const missing = await syncer.doctor({ tableName: 'shoal-t-lb3', services: [] });
  t.equal(missing[0], 'table ip shoal-t-lb3 does not exist');
  t.equal(missing.length - 1, canonicalOfState(planVip({ tableName: 'shoal-t-lb3', services: [] }).state).split('\n').length);
  t.ok(
    missing.slice(1).every((l) => l.startsWith('+ ')),
    'every planned line is missing',
  );
  t.ok(missing.includes('+ rule output: ct state new ip daddr . meta l4proto . th dport vmap @services'), 'rules name their chain');
});

t.test('service objects given to sync() are frozen', async (t) => {
  const { syncer } = setup();
  const svc = web([up('10.1.0.2')]);
  await syncer.sync(model(svc), false);
  t.throws(() => {
    svc.backends.push(up('10.1.0.3'));
  }, TypeError);
  t.throws(() => {
    (svc.backends[0] as { healthy: boolean }).healthy = false;
  }, TypeError);
});

t.test('10,000 services x 10 backends on the fake: one change is one small transaction', async (t) => {
  const { nft, syncer } = setup();
  const services = Array.from({ length: 10_000 }, (_, i) => numbered(i, 10));
  await syncer.sync({ tableName: TABLE, services }, true);
  const changed = [...services];
  changed[5000] = { ...services[5000]!, backends: [...services[5000]!.backends.slice(0, 9), up('10.9.0.1')] };
  const started = performance.now();
  const r = await syncer.sync({ tableName: TABLE, services: changed }, false);
  t.comment(`one change through the syncer on the fake: ${(performance.now() - started).toFixed(1)} ms`);
  t.equal(r.transaction, 'elements');
  t.ok(r.scriptBytes < 1000, `a ${r.scriptBytes}-byte transaction`);
  t.same(r.conntrack.flushed, [`tcp ${services[5000]!.backends[9]!.ip} 8080`]);
  t.equal(nft.dump(), canonicalOfState(planVip({ tableName: TABLE, services: changed }).state));
});

t.test('a table of 250,000 elements reads back (canonicalNftTable of a large dump)', async (t) => {
  const elem: unknown[] = [];
  for (let i = 0; i < 250_000; i++)
    elem.push([{ concat: ['10.100.0.1', 80, i] }, { concat: [`10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, 8080] }]);
  const json = [
    { table: { family: 'ip', name: TABLE, handle: 1 } },
    {
      map: {
        family: 'ip',
        name: 'backends-tcp',
        table: TABLE,
        type: ['ipv4_addr', 'inet_service', 'integer'],
        map: 'ipv4_addr . inet_service',
        handle: 2,
        elem,
      },
    },
  ];
  const text = canonicalNftTable(json);
  t.equal(text.split('\n').length, 250_002);
});
