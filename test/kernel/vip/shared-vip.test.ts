/**
 * Services sharing one VIP on the real kernel, with real traffic: the routing mesh's
 * ingress table, where every published service has the sandbox's own address as its VIP
 * and its own published ports. The testbed of traffic.ts with three backends
 * (10.20.0.11-13), each answering on TCP and UDP 7001 and 7002 with its name and port.
 * Service a publishes tcp 8080 -> 7001 on b1 and b2; service b publishes tcp 8081 -> 7002
 * and udp 5353 -> 7002 on b2 and b3; both claim tcp 8082 (a, the smaller id, keeps it).
 * Checked: each port reaches its own service's backends and target port, and only those;
 * the contested port goes to a and b reports SHOAL_ERR_VIP_CONFLICT for it; a port neither
 * publishes is refused; removing a by an incremental sync cuts a's connections (b2 on 7001
 * too) while b's connection held to the same backend b2 on 7002 stays alive, b's ports keep
 * working and b takes tcp 8082 over; the ruleset is then the plan, a full sync changes
 * nothing, doctor finds nothing, and a fresh namespace gets the same ruleset.
 *
 * Needs root and network namespaces (skipped elsewhere, a failure in CI). Its namespaces
 * are named `vipshare-<hex>-*` and removed in teardown, with the processes it started.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createConntrack } from '../../../src/kernel/conntrack.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { VipSyncer } from '../../../src/vip/apply.ts';
import type { VipModel, VipService } from '../../../src/vip/model.ts';
import { planVip } from '../../../src/vip/plan.ts';
import { canonicalOfState } from '../../../src/vip/table-state.ts';
import { requireKernel } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';
import { counts, hold, realCanonical, requests, tcpEntries, testbed } from './traffic.ts';

const VIP = '10.20.0.100';
const BACKENDS = { b1: '10.20.0.11', b2: '10.20.0.12', b3: '10.20.0.13' } as const;

const serviceA: VipService = {
  id: 'a',
  vip: VIP,
  ports: [
    { protocol: 'tcp', port: 8080, targetPort: 7001 },
    { protocol: 'tcp', port: 8082, targetPort: 7001 },
  ],
  backends: [
    { ip: BACKENDS.b1, healthy: true },
    { ip: BACKENDS.b2, healthy: true },
  ],
};
const serviceB: VipService = {
  id: 'b',
  vip: VIP,
  ports: [
    { protocol: 'tcp', port: 8081, targetPort: 7002 },
    { protocol: 'udp', port: 5353, targetPort: 7002 },
    { protocol: 'tcp', port: 8082, targetPort: 7002 },
  ],
  backends: [
    { ip: BACKENDS.b2, healthy: true },
    { ip: BACKENDS.b3, healthy: true },
  ],
};

function lbModel(table: string, services: VipService[]): VipModel {
  return { tableName: table, services };
}

/** Distinct answers of `count` TCP connections to VIP:port, sorted. */
async function tcpAnswers(ns: string, port: number, count: number): Promise<string[]> {
  return Object.keys(counts(await requests(ns, 'tcp', VIP, port, count))).sort();
}

if (requireKernel(t)) {
  t.test('two services share a VIP on different ports, each reaching only its own backends', async (t) => {
    const prefix = `vipshare-${randomBytes(3).toString('hex')}`;
    const bed = await testbed(t, prefix, BACKENDS);
    const table = `${prefix}-lb`;
    const syncer = new VipSyncer(createNft(bed.client), createConntrack(bed.client));
    const first = await syncer.sync(lbModel(table, [serviceB, serviceA]), false);
    t.equal(first.transaction, 'rewrite', 'the first sync writes the table');
    t.same(
      first.problems.map((p) => `${p.service} ${p.code} ${p.message}`),
      [
        'b SHOAL_ERR_VIP_CONFLICT service b: tcp port 8082 of VIP 10.20.0.100 is also claimed by service a, which keeps it; b loses that port only',
      ],
      'the contested port is reported, nothing else',
    );
    t.equal(first.services, 2, 'both services are programmed');

    // Each port to its own service's backends and target port, over both of them.
    t.same(await tcpAnswers(bed.client, 8080, 30), ['b1:7001', 'b2:7001'], "VIP:8080: a's backends on 7001");
    t.same(await tcpAnswers(bed.client, 8081, 30), ['b2:7002', 'b3:7002'], "VIP:8081: b's backends on 7002");
    t.same(
      Object.keys(counts(await requests(bed.client, 'udp', VIP, 5353, 30))).sort(),
      ['ub2:7002', 'ub3:7002'],
      "udp VIP:5353: b's backends on 7002",
    );
    t.same(await tcpAnswers(bed.client, 8082, 30), ['b1:7001', 'b2:7001'], 'VIP:8082, claimed by both: a keeps it');
    t.same(await requests(bed.client, 'tcp', VIP, 8083, 1), ['ECONNREFUSED'], 'a port neither publishes: refused');
    t.same(await requests(bed.client, 'udp', VIP, 8080, 1), ['ECONNREFUSED'], 'udp 8080 (only tcp 8080 is published): refused');

    // Held connections: a's over both its backends, b's over both of its (b2 is in both services).
    const heldA = await waitUntil(
      async () => {
        const h = await hold(bed, VIP, 8080, 10);
        return h.names.includes('b1:7001') && h.names.includes('b2:7001') ? h : undefined;
      },
      60_000,
      "held connections through a's port on both its backends",
    );
    const heldB = await waitUntil(
      async () => {
        const h = await hold(bed, VIP, 8081, 10);
        return h.names.includes('b2:7002') && h.names.includes('b3:7002') ? h : undefined;
      },
      60_000,
      "held connections through b's port on both its backends",
    );
    t.ok(
      [...(await heldA.ping()), ...(await heldB.ping())].every((r) => r === 'ok'),
      'every held connection echoes',
    );

    // a leaves by an incremental sync.
    const removal = await syncer.sync(lbModel(table, [serviceB]), false);
    t.equal(removal.full, false, 'incremental');
    t.equal(removal.transaction, 'elements', 'an element transaction');
    t.same(removal.failures, [], 'no conntrack failure');
    t.same(removal.problems, [], 'nothing contested any more');
    t.same(
      removal.conntrack.flushed,
      [`tcp ${BACKENDS.b1} 7001`, `tcp ${BACKENDS.b2} 7001`],
      "a's backend ports are cut; b2's port 7002, which b keeps, is not",
    );
    const pingsA = await heldA.ping();
    pingsA.forEach((r, i) => {
      t.not(r, 'ok', `a's connection ${i} (${heldA.names[i]}) is ended: ${r}`);
    });
    t.same(
      await heldB.ping(),
      heldB.names.map(() => 'ok'),
      "b's held connections (b2:7002 among them) still work",
    );
    const entries = await tcpEntries(bed.client);
    t.ok(
      entries.some((e) => e.startsWith(`${VIP}:8081 ${BACKENDS.b2}:7002`)),
      "conntrack still holds b's connection to b2",
    );
    t.notOk(
      entries.some((e) => e.includes(':7001')),
      "no entry left to a's target port",
    );
    t.same(await tcpAnswers(bed.client, 8081, 20), ['b2:7002', 'b3:7002'], "b's tcp port keeps working");
    t.same(Object.keys(counts(await requests(bed.client, 'udp', VIP, 5353, 20))).sort(), ['ub2:7002', 'ub3:7002'], 'and its udp port');
    t.same(await tcpAnswers(bed.client, 8082, 20), ['b2:7002', 'b3:7002'], 'b takes tcp 8082 over, with its target port');
    t.same(await requests(bed.client, 'tcp', VIP, 8080, 1), ['ECONNREFUSED'], "a's port: refused now (the VIP stays, b has it)");

    // The ruleset after the incremental sync is the plan, as nft prints it; full syncs agree.
    const final = lbModel(table, [serviceB]);
    const incremental = await realCanonical(bed.client, table);
    t.equal(incremental, canonicalOfState(planVip(final).state), 'the kernel holds the plan');
    const check = await syncer.sync(final, true);
    t.equal(check.transaction, 'none', 'a full sync over the incremental result changes nothing');
    t.same(await syncer.doctor(final), [], 'doctor finds nothing');
    const fresh = new VipSyncer(createNft(bed.spare), createConntrack(bed.spare));
    t.equal((await fresh.sync(final, true)).transaction, 'rewrite', 'a fresh namespace gets the table written');
    t.equal(await realCanonical(bed.spare, table), incremental, 'a full sync in a fresh namespace writes the same ruleset');

    // a comes back and takes tcp 8082 back by an element transaction. What b sent through 8082
    // reached b's target 7002, which b still keeps for 8081: nothing of b's is cut.
    const back = await syncer.sync(lbModel(table, [serviceA, serviceB]), false);
    t.equal(back.transaction, 'elements');
    t.same(back.conntrack.flushed, [], 'nothing is cut');
    t.same(await tcpAnswers(bed.client, 8082, 20), ['b1:7001', 'b2:7001'], 'a has tcp 8082 again');
    t.same(
      await heldB.ping(),
      heldB.names.map(() => 'ok'),
      "b's held connections still work",
    );
    t.equal(await syncer.remove(table), true, 'remove() deletes the table');
  });
}
