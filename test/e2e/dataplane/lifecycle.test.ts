/**
 * Acceptance of draining: tasks shut down by the lifecycle lose no request. A 3-host testbed
 * (a manager in h1, an agent in every host), an overlay `front`, and on it `web` (3
 * replicas of test/fixtures/lifecycle/server.mjs with a health check, publishing 8080 -> 80
 * through the routing mesh), `client` (1 replica, `sleep infinity`) and `other` (2 replicas
 * of the same server, publishing 8081 -> 80).
 *
 * Two steady loads (test/fixtures/lifecycle/load.mjs: GETs on new connections, each with a
 * 3 s deadline): from the outside client 192.0.2.1, round-robin over every host's 8080; and
 * from inside the client task's sandbox, to web's VIP on front, port 80. Phases, each
 * waiting for the cluster to settle (the manager lists the wanted tasks running and no old
 * task still alive) and then for a steady stretch of requests:
 *
 *   baseline; scale web=6; scale web=2; drain a host (h2, or h3 when the client task runs
 *   on h2: draining the client's own host would end the east-west load with its task), then
 *   set it active again; a rolling update (`--args`, parallelism 1); `--network-add back`
 *   (the running tasks attached in place); `service rm other`; the agent of a host with a
 *   web task killed with SIGKILL and started again (it adopts the tasks, none is replaced).
 *
 * Each phase, for each load: 0 failed requests. Afterwards `shoal doctor` is clean on every
 * host, and a web task's sandbox keeps the kernel's default conntrack TCP established
 * timeout (432000 s).
 *
 * When a request failed, web's logs (when each task began to listen) and its task history
 * are printed; when the test fails, the testbed's logs are copied to /tmp before teardown
 * removes them.
 */
import t from 'tap';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service, Task } from '../../../src/api/api-types.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { alive } from '../../../src/testbed/processes.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { type Cluster, inNs, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { finished, type LoadStatus, type PhaseCounts, READY, SERVER, setPhase, startLoad, stopLoads } from '../../support/load.ts';
import { waitUntil } from '../../support/wait.ts';

/** Requests a second: from outside (over the three hosts) and east-west (to the VIP). */
const OUTSIDE_RATE = 60;
const EAST_WEST_RATE = 40;
/** A phase's steady stretch, after it settled: this many seconds of each load's requests. */
const STEADY_SECONDS = 3;
/** How long a phase may take to settle (drains wait for acknowledgements and connections). */
const SETTLE_MS = 180_000;
/** The kernel's default nf_conntrack_tcp_timeout_established (5 days). */
const CONNTRACK_ESTABLISHED_DEFAULT = '432000';

const LIVE_STATES = new Set(['new', 'pending', 'assigned', 'running']);

function describe(p: PhaseCounts | undefined): string {
  if (!p) return 'no request';
  const tasks = Object.entries(p.byTask)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  const errors = Object.entries(p.errors)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  return (
    `ok=${p.ok} failed=${p.failed} skipped=${p.skipped} slow(>0.9s)=${p.slow} max=${p.maxMs}ms` +
    (errors ? ` errors[${errors}]` : '') +
    ` tasks[${tasks}]`
  );
}

function vipOn(s: Service, networkId: string): string | undefined {
  return s.endpoint.virtualIps.find((v) => v.networkId === networkId)?.addr.split('/')[0];
}

function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

if (requireKernel(t)) {
  t.test('scenario 6, scenario 8, scenario 10: no request fails while tasks scale, drain, update and go', async (t) => {
    const c: Cluster = await startCluster(t, 3);
    const paths = testbedPaths(c.prefix);
    const dir = mkdtempSync(join(tmpdir(), 'shoal-lifecycle-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const sh = c.sh;
    const keepLogs = (): void => {
      const keep = join(tmpdir(), `shoal-e2e-lifecycle-${c.prefix}logs`);
      try {
        cpSync(paths.logDir, keep, { recursive: true });
        t.comment(`testbed logs copied to ${keep}`);
      } catch (err) {
        t.comment(`cannot copy the testbed logs: ${(err as Error).message}`);
      }
    };
    const t0 = Date.now();
    const note = (m: string): void => {
      t.comment(`[${new Date().toISOString()} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
    };

    await sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    await sh([
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '3',
      '--network',
      'front',
      '--publish',
      'published=8080,target=80',
      ...READY,
      '--',
      ...SERVER,
    ]);
    await sh(['service', 'create', '--name', 'client', '--network', 'front', '--', 'sleep', 'infinity']);
    await sh(['service', 'create', '--name', 'other', '--replicas', '2', '--network', 'front', '--publish', '8081:80', '--', ...SERVER]);
    await c.waitRunning('web', 3);
    await c.waitRunning('other', 2);
    const [client] = await c.waitRunning('client', 1);
    const clientNs = c.sandboxNs(client!.id, client!.nodeId);
    const vip = vipOn(await c.client.inspectService('web'), front.id);
    if (!vip) throw new Error('web has no VIP on front');
    note(`client task ${client!.id.slice(0, 12)} on h${client!.host}; web's VIP on front ${vip}`);

    // every path answers before the loads start: each host's mesh (8080, and 8081 for other), the VIP
    const answers = async (ns: string, url: string): Promise<boolean> =>
      (await inNs(ns, ['curl', '-sf', '--max-time', '3', '--no-keepalive', url, url, url], 15_000)).code === 0;
    for (let h = 1; h <= 3; h++) {
      for (const port of [8080, 8081]) {
        await waitUntil(() => answers(c.underlayNs, `http://${hostAddr(h)}:${port}/`), 60_000, `h${h}:${port} to answer`);
      }
    }
    await waitUntil(() => answers(clientNs, `http://${vip}:80/`), 60_000, "web's VIP to answer from the client task");

    const outside = startLoad(t, {
      dir,
      name: 'outside',
      ns: c.underlayNs,
      rate: OUTSIDE_RATE,
      targets: [1, 2, 3].map((h) => `${hostAddr(h)}:8080`),
      phase: 'baseline',
    });
    const eastWest = startLoad(t, {
      dir,
      name: 'east-west',
      ns: clientNs,
      rate: EAST_WEST_RATE,
      targets: [`${vip}:80`],
      phase: 'baseline',
    });
    const loads = [outside, eastWest];

    /** web's (or any service's) tasks that are not over yet, from the manager. */
    const liveTasks = async (service: string): Promise<Task[]> =>
      (await c.client.listTasks({})).filter((x) => x.serviceName === service && LIVE_STATES.has(x.status.state));
    /** Exactly n live tasks, every one running and meant to run, each passing `also`. */
    const settled = async (service: string, n: number, also: (x: Task) => boolean = () => true): Promise<boolean> => {
      const live = await liveTasks(service);
      return (
        live.length === n &&
        live.every(
          (x) =>
            x.desiredState === 'running' && x.status.state === 'running' && (service !== 'web' || x.status.health === 'healthy') && also(x),
        )
      );
    };
    const webTasks = async (): Promise<string> =>
      (await liveTasks('web')).map((x) => `${x.id.slice(0, 12)}@h${c.hostOf(x.nodeId)}:${x.desiredState}/${x.status.state}`).join(' ');

    const phases: string[] = [];
    /** Switches both loads to the phase, runs the change, waits for it to settle, then for a steady stretch. */
    const phase = async (name: string, change: () => Promise<void>, settle: () => Promise<boolean>): Promise<void> => {
      phases.push(name);
      for (const l of loads) setPhase(l, name);
      note(`${name}: start (web: ${await webTasks()})`);
      await change();
      await waitUntil(settle, SETTLE_MS, `${name} to settle`, { retryErrors: true, intervalMs: 100 });
      note(`${name}: settled (web: ${await webTasks()})`);
      const from = loads.map((l) => finished(l, name));
      const want = [OUTSIDE_RATE * STEADY_SECONDS, EAST_WEST_RATE * STEADY_SECONDS];
      await waitUntil(
        () => loads.every((l, i) => finished(l, name) - from[i]! >= want[i]!),
        STEADY_SECONDS * 1000 + 60_000,
        `${name}: a steady stretch of requests`,
        { intervalMs: 100 },
      );
      note(`${name}: steady stretch done`);
    };

    let results: Array<LoadStatus | undefined> = [];
    let phasesFailed = false;
    try {
      await phase(
        'baseline',
        async () => {},
        () => settled('web', 3),
      );
      await phase(
        'scale web=6',
        async () => {
          await sh(['service', 'scale', 'web=6']);
        },
        () => settled('web', 6),
      );
      await phase(
        'scale web=2',
        async () => {
          await sh(['service', 'scale', 'web=2']);
        },
        () => settled('web', 2),
      );

      const drainHost = client!.host === 2 ? 3 : 2;
      const drainNode = c.agents().find((a) => a.host === `h${drainHost}`)!.nodeId;
      const offDrained = (x: Task): boolean => x.nodeId !== drainNode;
      await phase(
        `drain h${drainHost}`,
        async () => {
          await sh(['node', 'update', '--availability', 'drain', drainNode]);
        },
        async () => (await settled('web', 2, offDrained)) && (await settled('other', 2, offDrained)) && (await settled('client', 1)),
      );
      await phase(
        `h${drainHost} active again`,
        async () => {
          await sh(['node', 'update', '--availability', 'active', drainNode]);
        },
        async () => (await c.client.inspectNode(drainNode)).spec.availability === 'active' && (await settled('web', 2)),
      );
      await phase(
        'rolling update',
        async () => {
          // the same server with one more argument (it reads the port only): a new task template
          await sh(['service', 'update', '--args', `${SERVER[1]} 80 v2`, '--update-parallelism', '1', 'web']);
        },
        async () =>
          (await c.client.inspectService('web')).updateStatus.state === 'completed' &&
          (await settled('web', 2, (x) => x.spec.args.at(-1) === 'v2')),
      );
      const webIds = new Set((await liveTasks('web')).map((x) => x.id));
      await sh(['network', 'create', '-d', 'overlay', 'back']);
      await phase(
        '--network-add',
        async () => {
          await sh(['service', 'update', '--network-add', 'back', 'web']);
        },
        async () => {
          const live = await liveTasks('web');
          // attached in place: the same tasks, each now on back too
          return live.length === 2 && live.every((x) => webIds.has(x.id) && x.networks.some((n) => n.networkName === 'back'));
        },
      );
      await phase(
        'service rm other',
        async () => {
          await sh(['service', 'rm', 'other']);
        },
        async () => (await liveTasks('other')).length === 0 && (await settled('web', 2)),
      );
      // The agent of a host with a web task dies (SIGKILL) and comes back: the kernel keeps
      // serving meanwhile, and the new agent adopts the tasks and finds its tables right.
      const webHosts = new Set((await c.running('web')).map((x) => x.host));
      const killHost = [2, 3, 1].find((h) => webHosts.has(h) && h !== client!.host) ?? [...webHosts][0]!;
      const killed = c.agents().find((a) => a.host === `h${killHost}`)!;
      const webBefore = new Set((await liveTasks('web')).map((x) => x.id));
      let lbSyncsAfter = 0;
      await phase(
        `agent of h${killHost} killed and restarted`,
        async () => {
          process.kill(killed.pid, 'SIGKILL');
          await waitUntil(() => !alive(killed.pid), 10_000, `h${killHost}'s agent to die`);
          c.startAgent(killHost, 'restarted');
        },
        async () => {
          const r = await localApiRequest(join(paths.dataDir(killHost), 'agent.sock'), 'GET', '/status');
          const s = r.body as { connected: boolean; overlay: { syncs: number }; lb?: { syncs: number } };
          lbSyncsAfter = s.lb?.syncs ?? 0;
          const live = await liveTasks('web');
          // adopted: the same tasks, none replaced
          return (
            s.connected &&
            s.overlay.syncs >= 1 &&
            lbSyncsAfter >= 1 &&
            live.length === webBefore.size &&
            live.every((x) => webBefore.has(x.id))
          );
        },
      );
      note(`h${killHost}'s new agent: ${lbSyncsAfter} load-balancer sync(s)`);
    } catch (err) {
      phasesFailed = true;
      throw err;
    } finally {
      // end the loads whatever happened, and keep what they counted
      results = await stopLoads(loads);
      for (const [i, l] of loads.entries()) {
        if (l.stderr.trim() !== '') note(`${l.name} load stderr: ${l.stderr.trim()}`);
        const r = results[i];
        for (const name of r?.order ?? []) note(`${l.name} / ${name}: ${describe(r!.phases[name])}`);
      }
      if (phasesFailed) keepLogs();
    }

    if (results.some((r) => phases.some((name) => (r?.phases[name]?.failed ?? 0) > 0))) {
      // when each of web's tasks began to listen, to set beside the failures' times
      const logs = await c.shoal(['service', 'logs', '--no-trunc', 'web']);
      note(`web's logs:\n${logs.stdout}${logs.stderr}`);
      // and web's task history: when each was created, where, and its last state
      const history = (await c.client.listTasks({ services: ['web'] }))
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
        .map(
          (x) =>
            `${x.id.slice(0, 12)} slot ${x.slot} h${c.hostOf(x.nodeId)} spec v${x.specVersion} created ${x.createdAt}: ` +
            `desired ${x.desiredState}, ${x.status.state} (${x.status.message}) at ${x.status.timestamp}`,
        );
      note(`web's tasks:\n${history.join('\n')}`);
    }
    for (const [i, l] of loads.entries()) {
      const r = results[i];
      t.ok(r?.done, `the ${l.name} load finished and reported (exit ${l.proc.exitCode ?? l.proc.signalCode})`);
      for (const name of phases) {
        const p = r?.phases[name];
        t.ok(p && p.ok > 0, `${l.name} / ${name}: requests were answered (${describe(p)})`);
        t.equal(
          p?.failed ?? 0,
          0,
          `${l.name} / ${name}: 0 failed requests (${describe(p)})${p && p.failed > 0 ? `\n  first failures: ${JSON.stringify(p.failures.slice(0, 20))}` : ''}`,
        );
      }
    }

    await t.test('shoal doctor finds nothing to change on any host', async (t) => {
      for (let h = 1; h <= 3; h++) {
        const dataDir = paths.dataDir(h);
        const r = await waitUntil(
          async () => {
            const d = await c.shoal(['doctor', '--data-dir', dataDir]);
            return d.code === 0 ? d : false;
          },
          30_000,
          `doctor on h${h} to report no drift`,
        ).catch(async () => c.shoal(['doctor', '--data-dir', dataDir]));
        t.equal(r.code, 0, `h${h}: ${r.stdout.trim()} ${r.stderr.trim()}`);
      }
    });

    await t.test("a web task's sandbox keeps the kernel's conntrack established timeout", async (t) => {
      const [task] = await c.running('web');
      const ns = c.sandboxNs(task!.id, task!.nodeId);
      const r = await inNs(ns, ['cat', '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established']);
      t.equal(r.code, 0, `read in ${ns} ${r.stderr.trim()}`);
      t.equal(r.stdout.trim(), CONNTRACK_ESTABLISHED_DEFAULT, `task ${task!.id.slice(0, 12)}: nf_conntrack_tcp_timeout_established`);
    });

    if (!t.passing()) keepLogs();
  });
}
