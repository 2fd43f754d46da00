/**
 * Underlay loss and task churn under load (docs/RELIABILITY.md): the outside client through
 * the routing mesh and a client task through two VIPs, every request counted.
 *
 * - 5 % and 20 % packet loss on every host's underlay link (nft `numgen random mod 100 < N
 *   drop`, both directions, inside each host's namespace) for 20 s each
 *   (SHOAL_FAULT_LOSS_S): requests keep being answered (the clients' TCP retransmits; the
 *   loads give a request 10 s); the failures are counted and reported, and once the loss
 *   ends every host is clean and no request fails;
 * - churn: for 45 s (SHOAL_FAULT_CHURN_S) a task process of web or api, picked at random,
 *   is killed with SIGKILL every 3 s (a service loses at most one task at a time); the
 *   loads retry a refused connection once, 250 ms later (nothing was sent), and count those
 *   retries apart. No request may fail, except one that was in flight on the killed server
 *   (its connection breaks when the process dies: no balancer can save it); those are
 *   counted and printed apart, at most two per kill.
 */
import t from 'tap';
import { requireKernel } from '../../support/kernel.ts';
import {
  churnFault,
  classifyChurnFailures,
  clearRulesAtEnd,
  endLoads,
  type FaultResult,
  lossFault,
  runFault,
  startFaultBed,
} from '../../support/faults.ts';

const LOSS_MS = Number(process.env['SHOAL_FAULT_LOSS_S'] ?? 20) * 1000;
const CHURN_MS = Number(process.env['SHOAL_FAULT_CHURN_S'] ?? 45) * 1000;
/** The highest share of failed requests accepted under each loss (a figure to report, with a ceiling that catches a broken path). */
const LOSS_CEILING: Record<number, number> = { 5: 0.02, 20: 0.4 };

if (requireKernel(t)) {
  t.test('fault: underlay packet loss and task churn under load', async (t) => {
    const bed = await startFaultBed(t, { prefix: 'flt3-', retryRefused: true, requestTimeoutMs: 10_000 });
    clearRulesAtEnd(t, bed);
    let ok = false;
    t.teardown(() => {
      if (!ok) t.comment(`testbed logs kept in ${bed.keepLogs()}`);
    });

    for (const percent of [5, 20]) {
      await t.test(`e. ${percent} % packet loss on the underlay for ${LOSS_MS / 1000} s`, async (t) => {
        const spec = lossFault(bed, percent, LOSS_MS);
        const r: FaultResult = await runFault(bed, spec);
        for (const [load, phases] of Object.entries(r.phases)) {
          const p = phases[spec.name];
          const total = (p?.ok ?? 0) + (p?.failed ?? 0);
          const share = total > 0 ? (p?.failed ?? 0) / total : 1;
          t.ok(
            total > 0 && share <= LOSS_CEILING[percent]!,
            `${load}: ${p?.failed ?? 0} of ${total} requests failed under ${percent} % loss (${(share * 100).toFixed(2)} %, ceiling ${LOSS_CEILING[percent]! * 100} %) ${JSON.stringify(p?.errors ?? {})}`,
          );
          const after = phases[`${spec.name}: after`];
          t.equal(after?.failed ?? 0, 0, `${load}: 0 failed requests once the loss ended`);
        }
        t.same(r.allocationProblems, [], 'no duplicated or stray allocation');
      });
    }

    await t.test(`f. churn: task processes of web and api SIGKILLed at random for ${CHURN_MS / 1000} s`, async (t) => {
      const spec = churnFault(bed, CHURN_MS);
      const r = await runFault(bed, spec);
      t.ok(spec.kills() >= Math.floor(CHURN_MS / 3_000 / 2), `${spec.kills()} task processes killed`);
      const kinds = classifyChurnFailures(r, spec.killedAt);
      for (const [load, k] of Object.entries(kinds)) {
        const retried = Object.values(r.phases[load] ?? {}).reduce((n, p) => n + (p.retried ?? 0), 0);
        t.comment(
          `${load}: ${k.inFlightAtKill} request(s) broken in flight by a kill, ${k.other} other failure(s), ${retried} refused connection(s) retried`,
        );
        t.equal(
          k.other,
          0,
          `${load}: no failure but requests in flight when their server was killed ${JSON.stringify(k.otherDetail.slice(0, 10))}`,
        );
        t.ok(
          k.inFlightAtKill <= 2 * spec.kills(),
          `${load}: at most two requests broken per kill (${k.inFlightAtKill} for ${spec.kills()} kills)`,
        );
      }
      t.same(r.allocationProblems, [], 'no duplicated or stray allocation');
    });

    const final = await endLoads(bed);
    t.ok(
      final.every((s) => s?.done),
      'both loads finished and reported',
    );
    ok = t.passing();
  });
}
