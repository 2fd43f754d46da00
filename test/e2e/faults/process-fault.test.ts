/**
 * Process faults under load (docs/RELIABILITY.md): the outside client through the routing
 * mesh and a client task through two VIPs, every request counted, none may fail.
 *
 * - a. a host's agent killed with SIGKILL and started again, on a host that runs replicas
 *   and on a drained host that runs none: the kernel keeps forwarding, the new agent adopts
 *   its tasks (none is replaced), every host is clean again;
 * - b. the manager killed with SIGKILL and kept down (60 s; SHOAL_FAULT_MANAGER_DOWN_S),
 *   then started again: the data plane does not depend on it; no task lost or added.
 *
 * Each fault also reports the time until doctor is clean on every host and the agents' and
 * manager's RSS and open fds before and after (test/support/faults.ts).
 */
import t from 'tap';
import { requireKernel } from '../../support/kernel.ts';
import { agentKillFault, assertNoFailures, endLoads, healthy, managerFault, runFault, startFaultBed } from '../../support/faults.ts';
import { waitUntil } from '../../support/wait.ts';

const MANAGER_DOWN_MS = Number(process.env['SHOAL_FAULT_MANAGER_DOWN_S'] ?? 60) * 1000;

if (requireKernel(t)) {
  t.test('fault: agent and manager SIGKILL under load, no request fails', async (t) => {
    const bed = await startFaultBed(t, { prefix: 'flt-' });
    const { c } = bed;
    let ok = false;
    t.teardown(() => {
      if (!ok) t.comment(`testbed logs kept in ${bed.keepLogs()}`);
    });
    const running = async (): Promise<string[]> => (await c.client.listTasks({ desiredState: 'running' })).map((x) => x.id).sort();

    await t.test('a. an agent on a host with replicas', async (t) => {
      const webHosts = new Set((await c.running('web')).map((x) => x.host));
      const h = [2, 3, 1].find((x) => webHosts.has(x) && x !== bed.clientHost)!;
      const before = await running();
      assertNoFailures(t, await runFault(bed, agentKillFault(bed, h, 'with replicas')));
      t.same(await running(), before, 'the restarted agent adopted its tasks: none replaced');
    });

    await t.test('a. an agent on a drained host without replicas', async (t) => {
      const h = [3, 2].find((x) => x !== bed.clientHost)!;
      const node = c.agents().find((a) => a.host === `h${h}`)!.nodeId;
      await c.sh(['node', 'update', '--availability', 'drain', node]);
      await waitUntil(
        async () => {
          const onIt = (await c.client.listTasks({})).filter(
            (x) =>
              x.nodeId === node && (x.desiredState === 'running' || ['new', 'pending', 'assigned', 'running'].includes(x.status.state)),
          );
          return onIt.length === 0 && (await healthy(c, 'web', 3)) && (await healthy(c, 'api', 2));
        },
        180_000,
        `h${h} to run no task and the services to run elsewhere`,
        { retryErrors: true },
      );
      const before = await running();
      assertNoFailures(t, await runFault(bed, agentKillFault(bed, h, 'no replicas')));
      t.same(await running(), before, 'no task replaced');
      await c.sh(['node', 'update', '--availability', 'active', node]);
    });

    await t.test(`b. the manager SIGKILLed, down for ${MANAGER_DOWN_MS / 1000} s`, async (t) => {
      const before = await running();
      assertNoFailures(t, await runFault(bed, managerFault(bed, MANAGER_DOWN_MS)));
      t.same(await running(), before, 'the same tasks after the manager came back: none lost, none added');
    });

    const final = await endLoads(bed);
    t.ok(
      final.every((s) => s?.done),
      'both loads finished and reported',
    );
    ok = t.passing();
  });
}
