/**
 * User scenarios 4, 6, 8, 9 and 14 (docs/scenarios.md), the parts the data-plane files do
 * not check, on one 3-host testbed cluster (a manager in h1, an agent in every host) with
 * real traffic. The subtests share the cluster and run in order, the destructive ones last:
 *
 * - a task's MAC on its overlay is 02:42 + its address bytes; a dnsrr service's name
 *   resolves to its task addresses, a VIP service's to its VIP;
 * - wrk, from the outside client to one host's published port and from a host to its own:
 *   thousands of requests (counted, never timed), every replica answering, zero errors;
 * - `service scale web=5`, then 2, under a steady load over every host's published port: no
 *   failed request; afterwards only running tasks answer, and every host's ingress
 *   balancer and every sandbox's VIP balancer hold exactly web's running tasks;
 * - a drained host keeps answering on the published port once its tasks moved away;
 * - the manager killed: published ports on every host, the VIP and the embedded DNS in a
 *   task on every host keep working; once a new manager runs, networks, services and tasks
 *   are the ones from before, none lost or duplicated;
 * - a node that dies (its agent killed, its underlay link cut): its task leaves the other
 *   hosts' DNS answers and load balancers, and is replaced on a live node.
 *
 * web runs test/fixtures/lifecycle/server.mjs (answers with the task's short ID) behind a
 * health check, so a new task gets connections once it listens (as in lifecycle.test.ts).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service, Task } from '../../../src/api/api-types.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { alive } from '../../../src/testbed/processes.ts';
import { readState, testbedPaths } from '../../../src/testbed/state.ts';
import { type Cluster, inNs, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { finished, READY, SERVER, setPhase, startLoad, stopLoads } from '../../support/load.ts';
import { waitUntil } from '../../support/wait.ts';

/** Requests a second of the steady load during scaling (over the three hosts). */
const LOAD_RATE = 40;
/** wrk runs until this many requests were answered in all (a count: nothing here is timed). */
const WRK_REQUESTS = 3000;

/**
 * wrk's script: counts answers by status and body (the answering task's short ID) in each
 * thread, and prints the totals and wrk's error counters as two JSON lines when done.
 */
const WRK_SCRIPT = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body)
  local k = tostring(status) .. " " .. string.gsub(body or "", "%s+$", "")
  counts[k] = (counts[k] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, th in ipairs(threads) do
    for k, v in pairs(th:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format("%q:%d", k, v)) end
  io.write("COUNTS {" .. table.concat(parts, ",") .. "}\\n")
  local e = summary.errors
  io.write(string.format('ERRORS {"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
`;

interface WrkResult {
  requests: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  byAnswer: Map<string, number>;
}

function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

function vipOn(s: Service, networkId: string): string | undefined {
  return s.endpoint.virtualIps.find((v) => v.networkId === networkId)?.addr.split('/')[0];
}

function addrOn(x: Task, networkId: string): string {
  return x.networks.find((n) => n.networkId === networkId)?.addresses[0]?.split('/')[0] ?? '';
}

/** `count` GETs from a namespace, each on a new connection (the server closes it after each answer, so each is balanced anew); the bodies' first lines. */
async function get(ns: string, url: string, count: number): Promise<string[]> {
  const r = await inNs(
    ns,
    ['curl', '-s', '--max-time', '5', '-H', 'Connection: close', ...Array.from({ length: count }, () => url)],
    120_000,
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** dig through a sandbox's embedded resolver (127.0.0.11, redirected in that namespace); sorted answers. */
async function dig(ns: string, name: string): Promise<string[]> {
  const r = await inNs(ns, ['dig', '+short', '+time=3', '+tries=1', '@127.0.0.11', name]);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(';'))
    .sort();
}

/** One wrk run in a namespace, every request on a new connection (so each one is balanced). */
async function wrk(ns: string, script: string, url: string): Promise<WrkResult> {
  const r = await inNs(
    ns,
    ['wrk', '-t', '2', '-c', '8', '-d', '3s', '--timeout', '5s', '-H', 'Connection: close', '-s', script, url],
    120_000,
  );
  const counts = /^COUNTS (\{.*\})$/m.exec(r.stdout)?.[1];
  const errors = /^ERRORS (\{.*\})$/m.exec(r.stdout)?.[1];
  if (r.code !== 0 || !counts || !errors) throw new Error(`wrk ${url} in ${ns} failed (${r.code}): ${r.stdout}${r.stderr}`);
  const e = JSON.parse(errors) as WrkResult['errors'] & { requests: number };
  return {
    requests: e.requests,
    errors: { connect: e.connect, read: e.read, write: e.write, status: e.status, timeout: e.timeout },
    byAnswer: new Map(Object.entries(JSON.parse(counts) as Record<string, number>)),
  };
}

/** wrk again and again until WRK_REQUESTS were made; the sums. */
async function wrkUntil(ns: string, script: string, url: string): Promise<WrkResult> {
  const sum: WrkResult = { requests: 0, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, byAnswer: new Map() };
  for (let run = 0; sum.requests < WRK_REQUESTS; run++) {
    if (run === 40) throw new Error(`40 wrk runs made only ${sum.requests} requests to ${url}`);
    const r = await wrk(ns, script, url);
    sum.requests += r.requests;
    for (const k of Object.keys(sum.errors) as Array<keyof WrkResult['errors']>) sum.errors[k] += r.errors[k];
    for (const [k, v] of r.byAnswer) sum.byAnswer.set(k, (sum.byAnswer.get(k) ?? 0) + v);
  }
  return sum;
}

/**
 * The backends an lb table holds for a key prefix (`VIP . ` east-west, `ADDR . PORT . ` in
 * the ingress sandbox), from the text of its backends maps: `KEY . index : backend[ . port]`.
 */
async function backends(ns: string, table: string, key: string): Promise<string[]> {
  const r = await inNs(ns, ['nft', 'list', 'table', 'ip', table]);
  if (r.code !== 0) throw new Error(`nft list table ip ${table} in ${ns}: ${r.stderr}`);
  const re = new RegExp(`${key.replaceAll('.', '\\.')}\\d+ : (\\d+\\.\\d+\\.\\d+\\.\\d+)`, 'g');
  return [...new Set([...r.stdout.matchAll(re)].map((m) => m[1]!))].sort();
}

if (requireKernel(t)) {
  t.test('traffic through the mesh: MACs and dnsrr, a load generator, scaling, drain, the manager and a node gone', async (t) => {
    const c: Cluster = await startCluster(t, 3);
    const paths = testbedPaths(c.prefix);
    const sh = c.sh;
    const dir = mkdtempSync(join(tmpdir(), 'shoal-scenarios-traffic-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'count.lua');
    writeFileSync(script, WRK_SCRIPT);

    await sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    const ingress = await c.client.inspectNetwork('ingress');
    await sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '-p', '8080:80', ...READY, '--', ...SERVER]);
    await sh(['service', 'create', '--name', 'probe', '--mode', 'global', '--network', 'front', '--', 'sleep', 'infinity']);
    await sh([
      'service',
      'create',
      '--name',
      'rr',
      '--replicas',
      '2',
      '--endpoint-mode',
      'dnsrr',
      '--network',
      'front',
      '--',
      'sleep',
      'infinity',
    ]);
    const web0 = await c.waitRunning('web', 3);
    let probes = await c.waitRunning('probe', 3);
    const rr = await c.waitRunning('rr', 2);
    const vip = vipOn(await c.client.inspectService('web'), front.id)!;
    const probeOn = (h: number): Task & { host: number } => probes.find((x) => x.host === h)!;
    const healthy = async (n: number): Promise<Task[] | undefined> => {
      const tasks = (await c.client.listTasks({ services: ['web'], desiredState: 'running' })).filter(
        (x) => x.status.state === 'running' && x.status.health === 'healthy',
      );
      const live = (await c.client.listTasks({ services: ['web'] })).filter((x) =>
        ['new', 'pending', 'assigned', 'running'].includes(x.status.state),
      );
      return tasks.length === n && live.length === n ? tasks : undefined;
    };
    await waitUntil(() => healthy(3), 90_000, 'web to run 3 healthy tasks', { retryErrors: true });
    for (let h = 1; h <= 3; h++) {
      await waitUntil(async () => (await get(c.underlayNs, `http://${hostAddr(h)}:8080/`, 3)).length === 3, 60_000, `h${h}:8080 to answer`);
    }

    await t.test('scenario 4: a MAC is 02:42 and the address; dnsrr resolves to the tasks, a VIP service to its VIP', async (t) => {
      for (const x of [...web0, ...rr]) {
        const ip = addrOn(x, front.id);
        const want = `02:42:${ip
          .split('.')
          .map((b) => Number(b).toString(16).padStart(2, '0'))
          .join(':')}`;
        const r = await inNs(c.sandboxNs(x.id, x.nodeId), ['ip', '-j', 'addr', 'show']);
        const links = JSON.parse(r.stdout) as Array<{ address: string; addr_info: Array<{ local: string }> }>;
        const link = links.find((l) => l.addr_info.some((a) => a.local === ip));
        t.equal(link?.address, want, `${x.serviceName} task on h${x.host}: ${ip} has MAC ${want}`);
      }
      const rrAddrs = rr.map((x) => addrOn(x, front.id)).sort();
      const webAddrs = web0.map((x) => addrOn(x, front.id)).sort();
      for (let h = 1; h <= 3; h++) {
        const ns = c.sandboxNs(probeOn(h).id, probeOn(h).nodeId);
        const got = await waitUntil(
          async () => {
            const a = await dig(ns, 'rr');
            return a.join() === rrAddrs.join() ? a : undefined;
          },
          20_000,
          `rr to resolve to its tasks on h${h}`,
        );
        t.same(got, rrAddrs, `h${h}: the dnsrr name rr is its task addresses`);
        t.same(await dig(ns, 'web'), [vip], `h${h}: web is its VIP`);
        t.same(await dig(ns, 'tasks.web'), webAddrs, `h${h}: tasks.web is its task addresses`);
      }
    });

    await t.test(
      'scenario 14: wrk from outside and from a node to its own port: thousands of requests over every replica, no error',
      async (t) => {
        const names = new Set(web0.map((x) => x.id.slice(0, 12)));
        const runs: Array<[string, string, string]> = [
          ['the outside client to h1', c.underlayNs, `http://${hostAddr(1)}:8080/`],
          ['h2 to its own address', c.hostNs(2), `http://${hostAddr(2)}:8080/`],
          ['h3 to its own localhost', c.hostNs(3), 'http://127.0.0.1:8080/'],
        ];
        for (const [what, ns, url] of runs) {
          const r = await wrkUntil(ns, script, url);
          const answers = [...r.byAnswer.entries()].map(([k, v]) => `${k}:${v}`).join(' ');
          t.ok(r.requests >= WRK_REQUESTS, `${what}: ${r.requests} requests (at least ${WRK_REQUESTS})`);
          t.same(r.errors, { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, `${what}: no socket error, no timeout, no non-2xx`);
          const ok = [...names].map((n) => r.byAnswer.get(`200 ${n}`) ?? 0);
          t.equal(
            ok.reduce((a, b) => a + b, 0),
            r.requests,
            `${what}: every request answered 200 by one of web's tasks (${answers})`,
          );
          t.ok(
            ok.every((n) => n > 0),
            `${what}: every replica served (${ok.join(', ')})`,
          );
        }
      },
    );

    await t.test(
      'scenario 6: scale to 5 then 2 under a steady load: no failed request, every balancer holds the running tasks',
      async (t) => {
        const load = startLoad(t, {
          dir,
          name: 'load',
          ns: c.underlayNs,
          rate: LOAD_RATE,
          targets: [1, 2, 3].map((h) => `${hostAddr(h)}:8080`),
          phase: 'scale web=5',
        });
        const stretch = async (name: string): Promise<void> => {
          const from = finished(load, name);
          await waitUntil(() => finished(load, name) - from >= LOAD_RATE * 3, 60_000, `${name}: a steady stretch of requests`, {
            intervalMs: 100,
          });
        };
        await sh(['service', 'scale', 'web=5']);
        await waitUntil(() => healthy(5), 180_000, 'web to run 5 healthy tasks', { retryErrors: true });
        await stretch('scale web=5');
        setPhase(load, 'scale web=2');
        await sh(['service', 'scale', 'web=2']);
        const two = await waitUntil(() => healthy(2), 180_000, 'web to run 2 tasks and no other', { retryErrors: true });
        await stretch('scale web=2');
        setPhase(load, 'after');
        await stretch('after');
        const [result] = await stopLoads([load]);
        for (const name of ['scale web=5', 'scale web=2', 'after']) {
          const p = result?.phases[name];
          t.ok(p && p.ok > 0, `${name}: requests answered (${JSON.stringify(p?.byTask)})`);
          t.equal(
            p?.failed ?? 0,
            0,
            `${name}: 0 failed requests ${JSON.stringify(p?.errors ?? {})}${p && p.failed > 0 ? `\n  first failures: ${JSON.stringify(p.failures.slice(0, 20))}` : ''}`,
          );
        }
        const twoNames = two.map((x) => x.id.slice(0, 12)).sort();
        t.same(Object.keys(result?.phases['after']?.byTask ?? {}).sort(), twoNames, 'after convergence only the 2 running tasks answer');

        const frontAddrs = two.map((x) => addrOn(x, front.id)).sort();
        const ingressAddrs = two.map((x) => addrOn(x, ingress.id)).sort();
        t.ok(
          ingressAddrs.every((a) => /^10\.255\./.test(a)),
          `web's tasks have ingress addresses (${ingressAddrs.join(' ')})`,
        );
        probes = await c.waitRunning('probe', 3);
        for (let h = 1; h <= 3; h++) {
          const lb = `${c.agentPrefix(h)}lb`;
          const isb = `${c.agentPrefix(h)}sb-ingress-sbox`;
          const ew = await waitUntil(
            async () => {
              const b = await backends(c.sandboxNs(probeOn(h).id, probeOn(h).nodeId), lb, `${vip} . `);
              return b.join() === frontAddrs.join() ? b : undefined;
            },
            15_000,
            `h${h}'s probe task to balance web's VIP over the 2 running tasks`,
            { retryErrors: true },
          ).catch(async () => backends(c.sandboxNs(probeOn(h).id, probeOn(h).nodeId), lb, `${vip} . `));
          t.same(ew, frontAddrs, `h${h}: the VIP's backends in a task sandbox are the running tasks`);
          const mesh = await waitUntil(
            async () => {
              const b = await backends(isb, lb, '. 8080 . ');
              return b.join() === ingressAddrs.join() ? b : undefined;
            },
            15_000,
            `h${h}'s ingress sandbox to balance 8080 over the 2 running tasks`,
            { retryErrors: true },
          ).catch(async () => backends(isb, lb, '. 8080 . '));
          t.same(mesh, ingressAddrs, `h${h}: the routing mesh's backends for 8080 are the running tasks`);
        }
      },
    );

    await t.test('scenario 8: a drained node keeps answering on the published port', async (t) => {
      const node = c.agents().find((a) => a.host === 'h3')!.nodeId;
      await sh(['node', 'update', '--availability', 'drain', node]);
      const moved = await waitUntil(
        async () => {
          const tasks = await healthy(2);
          const onH3 = (await c.client.listTasks({})).filter(
            (x) => x.nodeId === node && ['new', 'pending', 'assigned', 'running'].includes(x.status.state),
          );
          return tasks && onH3.length === 0 && tasks.every((x) => x.nodeId !== node) ? tasks : undefined;
        },
        180_000,
        'h3 to run no task and web to run 2 healthy tasks elsewhere',
        { retryErrors: true },
      );
      const names = new Set(moved.map((x) => x.id.slice(0, 12)));
      t.match(await sh(['node', 'inspect', '--format', '{{.Spec.Availability}}', node]), /^drain/, 'h3 is drained');
      const lines = await waitUntil(
        async () => {
          const l = await get(c.underlayNs, `http://${hostAddr(3)}:8080/`, 20);
          return l.length === 20 && l.every((x) => names.has(x)) ? l : undefined;
        },
        30_000,
        'the drained h3 to answer on 8080',
      );
      t.equal(lines.length, 20, 'h3, drained and without tasks, answers 20 of 20 on 8080 from the tasks elsewhere');
      await sh(['node', 'update', '--availability', 'active', node]);
      probes = await c.waitRunning('probe', 3);
      t.pass('h3 is active again and runs its probe task');
    });

    await t.test(
      'scenario 9: with the manager gone, ports, VIPs and DNS keep working on every node; it comes back with nothing lost or duplicated',
      async (t) => {
        const manager = readState(paths.stateFile)?.manager;
        t.ok(manager && alive(manager.pid), 'the testbed records a running manager');
        if (!manager) return;
        const web = await waitUntil(() => healthy(2), 60_000, 'web to be settled', { retryErrors: true });
        const webNames = new Set(web.map((x) => x.id.slice(0, 12)));
        const webAddrs = web.map((x) => addrOn(x, front.id)).sort();
        const networksBefore = await sh(['network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}']);
        const servicesBefore = await sh(['service', 'ls', '--format', '{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}']);
        const tasksBefore = (await c.client.listTasks({ desiredState: 'running' })).map((x) => x.id).sort();
        const vipsBefore = JSON.stringify((await c.client.inspectService('web')).endpoint);

        process.kill(manager.pid, 'SIGKILL');
        await waitUntil(() => !alive(manager.pid), 10_000, 'the manager to die');
        const agentConnected = async (h: number): Promise<boolean> => {
          const r = await localApiRequest(join(paths.dataDir(h), 'agent.sock'), 'GET', '/status');
          return (r.body as { connected: boolean }).connected;
        };
        await waitUntil(
          async () => {
            for (let h = 1; h <= 3; h++) if (await agentConnected(h)) return false;
            return true;
          },
          30_000,
          'every agent to notice the manager is gone',
          { retryErrors: true },
        );
        t.not((await c.shoal(['service', 'ls'])).code, 0, 'the CLI cannot reach the manager');
        for (let h = 1; h <= 3; h++) {
          const outside = await get(c.underlayNs, `http://${hostAddr(h)}:8080/`, 10);
          t.ok(outside.length === 10 && outside.every((l) => webNames.has(l)), `h${h}:8080 answers from outside (${outside.length} of 10)`);
          const own = await get(c.hostNs(h), 'http://127.0.0.1:8080/', 5);
          t.ok(own.length === 5 && own.every((l) => webNames.has(l)), `h${h} reaches its own published port`);
          const ns = c.sandboxNs(probeOn(h).id, probeOn(h).nodeId);
          const viaVip = await get(ns, `http://${vip}:80/`, 10);
          t.ok(viaVip.length === 10 && viaVip.every((l) => webNames.has(l)), `h${h}: a task reaches web's VIP`);
          t.same(await dig(ns, 'web'), [vip], `h${h}: DNS answers web with its VIP`);
          t.same(await dig(ns, 'tasks.web'), webAddrs, `h${h}: and tasks.web with its tasks`);
        }

        const up = await c.up();
        t.equal(up.code, 0, `testbed up starts a manager again ${up.stderr}`);
        await waitUntil(
          async () => {
            for (let h = 1; h <= 3; h++) if (!(await agentConnected(h))) return false;
            return true;
          },
          60_000,
          'every agent to reconnect',
          { retryErrors: true },
        );
        const nodes = await waitUntil(
          async () => {
            const rows = (await sh(['node', 'ls'])).trimEnd().split('\n').slice(1);
            return rows.length === 3 && rows.every((l) => /\sReady\s+Active\b/.test(l)) ? rows : undefined;
          },
          60_000,
          'node ls to list three Ready, Active nodes',
          { retryErrors: true },
        );
        t.equal(nodes.length, 3, 'three nodes, Ready and Active');
        t.equal(
          await sh(['network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}']),
          networksBefore,
          'the same networks',
        );
        const services = await waitUntil(
          async () => {
            const s = await sh(['service', 'ls', '--format', '{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}']);
            return s === servicesBefore ? s : undefined;
          },
          60_000,
          'service ls to show the same services with every task running',
          { retryErrors: true },
        ).catch(() => sh(['service', 'ls', '--format', '{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}']));
        t.equal(services, servicesBefore, 'the same services, the same replicas and ports');
        t.same((await c.client.listTasks({ desiredState: 'running' })).map((x) => x.id).sort(), tasksBefore, 'the same tasks, none added');
        t.equal(JSON.stringify((await c.client.inspectService('web')).endpoint), vipsBefore, 'the same VIPs and published ports');
        const after = await get(c.underlayNs, `http://${hostAddr(2)}:8080/`, 10);
        t.ok(after.length === 10 && after.every((l) => webNames.has(l)), 'the published port still answers from the same tasks');
      },
    );

    await t.test(
      'scenario 8: a node that dies leaves every load balancer and DNS answer within seconds; its task runs elsewhere',
      async (t) => {
        const h3 = c.agents().find((a) => a.host === 'h3')!;
        await sh(['service', 'scale', 'web=3']);
        const three = await waitUntil(() => healthy(3), 120_000, 'web to run 3 healthy tasks', { retryErrors: true });
        const lost = three.find((x) => x.nodeId === h3.nodeId);
        t.ok(lost, 'the third task goes to h3, the node with the fewest tasks');
        if (!lost) return;
        const lostIp = addrOn(lost, front.id);
        const lostIngress = addrOn(lost, ingress.id);
        probes = await c.waitRunning('probe', 3);
        for (const h of [1, 2]) {
          const ns = c.sandboxNs(probeOn(h).id, probeOn(h).nodeId);
          await waitUntil(async () => (await dig(ns, 'tasks.web')).includes(lostIp), 20_000, `h${h} to resolve h3's task`);
        }
        t.pass("h1 and h2 resolve h3's task before");

        process.kill(h3.pid, 'SIGKILL');
        const cut = await inNs(c.underlayNs, ['ip', 'link', 'set', 'h3', 'down']);
        t.equal(cut.code, 0, `h3's agent killed and its underlay link cut ${cut.stderr}`);
        t.teardown(() => inNs(c.underlayNs, ['ip', 'link', 'set', 'h3', 'up']).then(() => undefined));
        for (const h of [1, 2]) {
          const ns = c.sandboxNs(probeOn(h).id, probeOn(h).nodeId);
          const lb = `${c.agentPrefix(h)}lb`;
          await waitUntil(
            async () =>
              !(await dig(ns, 'tasks.web')).includes(lostIp) &&
              !(await backends(ns, lb, `${vip} . `)).includes(lostIp) &&
              !(await backends(`${c.agentPrefix(h)}sb-ingress-sbox`, lb, '. 8080 . ')).includes(lostIngress),
            15_000,
            `h3's task to leave h${h}'s DNS answers and load balancers`,
            { retryErrors: true },
          );
          t.pass(`h${h}: h3's task is gone from tasks.web, the VIP's backends and the mesh's backends`);
        }
        await waitUntil(
          async () => (await c.client.inspectNode(h3.nodeId)).status.state === 'down',
          90_000,
          'the manager to mark h3 down',
          { retryErrors: true },
        );
        t.pass('the manager marks h3 down');
        const replaced = async (): Promise<Task[] | undefined> => {
          const tasks = (await c.client.listTasks({ services: ['web'], desiredState: 'running' })).filter(
            (x) => x.nodeId !== h3.nodeId && x.status.state === 'running' && x.status.health === 'healthy',
          );
          return tasks.length === 3 ? tasks : undefined;
        };
        const moved = await waitUntil(replaced, 120_000, "h3's task to be replaced on a live node", { retryErrors: true }).catch(
          async (err: Error) => {
            const all = await c.client.listTasks({ services: ['web'] });
            t.comment(
              all
                .map((x) => `${x.id.slice(0, 12)} h${c.hostOf(x.nodeId)} desired ${x.desiredState} ${x.status.state} ${x.status.health}`)
                .join('\n'),
            );
            throw err;
          },
        );
        t.equal(moved.length, 3, 'web runs 3 healthy tasks again, none on h3');
        const names = new Set(moved.map((x) => x.id.slice(0, 12)));
        let last: string[] = [];
        const lines = await waitUntil(
          async () => {
            last = await get(c.underlayNs, `http://${hostAddr(1)}:8080/`, 30);
            return last.length === 30 && last.every((x) => names.has(x)) && new Set(last).size === 3 ? last : undefined;
          },
          30_000,
          'h1:8080 to answer from the 3 live tasks',
        ).catch(async (err: Error) => {
          const isb = `${c.agentPrefix(1)}sb-ingress-sbox`;
          t.comment(`tasks: ${moved.map((x) => `${x.id.slice(0, 12)}@h${c.hostOf(x.nodeId)} ${addrOn(x, ingress.id)}`).join(' ')}`);
          t.comment(`last answers: ${JSON.stringify(last)}`);
          t.comment(`h1's mesh backends: ${(await backends(isb, `${c.agentPrefix(1)}lb`, '. 8080 . ')).join(' ')}`);
          throw err;
        });
        t.equal(lines.length, 30, 'h1:8080 answers from the 3 live tasks, the replacement among them');
      },
    );
  });
}
