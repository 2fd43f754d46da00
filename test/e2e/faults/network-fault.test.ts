/**
 * Network faults under load (docs/RELIABILITY.md): the outside client through the routing
 * mesh and a client task through two VIPs, every request counted.
 *
 * - c. node death: a host's agent killed and its underlay cut (an nft drop rule on eth0
 *   inside the host's namespace). Failures are bounded: none later than 5 s after the other
 *   hosts' gossip declares the node dead; the manager marks it down and replaces its tasks.
 *   Then the cut is undone and the agent started again: the node rejoins, every host is
 *   clean, no request fails. The outside load leaves the dead host's own address out
 *   meanwhile, as an outside balancer's health check would (nothing answers there).
 * - d. partition: one host cut off from the two others for 30 s (SHOAL_FAULT_PARTITION_S),
 *   each side dropping the other's underlay addresses; each side runs a task of web, the
 *   client task's side (the manager's) a task of api;
 *   failures stop within 5 s of both sides' detection; after the heal everything converges
 *   and no request fails.
 */
import t from 'tap';
import { requireKernel } from '../../support/kernel.ts';
import {
  assertBounded,
  clearRulesAtEnd,
  endLoads,
  nodeDeathFault,
  partitionFault,
  partitionHost,
  runFault,
  startFaultBed,
} from '../../support/faults.ts';

const PARTITION_MS = Number(process.env['SHOAL_FAULT_PARTITION_S'] ?? 30) * 1000;

if (requireKernel(t)) {
  t.test('fault: node death and a partition under load, failures bounded by detection', async (t) => {
    const bed = await startFaultBed(t, { prefix: 'flt2-' });
    clearRulesAtEnd(t, bed);
    let ok = false;
    t.teardown(() => {
      if (!ok) t.comment(`testbed logs kept in ${bed.keepLogs()}`);
    });

    // the partition first, while every host runs web (after a node death one may run nothing)
    await t.test(`d. a partition into two groups for ${PARTITION_MS / 1000} s, then the heal`, async (t) => {
      const alone = await partitionHost(bed);
      t.ok(alone, 'a host to cut off: each side runs web, the client side (with the manager) runs api');
      if (!alone) return;
      // the heal costs nothing: the cut-off side's session comes back as soon as gossip sees the manager's node
      assertBounded(t, await runFault(bed, partitionFault(bed, [alone], PARTITION_MS)), { cleanRecovery: true });
    });

    await t.test('c. node death (agent killed, underlay cut), then the node comes back', async (t) => {
      const dead = [3, 2].find((h) => h !== bed.clientHost)!;
      assertBounded(t, await runFault(bed, nodeDeathFault(bed, dead)));
    });

    const final = await endLoads(bed);
    t.ok(
      final.every((s) => s?.done),
      'both loads finished and reported',
    );
    ok = t.passing();
  });
}
