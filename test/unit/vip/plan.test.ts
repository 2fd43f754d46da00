/**
 * The load balancer's planner: the whole table of a small model line by line; plans that do
 * not depend on list order; services the caller leaves out (dnsrr) leaving nothing behind;
 * ports without a healthy backend refused, draining backends kept for conntrack; ports and
 * their targets; conflicts and invalid items left out with their codes; 10,000 services in
 * one pick chain; the incremental planner ending where a plan from scratch does (seeded
 * random changes); canonical text round trips; and FakeNft taking the rewrite and printing
 * the planned canonical text back.
 */
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { FakeNft } from '../../../src/kernel/fake-nft.ts';
import type { VipModel } from '../../../src/vip/model.ts';
import { backendKey, claimsOf, modelChanges, planService, planVip, ServiceIndex, VipPlanner } from '../../../src/vip/plan.ts';
import {
  applyDelta,
  canonicalOfState,
  deltaScript,
  diffStates,
  rewriteScript,
  stateFromCanonical,
  type TableDelta,
} from '../../../src/vip/table-state.ts';
import { codeOf, testSeed } from '../../support/seed.ts';
import { down, draining, every, model, numbered, randomChange, service, shuffled, TABLE, tcp, udp, up } from './fixtures.ts';

const T = `ip ${TABLE}`;
const FIXED_CHAINS = [
  `chain ${T} output type nat hook output prio -100 policy accept`,
  '  rule ct state new ip daddr . meta l4proto . th dport vmap @services',
  '  rule ct state new ip daddr . meta l4proto vmap @services-any',
  '  rule meta l4proto { tcp, udp } ip daddr @vips goto refuse',
];
const PREROUTING = [
  `chain ${T} prerouting type nat hook prerouting prio -100 policy accept`,
  '  rule ct state new ip daddr . meta l4proto . th dport vmap @services',
  '  rule ct state new ip daddr . meta l4proto vmap @services-any',
  '  rule meta l4proto { tcp, udp } ip daddr @vips goto refuse',
  `chain ${T} refuse`,
  '  rule reject with tcp reset',
  '  rule reject',
];
const BACKENDS_ANY = `map ${T} backends-any type ipv4_addr . integer : ipv4_addr`;
const BACKENDS_TCP = `map ${T} backends-tcp type ipv4_addr . inet_service . integer : ipv4_addr . inet_service`;
const BACKENDS_UDP = `map ${T} backends-udp type ipv4_addr . inet_service . integer : ipv4_addr . inet_service`;
const SERVICES = `map ${T} services type ipv4_addr . inet_proto . inet_service : verdict`;
const SERVICES_ANY = `map ${T} services-any type ipv4_addr . inet_proto : verdict`;
const VIPS = `set ${T} vips type ipv4_addr`;

const webModel = (): VipModel =>
  model(
    service('web', '10.0.0.2', [tcp(80, 8080), udp(53, 5353)], [up('10.1.0.3'), up('10.1.0.2'), down('10.1.0.4'), draining('10.1.0.5')]),
    service('empty', '10.0.0.3', [tcp(443)], []),
  );

t.test('the whole table of a small model', async (t) => {
  const plan = planVip(webModel());
  t.same(plan.problems, []);
  t.equal(
    canonicalOfState(plan.state),
    [
      `table ${T}`,
      ...FIXED_CHAINS,
      `chain ${T} pick-tcp-2`,
      '  rule dnat ip to ip daddr . tcp dport . numgen random mod 2 map @backends-tcp',
      `chain ${T} pick-udp-2`,
      '  rule dnat ip to ip daddr . udp dport . numgen random mod 2 map @backends-udp',
      ...PREROUTING,
      BACKENDS_ANY,
      BACKENDS_TCP,
      '  element 10.0.0.2 . 80 . 0 : 10.1.0.2 . 8080',
      '  element 10.0.0.2 . 80 . 1 : 10.1.0.3 . 8080',
      BACKENDS_UDP,
      '  element 10.0.0.2 . 53 . 0 : 10.1.0.2 . 5353',
      '  element 10.0.0.2 . 53 . 1 : 10.1.0.3 . 5353',
      SERVICES,
      '  element 10.0.0.2 . tcp . 80 : goto pick-tcp-2',
      '  element 10.0.0.2 . udp . 53 : goto pick-udp-2',
      '  element 10.0.0.3 . tcp . 443 : goto refuse',
      SERVICES_ANY,
      VIPS,
      '  element 10.0.0.2',
      '  element 10.0.0.3',
    ].join('\n'),
  );
  t.same(
    [...plan.keep].sort(),
    ['tcp 10.1.0.2 8080', 'tcp 10.1.0.3 8080', 'tcp 10.1.0.5 8080', 'udp 10.1.0.2 5353', 'udp 10.1.0.3 5353', 'udp 10.1.0.5 5353'],
    'healthy backends are kept for conntrack, draining ones too, unhealthy ones not',
  );
  const script = rewriteScript(plan.state);
  t.match(script, /^add table ip shoal-t-lb\ndelete table ip shoal-t-lb\nadd table ip shoal-t-lb\n/, 'a rewrite replaces the table');
  t.notMatch(script, /chain ip shoal-t-lb svc|chain ip shoal-t-lb web/, 'no chain is named for a service');
});

t.test('FakeNft takes the rewrite and prints the planned canonical text', async (t) => {
  const fake = new FakeNft();
  for (const m of [webModel(), model(), model(...Array.from({ length: 50 }, (_, i) => numbered(i, i % 7)))]) {
    const plan = planVip(m);
    await fake.apply(rewriteScript(plan.state));
    t.equal(fake.dump(), canonicalOfState(plan.state));
  }
});

t.test('plans do not depend on the order of services, ports or backends', async (t) => {
  const seed = testSeed();
  const rng = createRng(seed);
  const base = [
    ...webModel().services,
    ...Array.from({ length: 30 }, (_, i) => numbered(i + 10, 1 + (i % 4), [tcp(80, 8080), udp(53)])),
    ...Array.from({ length: 10 }, (_, i) => numbered(i + 50, 1 + (i % 3), [every('tcp'), tcp(80, 8080), every('udp')])),
  ];
  const reference = planVip(model(...base));
  for (let round = 0; round < 10; round++) {
    const m = model(...rng.shuffle(base.map((s) => shuffled(rng, s))));
    const plan = planVip(m);
    t.equal(canonicalOfState(plan.state), canonicalOfState(reference.state), `round ${round} (seed ${seed})`);
    t.equal(rewriteScript(plan.state), rewriteScript(reference.state));
  }
});

t.test('a service the caller leaves out (dnsrr) leaves nothing of it in the table', async (t) => {
  const vipOnly = planVip(webModel());
  const withoutWeb = planVip(model(service('empty', '10.0.0.3', [tcp(443)], [])));
  const text = canonicalOfState(withoutWeb.state);
  t.notMatch(text, /10\.0\.0\.2/, 'no element names its VIP');
  t.notMatch(text, /10\.1\.0\./, 'no element names its tasks');
  t.notMatch(text, /pick-/, 'no pick chain is left for it');
  t.match(canonicalOfState(vipOnly.state), /10\.0\.0\.2 \. tcp \. 80/);
});

t.test('ports without an active backend are refused, not blackholed', async (t) => {
  const cases: Array<{ what: string; backends: Parameters<typeof service>[3]; data: string; keep: string[] }> = [
    { what: 'no backend', backends: [], data: 'goto refuse', keep: [] },
    { what: 'only unhealthy ones', backends: [down('10.1.0.2'), down('10.1.0.3')], data: 'goto refuse', keep: [] },
    { what: 'only draining ones', backends: [draining('10.1.0.2')], data: 'goto refuse', keep: ['tcp 10.1.0.2 80'] },
    { what: 'one healthy', backends: [down('10.1.0.9'), up('10.1.0.2')], data: 'goto pick-tcp-1', keep: ['tcp 10.1.0.2 80'] },
  ];
  for (const c of cases) {
    const plan = planVip(model(service('s', '10.0.0.2', [tcp(80)], c.backends)));
    t.equal(plan.state.sets.get('services')!.elements.get('10.0.0.2 . tcp . 80'), c.data, `${c.what}: ${c.data}`);
    t.same([...plan.keep], c.keep, `${c.what}: kept for conntrack`);
    t.equal(plan.state.sets.get('vips')!.elements.has('10.0.0.2'), true, `${c.what}: other ports of the VIP are refused too`);
    if (c.data === 'goto refuse') t.equal(plan.state.sets.get('backends-tcp')!.elements.size, 0, `${c.what}: no backend element`);
  }
});

t.test('ports: protocols, targets, order, duplicates and bad values', async (t) => {
  const s = planService(
    service('s', '10.0.0.2', [udp(53, 5353), tcp(443, 8443), tcp(80, 8080), tcp(80, 9090), tcp(0, 1)], [up('10.1.0.2')]),
  );
  t.same(
    s.ports.map((p) => `${p.protocol} ${p.port}->${p.targetPort}`),
    ['tcp 80->8080', 'tcp 443->8443', 'udp 53->5353'],
    'sorted by protocol and port, the first target of a duplicate kept',
  );
  t.same(
    s.problems.map((p) => p.code),
    ['SHOAL_ERR_VIP_BAD_MODEL', 'SHOAL_ERR_VIP_CONFLICT'],
  );
  t.match(s.problems[1]!.message, /tcp port 80 is published twice/);
  t.same(s.keep, ['tcp 10.1.0.2 8080', 'tcp 10.1.0.2 8443', 'udp 10.1.0.2 5353'], 'kept by target port');
  const plan = planVip(model(service('s', '10.0.0.2', [tcp(80, 8080), tcp(8080, 8080)], [up('10.1.0.2')])));
  const b = plan.state.sets.get('backends-tcp')!.elements;
  t.equal(b.get('10.0.0.2 . 80 . 0'), '10.1.0.2 . 8080');
  t.equal(b.get('10.0.0.2 . 8080 . 0'), '10.1.0.2 . 8080', 'two ports may share a target');
  t.same([...plan.keep], [backendKey('tcp', '10.1.0.2', 8080)], 'kept once');
});

t.test('every-port entries: the whole table, explicit ports first, one pickany chain per count', async (t) => {
  const plan = planVip(
    model(
      service('any', '10.0.0.4', [every('udp'), tcp(80, 8080), every('tcp')], [up('10.1.0.9'), up('10.1.0.8'), draining('10.1.0.7')]),
      service('other', '10.0.0.5', [every('tcp')], [up('10.1.0.11'), up('10.1.0.10')]),
      service('none', '10.0.0.6', [every('tcp')], [down('10.1.0.12')]),
    ),
  );
  t.same(plan.problems, []);
  t.equal(
    canonicalOfState(plan.state),
    [
      `table ${T}`,
      ...FIXED_CHAINS,
      `chain ${T} pick-tcp-2`,
      '  rule dnat ip to ip daddr . tcp dport . numgen random mod 2 map @backends-tcp',
      `chain ${T} pickany-2`,
      '  rule dnat to ip daddr . numgen random mod 2 map @backends-any',
      ...PREROUTING,
      BACKENDS_ANY,
      '  element 10.0.0.4 . 0 : 10.1.0.8',
      '  element 10.0.0.4 . 1 : 10.1.0.9',
      '  element 10.0.0.5 . 0 : 10.1.0.10',
      '  element 10.0.0.5 . 1 : 10.1.0.11',
      BACKENDS_TCP,
      '  element 10.0.0.4 . 80 . 0 : 10.1.0.8 . 8080',
      '  element 10.0.0.4 . 80 . 1 : 10.1.0.9 . 8080',
      BACKENDS_UDP,
      SERVICES,
      '  element 10.0.0.4 . tcp . 80 : goto pick-tcp-2',
      SERVICES_ANY,
      '  element 10.0.0.4 . tcp : goto pickany-2',
      '  element 10.0.0.4 . udp : goto pickany-2',
      '  element 10.0.0.5 . tcp : goto pickany-2',
      '  element 10.0.0.6 . tcp : goto refuse',
      VIPS,
      '  element 10.0.0.4',
      '  element 10.0.0.5',
      '  element 10.0.0.6',
    ].join('\n'),
    'TCP and UDP, of two services, share one pickany chain; the backends are listed once per VIP; no backend = refuse',
  );
  t.same(
    [...plan.keep].sort(),
    [
      'tcp 10.1.0.10 * 10.0.0.5',
      'tcp 10.1.0.11 * 10.0.0.5',
      'tcp 10.1.0.7 * 10.0.0.4',
      'tcp 10.1.0.7 8080',
      'tcp 10.1.0.8 * 10.0.0.4',
      'tcp 10.1.0.8 8080',
      'tcp 10.1.0.9 * 10.0.0.4',
      'tcp 10.1.0.9 8080',
      'udp 10.1.0.7 * 10.0.0.4',
      'udp 10.1.0.8 * 10.0.0.4',
      'udp 10.1.0.9 * 10.0.0.4',
    ],
    'every-port backends are kept per protocol and VIP (the draining one too)',
  );
  const s = planService(service('s', '10.0.0.2', [tcp(80), every('tcp'), udp(53)], [up('10.1.0.2')]));
  t.same(
    s.ports.map((p) => `${p.protocol} ${p.port}->${p.targetPort}`),
    ['tcp 0->0', 'tcp 80->80', 'udp 53->53'],
    'the every-port entry sorts first in its protocol',
  );
  const script = rewriteScript(plan.state);
  t.match(script, /add map ip shoal-t-lb backends-any \{ typeof ip daddr \. numgen random mod 1 : ip daddr; \}/);
  t.match(script, /add map ip shoal-t-lb services-any \{ type ipv4_addr \. inet_proto : verdict; \}/);
  const fake = new FakeNft();
  await fake.apply(script);
  t.equal(fake.dump(), canonicalOfState(plan.state), 'FakeNft takes it and prints it back');
});

t.test('every-port entries: bad values and duplicates', async (t) => {
  const s = planService(
    service(
      's',
      '10.0.0.2',
      [
        every('tcp'),
        every('tcp'),
        { protocol: 'tcp', port: 0, targetPort: 8080 },
        { protocol: 'udp', port: 53, targetPort: 0 },
        every('udp'),
      ],
      [up('10.1.0.2')],
    ),
  );
  t.same(
    s.ports.map((p) => `${p.protocol} ${p.port}`),
    ['tcp 0', 'udp 0'],
  );
  t.same(
    s.problems.map((p) => p.code),
    ['SHOAL_ERR_VIP_BAD_MODEL', 'SHOAL_ERR_VIP_BAD_MODEL', 'SHOAL_ERR_VIP_CONFLICT'],
  );
  t.match(s.problems[0]!.message, /or port and targetPort 0: every port/);
  t.match(s.problems[2]!.message, /every tcp port is published twice/);
});

t.test('protects(): a backend listed in two services keeps what the other one holds', async (t) => {
  const planner = new VipPlanner(TABLE);
  planner.update([service('a', '10.0.0.2', [every('tcp')], [up('10.1.0.2')]), service('b', '10.0.0.3', [tcp(80)], [up('10.1.0.3')])], []);
  t.equal(planner.protects('tcp 10.1.0.2 * 10.0.0.2'), true, 'kept');
  t.equal(planner.protects('tcp 10.1.0.2 8080'), true, "an explicit port of a's backend overlaps a's every-port entry");
  t.equal(planner.protects('udp 10.1.0.2 8080'), false, 'not over UDP');
  t.equal(planner.protects('tcp 10.1.0.2 * 10.0.0.9'), false, 'another VIP: the deletion is narrowed to that VIP');
  t.equal(planner.protects('tcp 10.1.0.3 * 10.0.0.9'), true, "an every-port deletion would cut b's explicit port");
  t.equal(planner.protects('tcp 10.1.0.4 80'), false);
  // b's backend moves into a as well, and leaves b: its port 80 entries stay (a keeps every port of it).
  const delta = planner.update(
    [service('a', '10.0.0.2', [every('tcp')], [up('10.1.0.2'), up('10.1.0.3')]), service('b', '10.0.0.3', [tcp(80)], [])],
    [],
  );
  t.same(delta.keepRemoved, [], 'nothing to delete: a keeps 10.1.0.3 on every port');
  const gone = planner.update([service('a', '10.0.0.2', [every('tcp')], [up('10.1.0.2')])], ['b']);
  t.same(gone.keepRemoved, ['tcp 10.1.0.3 * 10.0.0.2'], 'leaving a too: deleted');
});

t.test('invalid services and backends are left out with their codes', async (t) => {
  const cases: Array<{ what: string; svc: Parameters<typeof planService>[0]; code: string; programmed: boolean }> = [
    { what: 'IPv6 VIP', svc: service('a', 'fd00::1', [tcp(80)], []), code: 'SHOAL_ERR_VIP_BAD_MODEL', programmed: false },
    { what: 'loopback VIP', svc: service('a', '127.0.0.5', [tcp(80)], []), code: 'SHOAL_ERR_VIP_BAD_MODEL', programmed: false },
    { what: 'multicast VIP', svc: service('a', '224.0.0.1', [tcp(80)], []), code: 'SHOAL_ERR_VIP_BAD_MODEL', programmed: false },
    { what: 'leading zero', svc: service('a', '10.0.0.02', [tcp(80)], []), code: 'SHOAL_ERR_VIP_BAD_MODEL', programmed: false },
    { what: 'no id', svc: service('', '10.0.0.2', [tcp(80)], []), code: 'SHOAL_ERR_VIP_BAD_MODEL', programmed: false },
    {
      what: 'bad backend',
      svc: service('a', '10.0.0.2', [tcp(80)], [up('10.1.0.256'), up('10.1.0.2')]),
      code: 'SHOAL_ERR_VIP_BAD_MODEL',
      programmed: true,
    },
    {
      what: 'bad protocol',
      svc: service('a', '10.0.0.2', [{ protocol: 'sctp' as 'tcp', port: 80, targetPort: 80 }], []),
      code: 'SHOAL_ERR_VIP_BAD_MODEL',
      programmed: true,
    },
    {
      what: 'duplicate backend, one copy unhealthy',
      svc: service('a', '10.0.0.2', [tcp(80)], [up('10.1.0.2'), down('10.1.0.2')]),
      code: 'SHOAL_ERR_VIP_BAD_MODEL',
      programmed: true,
    },
  ];
  for (const c of cases) {
    const plan = planVip(model(c.svc));
    t.same(
      plan.problems.map((p) => p.code),
      [c.code],
      `${c.what}: ${plan.problems[0]?.message}`,
    );
    t.equal(plan.state.sets.get('vips')!.elements.size, c.programmed ? 1 : 0, `${c.what}: ${c.programmed ? 'programmed' : 'left out'}`);
  }
  const dup = planVip(model(service('a', '10.0.0.2', [tcp(80)], [up('10.1.0.2'), down('10.1.0.2')])));
  t.equal(
    dup.state.sets.get('services')!.elements.get('10.0.0.2 . tcp . 80'),
    'goto refuse',
    'a backend unhealthy in one copy gets nothing',
  );
  t.equal(
    codeOf(() => planVip({ tableName: 'bad name', services: [] })),
    'SHOAL_ERR_VIP_BAD_MODEL',
    'a bad table name throws',
  );
});

t.test('services share a VIP on distinct ports (the routing mesh ingress table): each port to its own backends', async (t) => {
  const m = model(
    service('b', '10.0.0.2', [tcp(8081, 80), udp(5353, 53)], [up('10.1.0.4')]),
    service('a', '10.0.0.2', [tcp(8080, 80)], [up('10.1.0.3'), up('10.1.0.2')]),
  );
  const plan = planVip(m);
  t.same(plan.problems, [], 'no conflict: the ports differ');
  t.equal(
    canonicalOfState(plan.state),
    [
      `table ${T}`,
      ...FIXED_CHAINS,
      `chain ${T} pick-tcp-1`,
      '  rule dnat ip to ip daddr . tcp dport . numgen random mod 1 map @backends-tcp',
      `chain ${T} pick-tcp-2`,
      '  rule dnat ip to ip daddr . tcp dport . numgen random mod 2 map @backends-tcp',
      `chain ${T} pick-udp-1`,
      '  rule dnat ip to ip daddr . udp dport . numgen random mod 1 map @backends-udp',
      ...PREROUTING,
      BACKENDS_ANY,
      BACKENDS_TCP,
      '  element 10.0.0.2 . 8080 . 0 : 10.1.0.2 . 80',
      '  element 10.0.0.2 . 8080 . 1 : 10.1.0.3 . 80',
      '  element 10.0.0.2 . 8081 . 0 : 10.1.0.4 . 80',
      BACKENDS_UDP,
      '  element 10.0.0.2 . 5353 . 0 : 10.1.0.4 . 53',
      SERVICES,
      '  element 10.0.0.2 . tcp . 8080 : goto pick-tcp-2',
      '  element 10.0.0.2 . tcp . 8081 : goto pick-tcp-1',
      '  element 10.0.0.2 . udp . 5353 : goto pick-udp-1',
      SERVICES_ANY,
      VIPS,
      '  element 10.0.0.2',
    ].join('\n'),
    "a's port to a's backends, b's ports to b's; the VIP once",
  );
  t.same([...plan.keep].sort(), ['tcp 10.1.0.2 80', 'tcp 10.1.0.3 80', 'tcp 10.1.0.4 80', 'udp 10.1.0.4 53']);
  const planner = new VipPlanner(TABLE);
  planner.update(m.services, []);
  t.equal(planner.programmed, 2, 'both services are programmed');
  const gone = planner.update([], ['a']);
  t.same(gone.deletes.get('vips'), undefined, 'a leaving keeps the VIP: b still has it');
  t.same(gone.deletes.get('backends-tcp'), ['10.0.0.2 . 8080 . 0', '10.0.0.2 . 8080 . 1'], "a's elements go");
  t.same(gone.keepRemoved, ['tcp 10.1.0.2 80', 'tcp 10.1.0.3 80'], "a's backends are cut, b's are not");
  t.equal(canonicalOfState(planner.state()), canonicalOfState(planVip(model(m.services[0]!)).state), 'as planned from scratch');
  const last = planner.update([], ['b']);
  t.same(last.deletes.get('vips'), ['10.0.0.2'], 'the last service of the VIP takes it out of vips');
});

t.test('a port two services of one VIP claim goes to the smallest id; the other keeps its other ports', async (t) => {
  const a = service('a', '10.0.0.2', [tcp(8080, 80)], [up('10.1.0.2')]);
  const b = service('b', '10.0.0.2', [tcp(8080, 81), tcp(8081, 80), udp(8080, 53)], [up('10.1.0.4')]);
  const plan = planVip(model(b, a));
  const backends = plan.state.sets.get('backends-tcp')!.elements;
  t.equal(backends.get('10.0.0.2 . 8080 . 0'), '10.1.0.2 . 80', 'a keeps tcp 8080');
  t.equal(backends.get('10.0.0.2 . 8081 . 0'), '10.1.0.4 . 80', 'b keeps tcp 8081');
  t.equal(plan.state.sets.get('backends-udp')!.elements.get('10.0.0.2 . 8080 . 0'), '10.1.0.4 . 53', 'and udp 8080: another protocol');
  t.same(
    plan.problems.map((p) => `${p.code} ${p.service}: ${p.message}`),
    [
      'SHOAL_ERR_VIP_CONFLICT b: service b: tcp port 8080 of VIP 10.0.0.2 is also claimed by service a, which keeps it; b loses that port only',
    ],
  );
  t.same([...plan.keep].sort(), ['tcp 10.1.0.2 80', 'tcp 10.1.0.4 80', 'udp 10.1.0.4 53'], 'b keeps nothing on the port it lost');

  // Incremental: a leaves, b takes the port over; a comes back and takes it again.
  const planner = new VipPlanner(TABLE);
  planner.update([b, a], []);
  const gone = planner.update([], ['a']);
  t.same(gone.chainsAdded, [], 'no chain change: both have one backend');
  t.same(gone.adds.get('backends-tcp'), [['10.0.0.2 . 8080 . 0', '10.1.0.4 . 81']], "b's backend and target on the port");
  t.same(gone.keepRemoved, ['tcp 10.1.0.2 80']);
  t.same(planner.problems(), []);
  const back = planner.update([a], []);
  t.same(back.adds.get('backends-tcp'), [['10.0.0.2 . 8080 . 0', '10.1.0.2 . 80']]);
  t.same(back.keepRemoved, ['tcp 10.1.0.4 81'], "b's connections through the port it lost are cut, those of its other ports stay");
  t.equal(canonicalOfState(planner.state()), canonicalOfState(plan.state), 'as planned from scratch');
  t.same(planner.problems(), plan.problems);
});

t.test('every-port entries of a shared VIP belong to one service (backends-any is keyed by VIP)', async (t) => {
  const a = service('a', '10.0.0.2', [every('tcp')], [up('10.1.0.2')]);
  const b = service('b', '10.0.0.2', [every('udp'), tcp(80, 8080)], [up('10.1.0.3')]);
  const plan = planVip(model(a, b));
  const sets = plan.state.sets;
  t.same(
    [...sets.get('services-any')!.elements],
    [['10.0.0.2 . tcp', 'goto pickany-1']],
    "a's every tcp port; b's every udp port left out",
  );
  t.same([...sets.get('backends-any')!.elements], [['10.0.0.2 . 0', '10.1.0.2']], "backends-any lists a's backends alone");
  t.same(
    [...sets.get('services')!.elements],
    [['10.0.0.2 . tcp . 80', 'goto pick-tcp-1']],
    "b keeps its explicit port (it wins over a's every port)",
  );
  t.same(
    plan.problems.map((p) => `${p.service}: ${p.message}`),
    ['b: service b: the every-port entries of VIP 10.0.0.2 belong to one service, and service a has some, so b loses every udp port'],
  );
  t.same([...plan.keep].sort(), ['tcp 10.1.0.2 * 10.0.0.2', 'tcp 10.1.0.3 8080']);

  const planner = new VipPlanner(TABLE);
  planner.update([a, b], []);
  const gone = planner.update([], ['a']);
  t.same(gone.udpOpened, [{ vip: '10.0.0.2', port: 0 }], "b's every udp port opens");
  t.same(gone.keepRemoved, ['tcp 10.1.0.2 * 10.0.0.2']);
  t.same(gone.deletes.get('backends-any'), ['10.0.0.2 . 0'], 'an element whose data changes is deleted and added');
  t.same(gone.adds.get('backends-any'), [['10.0.0.2 . 0', '10.1.0.3']]);
  t.equal(canonicalOfState(planner.state()), canonicalOfState(planVip(model(b)).state), 'as planned from scratch');
});

t.test('conntrack keys of services sharing a VIP and a backend: a service leaving cuts only what no other keeps', async (t) => {
  const planner = new VipPlanner(TABLE);
  planner.update(
    [
      service('a', '10.0.0.2', [tcp(8080, 80)], [up('10.1.0.5'), up('10.1.0.6')]),
      service('b', '10.0.0.2', [tcp(8081, 81)], [up('10.1.0.5')]),
      service('c', '10.0.0.2', [tcp(8082, 80), every('tcp')], [up('10.1.0.5')]),
    ],
    [],
  );
  const a = planner.update([], ['a']);
  t.same(a.keepRemoved, ['tcp 10.1.0.6 80'], 'a leaves: 10.1.0.5:80 is still kept by c');
  t.equal(planner.protects('tcp 10.1.0.5 81'), true, "b's target port");
  const c = planner.update([], ['c']);
  t.same(
    c.keepRemoved,
    ['tcp 10.1.0.5 80'],
    "c leaves: its port goes, not b's port 81 on the same backend, and its every-port cut is not run",
  );
  t.equal(planner.protects('tcp 10.1.0.5 * 10.0.0.2'), true, "a cut narrowed to the VIP would take b's port 81: protected");
  t.equal(planner.protects('tcp 10.1.0.5 80'), false);
});

t.test('the same id twice keeps the first', async (t) => {
  const twice = planVip(model(service('a', '10.0.0.2', [tcp(80)], []), service('a', '10.0.0.3', [tcp(80)], [])));
  t.same([...twice.state.sets.get('vips')!.elements.keys()], ['10.0.0.2']);
  t.match(twice.problems[0]!.message, /listed twice/);
});

t.test('10,000 services x 10 backends: one pick chain, one element per backend', async (t) => {
  const services = Array.from({ length: 10_000 }, (_, i) => numbered(i, 10));
  const started = performance.now();
  const plan = planVip(model(...services));
  const ms = performance.now() - started;
  t.comment(`planned in ${ms.toFixed(0)} ms`);
  t.same([...plan.state.chains.keys()].sort(), ['output', 'pick-tcp-10', 'prerouting', 'refuse']);
  t.equal(plan.state.sets.get('backends-tcp')!.elements.size, 100_000);
  t.equal(plan.state.sets.get('services')!.elements.size, 10_000);
  t.equal(plan.state.sets.get('vips')!.elements.size, 10_000);
  t.equal(plan.keep.size, 100_000);
  t.same(plan.problems, []);
});

/** How many VIPs of a model are shared: two services or more hold ports of it (the smallest id claiming a port holds it). */
function sharedVips(m: VipModel): number {
  const holders = new Map<string, string>();
  for (const svc of m.services) {
    const plan = planService(svc);
    for (const c of claimsOf(plan)) {
      const h = holders.get(c);
      if (h === undefined || plan.id < h) holders.set(c, plan.id);
    }
  }
  const byVip = new Map<string, Set<string>>();
  for (const [c, id] of holders) {
    const vip = c.split(' ', 1)[0]!;
    byVip.set(vip, (byVip.get(vip) ?? new Set()).add(id));
  }
  return [...byVip.values()].filter((ids) => ids.size > 1).length;
}

t.test('the incremental planner ends where a plan from scratch does (seeded random changes)', async (t) => {
  const seed = testSeed();
  const rng = createRng(seed);
  const planner = new VipPlanner(TABLE);
  let services: VipModel['services'] = [];
  let given: ReturnType<typeof modelChanges>['current'] | undefined;
  const next = { id: 0 };
  const steps: string[] = [];
  let everyPortSteps = 0;
  let pickAnySteps = 0;
  let sharedSteps = 0;
  let contestedSteps = 0;
  for (let i = 0; i < 300; i++) {
    const change = randomChange(rng, services, next);
    services = change.services;
    steps.push(change.what);
    const m = model(...services);
    const before = canonicalOfState(planner.state());
    const beforeState = stateFromCanonical(before)!;
    const c = modelChanges(m, given);
    given = c.current;
    const delta = planner.update(c.upserts, c.removals);
    const full = planVip(m);
    const where = `step ${i} (${change.what}; seed ${seed})`;
    if (canonicalOfState(planner.state()) !== canonicalOfState(full.state)) {
      t.fail(`${where}: incremental and full plans differ; steps ${steps.join(', ')}`);
      return;
    }
    t.same(
      planner.problems(),
      full.problems.filter((p) => !/listed twice in the model/.test(p.message)),
      `${where}: same problems`,
    );
    t.same([...planner.keep()].sort(), [...full.keep].sort(), `${where}: same backends kept`);
    const fresh = new VipPlanner(TABLE);
    fresh.update(modelChanges(m, undefined).upserts, []);
    t.equal(planner.programmed, fresh.programmed, `${where}: same services programmed`);
    const vips = new Set(services.map((s) => planService(s).vip).filter((v) => v !== undefined));
    t.same([...full.state.sets.get('vips')!.elements.keys()].sort(), [...vips].sort(), `${where}: each VIP in vips once`);
    // The delta, applied to the state before, gives the state after; so does diffStates.
    const replay = stateFromCanonical(before)!;
    for (const c of delta.chainsAdded) replay.chains.set(c.name, c);
    applyDelta(replay, { ...delta, chainsAdded: [] } as TableDelta);
    t.equal(canonicalOfState(replay), canonicalOfState(full.state), `${where}: delta replays`);
    const d = diffStates(beforeState, full.state);
    t.notOk('rewrite' in d, `${where}: an element delta suffices`);
    everyPortSteps += full.state.sets.get('services-any')!.elements.size > 0 ? 1 : 0;
    if ([...full.state.chains.keys()].some((c) => c.startsWith('pickany-'))) pickAnySteps++;
    if (sharedVips(m) > 0) sharedSteps++;
    if (full.problems.some((p) => p.code === 'SHOAL_ERR_VIP_CONFLICT' && / of VIP /.test(p.message))) contestedSteps++;
  }
  t.ok(everyPortSteps > 100 && pickAnySteps > 50, `every-port services in ${everyPortSteps} steps, a pickany chain in ${pickAnySteps}`);
  t.ok(
    sharedSteps > 100 && contestedSteps > 100,
    `a VIP shared by services holding distinct ports in ${sharedSteps} steps, a port claimed twice in ${contestedSteps}`,
  );
});

t.test('canonical text round trips; diffStates and deltaScript', async (t) => {
  const a = planVip(webModel()).state;
  const text = canonicalOfState(a);
  t.equal(canonicalOfState(stateFromCanonical(text)!), text, 'round trip');
  const anyText = canonicalOfState(planVip(model(service('any', '10.0.0.4', [every('tcp'), every('udp')], [up('10.1.0.2')]))).state);
  t.match(anyText, /element 10\.0\.0\.4 \. 0 : 10\.1\.0\.2/);
  t.equal(canonicalOfState(stateFromCanonical(anyText)!), anyText, 'round trip with every-port entries');
  t.equal(stateFromCanonical('nonsense'), undefined);
  t.equal(stateFromCanonical(`${text}\nweird line`), undefined);
  const b = planVip(model(service('web', '10.0.0.2', [tcp(80, 8080)], [up('10.1.0.2')]))).state;
  const d = diffStates(stateFromCanonical(text)!, b);
  if ('rewrite' in d) throw new Error(d.rewrite);
  const script = deltaScript('ip', TABLE, d, new Map([...b.sets.values()].map((s) => [s.name, s.kind])));
  t.notMatch(script, /table/, 'no table statement');
  t.match(script, /^add chain ip shoal-t-lb pick-tcp-1\n/, 'chains first');
  t.match(script, /delete chain ip shoal-t-lb pick-udp-2\n$/, 'chain deletes last');
  const changed = stateFromCanonical(text)!;
  changed.sets.get('services')!.head += ' flags interval';
  t.match(diffStates(changed, b), { rewrite: /set services/ }, 'a set declared otherwise needs a rewrite');
  const rule = stateFromCanonical(text)!;
  rule.chains.get('output')!.rules.pop();
  t.match(diffStates(rule, b), { rewrite: /chain output/ }, 'a rule differing needs a rewrite');
});

t.test('ServiceIndex: changed objects, removals and duplicates, as modelChanges sees them', async (t) => {
  const index = new ServiceIndex();
  const a = service('a', '10.0.0.2', [tcp(80)], []);
  const b = service('b', '10.0.0.3', [tcp(80)], []);
  const c = service('c', '10.0.0.4', [tcp(80)], []);
  t.same(index.diff([a, b]), { upserts: [a, b], removals: [], duplicates: [] }, 'all new');
  t.same(index.diff([a, b]), { upserts: [], removals: [], duplicates: [] }, 'the same objects: nothing');
  const b2 = { ...b, backends: [up('10.1.0.2')] };
  t.same(index.diff([b2, a]), { upserts: [b2], removals: [], duplicates: [] }, 'a new object for b; order does not matter');
  const d = index.diff([a, { ...a }, c]);
  t.same(d.upserts, [c]);
  t.same(d.removals, ['b']);
  t.same(
    d.duplicates.map((p) => p.service),
    ['a'],
    'the later copy of a is a duplicate',
  );
  t.equal(index.size, 2);
  const m = model(a, { ...a }, c);
  const mc = modelChanges(m, undefined);
  t.same(
    mc.duplicates.map((p) => p.message),
    d.duplicates.map((p) => p.message),
    'the same problem text as modelChanges',
  );
});
