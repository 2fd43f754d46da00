/**
 * Every-port VIPs on the real kernel, with real traffic (Docker's VIP: VIP:any-port ->
 * backend:same-port). The testbed of traffic.ts with two backends (10.20.0.11-12), each
 * answering on TCP and UDP 7001 and 7002 with its name and port; VipSyncer programs the
 * client's table. Checked: TCP and UDP connections to VIP:7001 and VIP:7002 reach the same
 * port on both backends; an explicit port of the same VIP wins for its port (80 -> 7001); a
 * port no backend listens on is refused by the backend; an every-port VIP without a healthy
 * backend is refused at once; removing a backend by an incremental sync cuts what the VIP
 * sent it (on any port) and nothing else (a direct connection to it stays), and moves new
 * connections to the other one; the ruleset after the incremental syncs is the plan, nft
 * prints it back as planned, a full sync over it changes nothing and writes the same in a
 * fresh namespace.
 *
 * Needs root and network namespaces (skipped elsewhere, a failure in CI). Its namespaces
 * are named `vipany-<hex>-*` and removed in teardown, with the processes it started.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createConntrack } from '../../../src/kernel/conntrack.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { VipSyncer } from '../../../src/vip/apply.ts';
import type { VipBackend, VipModel, VipService } from '../../../src/vip/model.ts';
import { planVip } from '../../../src/vip/plan.ts';
import { canonicalOfState } from '../../../src/vip/table-state.ts';
import { requireKernel } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';
import { counts, hold, PORTS, realCanonical, requests, tcpEntries, testbed } from './traffic.ts';

const VIP = '10.20.0.100';
const VIP_DOWN = '10.20.0.101';
const BACKENDS = { b1: '10.20.0.11', b2: '10.20.0.12' } as const;
type Name = keyof typeof BACKENDS;
const NAMES = Object.keys(BACKENDS) as Name[];

function lbModel(table: string, backends: Partial<Record<Name, Partial<VipBackend>>>): VipModel {
  const list: VipBackend[] = NAMES.filter((n) => backends[n]).map((n) => ({ ip: BACKENDS[n], healthy: true, ...backends[n] }));
  const services: VipService[] = [
    {
      id: 'any',
      vip: VIP,
      ports: [
        { protocol: 'tcp', port: 0, targetPort: 0 },
        { protocol: 'udp', port: 0, targetPort: 0 },
        { protocol: 'tcp', port: 80, targetPort: 7001 },
      ],
      backends: list,
    },
    { id: 'down', vip: VIP_DOWN, ports: [{ protocol: 'tcp', port: 0, targetPort: 0 }], backends: [{ ip: BACKENDS.b1, healthy: false }] },
  ];
  return { tableName: table, services };
}

if (requireKernel(t)) {
  t.test('every-port VIP: any port of the VIP to the same port of a backend', async (t) => {
    const prefix = `vipany-${randomBytes(3).toString('hex')}`;
    const bed = await testbed(t, prefix, BACKENDS);
    const table = `${prefix}-lb`;
    const syncer = new VipSyncer(createNft(bed.client), createConntrack(bed.client));
    const first = await syncer.sync(lbModel(table, { b1: {}, b2: {} }), false);
    t.equal(first.transaction, 'rewrite', 'the first sync writes the table');
    t.same(first.problems, [], 'the model is valid');

    // Every port, its own port on the backend, over both backends; TCP and UDP.
    for (const port of PORTS) {
      const tcp = counts(await requests(bed.client, 'tcp', VIP, port, 40));
      t.same(
        Object.keys(tcp).sort(),
        [`b1:${port}`, `b2:${port}`],
        `40 connections to VIP:${port} over both, port kept: ${JSON.stringify(tcp)}`,
      );
      const udp = counts(await requests(bed.client, 'udp', VIP, port, 30));
      t.same(Object.keys(udp).sort(), [`ub1:${port}`, `ub2:${port}`], `30 UDP requests to VIP:${port} over both: ${JSON.stringify(udp)}`);
    }
    // The explicit port wins for its port.
    const explicit = counts(await requests(bed.client, 'tcp', VIP, 80, 20));
    t.same(Object.keys(explicit).sort(), ['b1:7001', 'b2:7001'], `VIP:80 goes to 7001 (explicit port first): ${JSON.stringify(explicit)}`);
    // Nobody listens on 7003: the backend refuses it (a reset, a port unreachable).
    t.same(await requests(bed.client, 'tcp', VIP, 7003, 2), ['ECONNREFUSED', 'ECONNREFUSED'], 'a port no backend listens on: refused');
    t.same(await requests(bed.client, 'udp', VIP, 7003, 2), ['ECONNREFUSED', 'ECONNREFUSED'], 'over UDP too');
    // No healthy backend: refused at once, on any port.
    t.same(await requests(bed.client, 'tcp', VIP_DOWN, 7001, 1), ['ECONNREFUSED'], 'every-port VIP without a healthy backend: refused');
    t.same(await requests(bed.client, 'udp', VIP_DOWN, 7001, 1), ['ECONNREFUSED'], 'a protocol it does not publish: refused');

    // Held connections: through the VIP to both backends on 7002, and one directly to b1.
    const viaVip = await waitUntil(
      async () => {
        const h = await hold(bed, VIP, 7002, 12);
        return h.names.includes('b1:7002') && h.names.includes('b2:7002') ? h : undefined;
      },
      60_000,
      'held connections through the VIP on both backends',
    );
    const direct = await hold(bed, BACKENDS.b1, 7002, 1);
    t.same(direct.names, ['b1:7002'], 'a direct connection to b1');
    t.ok(
      (await viaVip.ping()).every((r) => r === 'ok'),
      'every held connection echoes',
    );
    const before = await tcpEntries(bed.client);
    t.ok(before.includes(`${BACKENDS.b1}:7002 ${BACKENDS.b1}:7002`), 'conntrack holds the direct connection');
    t.ok(
      before.some((e) => e.startsWith(`${VIP}:7002 ${BACKENDS.b1}:`)),
      'and b1 through the VIP',
    );

    // b1 leaves by an incremental sync.
    const removal = await syncer.sync(lbModel(table, { b2: {} }), false);
    t.equal(removal.full, false, 'incremental');
    t.equal(removal.transaction, 'elements', 'an element transaction');
    t.same(removal.failures, [], 'no conntrack failure');
    const b1 = BACKENDS.b1;
    t.same(
      removal.conntrack.flushed,
      [`tcp ${b1} * ${VIP}`, `tcp ${b1} 7001`, `udp ${b1} * ${VIP}`],
      'b1 loses what the VIP sent it on every port, and its explicit target port',
    );
    const after = await tcpEntries(bed.client);
    t.notOk(
      after.some((e) => e.startsWith(`${VIP}:`) && e.includes(` ${b1}:`)),
      'no entry left from the VIP to b1',
    );
    t.ok(after.includes(`${b1}:7002 ${b1}:7002`), 'the direct connection to b1 keeps its entry');
    const pings = await viaVip.ping();
    viaVip.names.forEach((name, i) => {
      if (name.startsWith('b1')) t.not(pings[i], 'ok', `connection ${i} (${name}, removed) is ended: ${pings[i]}`);
      else t.equal(pings[i], 'ok', `connection ${i} (${name}) still works`);
    });
    t.same(await direct.ping(), ['ok'], 'the direct connection to b1 still works');
    for (const port of PORTS) {
      t.same(counts(await requests(bed.client, 'tcp', VIP, port, 15)), { [`b2:${port}`]: 15 }, `new connections to VIP:${port} go to b2`);
      t.same(counts(await requests(bed.client, 'udp', VIP, port, 10)), { [`ub2:${port}`]: 10 }, `and UDP to VIP:${port}`);
    }

    // More incremental changes (the count goes to 0 and back: pickany chains come and go).
    t.same((await syncer.sync(lbModel(table, {}), false)).failures, [], 'no conntrack failure');
    t.same(await requests(bed.client, 'tcp', VIP, 7001, 1), ['ECONNREFUSED'], 'no backend left: refused');
    const reopened = await syncer.sync(lbModel(table, { b1: { draining: true }, b2: {} }), false);
    t.same(reopened.conntrack.opened, [`udp ${VIP} *`], 'the every-port UDP entry opens again: its un-NATed flows are deleted');
    t.same(reopened.failures, [], 'by a conntrack run that succeeds');
    t.same(counts(await requests(bed.client, 'udp', VIP, 7001, 5)), { 'ub2:7001': 5 }, 'a draining backend gets no new flow');
    const final = lbModel(table, { b1: {}, b2: {} });
    const back = await syncer.sync(final, false);
    t.equal(back.transaction, 'elements', 'b1 back: an element transaction');
    t.same(Object.keys(counts(await requests(bed.client, 'tcp', VIP, 7002, 30))).sort(), ['b1:7002', 'b2:7002'], 'b1 is back');

    // The ruleset after the incremental syncs is the plan, as nft prints it; full syncs agree.
    const incremental = await realCanonical(bed.client, table);
    t.equal(incremental, canonicalOfState(planVip(final).state), 'the kernel holds the plan (nft prints it back as planned)');
    const check = await syncer.sync(final, true);
    t.equal(check.transaction, 'none', 'a full sync over the incremental result changes nothing');
    t.same(await syncer.doctor(final), [], 'doctor finds nothing');
    const fresh = new VipSyncer(createNft(bed.spare), createConntrack(bed.spare));
    t.equal((await fresh.sync(final, true)).transaction, 'rewrite', 'a fresh namespace gets the table written');
    t.equal(await realCanonical(bed.spare, table), incremental, 'a full sync in a fresh namespace writes the same ruleset');
    t.equal(await syncer.remove(table), true, 'remove() deletes the table');
  });
}
