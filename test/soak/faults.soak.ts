/**
 * Soak: the fault suite's faults in rotation for SHOAL_SOAK_MINUTES minutes (default 10;
 * `npm run soak -- --minutes N`), under the suite's two loads (test/support/faults.ts: the
 * outside client through the routing mesh, a client task through two VIPs; a refused
 * connection is retried once and counted apart). Not in CI.
 *
 * The rotation: churn (web's and api's task processes SIGKILLed at random, 60 s), an agent
 * SIGKILL and restart, churn, the manager SIGKILLed and down for 20 s, churn, 5 % underlay
 * loss for 20 s, churn, a node's death and return, churn, a partition for 20 s; again from
 * the start while time is left. After each fault it prints the per-phase figures and the
 * RSS and fd trend of every agent and the manager.
 *
 * Acceptance: 0 failed requests in every churn but those in flight on a server when it was
 * killed (counted apart), 0 in every zero-failure fault, bounded
 * failures for node death and partition, and the RSS of each agent that ran through the
 * whole soak (h1's: the rotation never restarts it) grows less than 5 %.
 */
import t from 'tap';
import { requireKernel } from '../support/kernel.ts';
import {
  agentKillFault,
  assertBounded,
  assertNoFailures,
  churnFault,
  classifyChurnFailures,
  clearRulesAtEnd,
  endLoads,
  type FaultResult,
  type FaultSpec,
  lossFault,
  managerFault,
  nodeDeathFault,
  partitionFault,
  partitionHost,
  type ProcSample,
  runFault,
  sample,
  startFaultBed,
} from '../support/faults.ts';

const MINUTES = Number(process.env['SHOAL_SOAK_MINUTES'] ?? 10);
const CHURN_MS = 60_000;
const RSS_GROWTH_LIMIT = 0.05;

if (requireKernel(t)) {
  t.test(`soak: faults in rotation for ${MINUTES} min under load`, async (t) => {
    const bed = await startFaultBed(t, { prefix: 'flt4-', retryRefused: true, requestTimeoutMs: 10_000 });
    clearRulesAtEnd(t, bed);
    const { c } = bed;
    let ok = false;
    t.teardown(() => {
      if (!ok) t.comment(`testbed logs kept in ${bed.keepLogs()}`);
    });
    const other = [3, 2].find((h) => h !== bed.clientHost)!;
    const withReplicas = async (): Promise<number> => {
      const webHosts = new Set((await c.running('web')).map((x) => x.host));
      return [2, 3].find((h) => webHosts.has(h) && h !== bed.clientHost) ?? other;
    };
    type Step = { kind: 'zero' | 'bounded' | 'loss' | 'churn'; make: () => Promise<FaultSpec | undefined> };
    const killTimes: number[] = [];
    let churnRuns = 0;
    const churn: Step = {
      kind: 'churn',
      make: async () => {
        // a name of its own for each run: the loads count by phase name
        const spec = churnFault(bed, CHURN_MS, 3_000, `churn ${++churnRuns}`);
        const inject = spec.inject;
        return {
          ...spec,
          inject: async () => {
            await inject();
            killTimes.push(...spec.killedAt);
          },
        };
      },
    };
    const rotation: Step[] = [
      churn,
      { kind: 'zero', make: async () => agentKillFault(bed, await withReplicas(), 'with replicas') },
      churn,
      { kind: 'zero', make: async () => managerFault(bed, 20_000) },
      churn,
      { kind: 'loss', make: async () => lossFault(bed, 5, 20_000) },
      churn,
      { kind: 'bounded', make: async () => nodeDeathFault(bed, other) },
      churn,
      {
        kind: 'bounded',
        make: async () => {
          const h = await partitionHost(bed);
          return h ? partitionFault(bed, [h], 20_000) : undefined;
        },
      },
    ];

    // the RSS/fd trend: every sample of each process, keyed by host and PID
    const trend = new Map<string, Array<{ atS: number; s: ProcSample }>>();
    const t0 = Date.now();
    const record = (): void => {
      const now = sample(bed);
      const add = (key: string, s: ProcSample | undefined): void => {
        if (!s) return;
        const list = trend.get(key) ?? [];
        list.push({ atS: Math.round((Date.now() - t0) / 1000), s });
        trend.set(key, list);
      };
      for (let h = 1; h <= c.hosts; h++) add(`agent h${h} pid ${bed.agentPid(h)}`, now.agents[`h${h}`]);
      add(`manager pid ${bed.managerPid()}`, now.manager);
    };
    record();
    const end = t0 + MINUTES * 60_000;
    const results: Array<{ kind: Step['kind']; r: FaultResult }> = [];
    for (let i = 0; Date.now() < end; i++) {
      const step = rotation[i % rotation.length]!;
      bed.suffix = i < rotation.length ? '' : ` (round ${Math.floor(i / rotation.length) + 1})`;
      const spec = await step.make();
      if (!spec) {
        t.comment(`step ${i}: skipped (no host fits)`);
        continue;
      }
      const r = await runFault(bed, spec);
      results.push({ kind: step.kind, r });
      record();
      const line = [...trend.entries()]
        .filter(([, l]) => l.length > 0)
        .map(([k, l]) => `${k}: ${l.at(-1)!.s.rssKb} kB/${l.at(-1)!.s.fds} fds`)
        .join('; ');
      t.comment(`after ${spec.name} (${Math.round((Date.now() - t0) / 1000)} s): ${line}`);
    }

    for (const { kind, r } of results) {
      await t.test(r.fault, async (t) => {
        if (kind === 'zero') assertNoFailures(t, r);
        else if (kind === 'churn') {
          for (const [load, k] of Object.entries(classifyChurnFailures(r, killTimes))) {
            t.equal(
              k.other,
              0,
              `${load}: no failure but requests in flight on a killed server (${k.inFlightAtKill}) ${JSON.stringify(k.otherDetail.slice(0, 5))}`,
            );
          }
          t.same(r.allocationProblems, [], 'no duplicated or stray allocation');
        } else if (kind === 'bounded') assertBounded(t, r);
        else {
          for (const [load, phases] of Object.entries(r.phases)) {
            const p = phases[r.fault];
            t.comment(
              `${load}: ${p?.failed ?? 0} of ${(p?.ok ?? 0) + (p?.failed ?? 0)} failed under loss ${JSON.stringify(p?.errors ?? {})}`,
            );
            t.equal(phases[`${r.fault}: after`]?.failed ?? 0, 0, `${load}: 0 failed requests once the loss ended`);
          }
        }
      });
    }
    const churns = results.filter((x) => x.kind === 'churn');
    let churnOk = 0;
    let churnFailed = 0;
    let churnRetried = 0;
    let inFlight = 0;
    let otherFailures = 0;
    for (const { r } of churns) {
      for (const phases of Object.values(r.phases)) {
        for (const p of Object.values(phases)) {
          churnOk += p.ok;
          churnFailed += p.failed;
          churnRetried += p.retried ?? 0;
        }
      }
      for (const k of Object.values(classifyChurnFailures(r, killTimes))) {
        inFlight += k.inFlightAtKill;
        otherFailures += k.other;
      }
    }
    t.comment(
      `churn in all: ${churns.length} run(s), ${killTimes.length} kills, ${churnOk} ok, ${churnFailed} failed (${inFlight} in flight on a killed server, ${otherFailures} other), ${churnRetried} refused connections retried`,
    );
    t.equal(otherFailures, 0, 'no failed request under churn but those in flight on a killed server');

    for (const [key, list] of trend) {
      const first = list[0]!;
      const last = list.at(-1)!;
      const growth = (last.s.rssKb - first.s.rssKb) / first.s.rssKb;
      t.comment(
        `${key}: ${list.length} sample(s) over ${last.atS - first.atS} s, RSS ${first.s.rssKb} -> ${last.s.rssKb} kB (${(growth * 100).toFixed(1)} %), fds ${first.s.fds} -> ${last.s.fds}; ${list.map((x) => `${x.atS}s:${x.s.rssKb}`).join(' ')}`,
      );
    }
    const h1 = [...trend.entries()].find(([k]) => k.startsWith('agent h1 '));
    if (h1 && h1[1].length > 1 && [...trend.keys()].filter((k) => k.startsWith('agent h1 ')).length === 1) {
      const first = h1[1][0]!.s;
      const last = h1[1].at(-1)!.s;
      const growth = (last.rssKb - first.rssKb) / first.rssKb;
      t.ok(
        growth < RSS_GROWTH_LIMIT,
        `h1's agent RSS grew ${(growth * 100).toFixed(1)} % over the soak (limit ${RSS_GROWTH_LIMIT * 100} %)`,
      );
      t.ok(last.fds <= first.fds + 5, `h1's agent holds ${last.fds} fds (${first.fds} at the start)`);
    } else {
      t.fail("h1's agent did not run through the whole soak");
    }

    const final = await endLoads(bed);
    t.ok(
      final.every((s) => s?.done),
      'both loads finished and reported',
    );
    ok = t.passing();
  });
}
