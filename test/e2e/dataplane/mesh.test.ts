/**
 * Acceptance of service load balancing and the routing mesh, with real traffic in a 3-host
 * testbed (a manager in h1, an agent in every host):
 *
 * - `web`, 3 replicas publishing 8080 -> 80, each answering with its hostname (its task's
 *   short id): from the outside client 192.0.2.1 every host's 8080 answers, 300 requests
 *   spread over the three replicas within +-30% of even; `solo` (1 replica, 8081) answers
 *   on the two hosts without its task too; a host reaches its own published port by its
 *   address and by localhost; a port nobody publishes is refused on every host;
 * - a UDP published port answers through the mesh;
 * - `mode=host` answers only on the node running the task, straight to it;
 * - east-west: from another service's task, web's VIP on any port is balanced over web's
 *   tasks on all hosts; a dnsrr service has no VIP;
 * - `service rm web`: 8080 is closed on every host, and no table of any sandbox or host
 *   still names it.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from '../../../src/api/api-types.ts';
import { requireKernel } from '../../support/kernel.ts';
import { type Cluster, exec, inNs, startCluster } from '../../support/dataplane.ts';
import { waitUntil } from '../../support/wait.ts';

/** A request handler for socat: reads the request's headers, answers with the task's hostname (its id's first 12 characters). */
const HANDLER = `#!/bin/sh
cr=$(printf '\\r')
while read -r line; do
  case "$line" in ''|"$cr") break ;; esac
done
printf 'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s\\n' $((\${#HOSTNAME} + 1)) "$HOSTNAME"
`;

const dir = mkdtempSync(join(tmpdir(), 'shoal-mesh-'));
const handler = join(dir, 'handler.sh');
writeFileSync(handler, HANDLER, { mode: 0o755 });
chmodSync(dir, 0o755);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** An HTTP/1.0 server on PORT answering with the task's hostname. */
function httpServer(port: number): string[] {
  return ['socat', `TCP-LISTEN:${port},fork,reuseaddr`, `EXEC:${handler}`];
}

const UDP_SERVER = ['socat', 'UDP-RECVFROM:53,fork,reuseaddr', 'SYSTEM:echo udp-$HOSTNAME'];

function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

/** `count` HTTP GETs from namespace ns, each on a new connection; the bodies' first lines. */
async function get(ns: string, url: string, count: number): Promise<string[]> {
  const urls = Array.from({ length: count }, () => url);
  const r = await inNs(ns, ['curl', '-s', '--max-time', '5', '--no-keepalive', ...urls], 120_000);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function counts(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

/** Every address family of a service's VIP on a network, bare. */
function vipOn(s: Service, networkId: string): string | undefined {
  return s.endpoint.virtualIps.find((v) => v.networkId === networkId)?.addr.split('/')[0];
}

/** Every nft ruleset of the cluster's namespaces (hosts and sandboxes), as one text. */
async function allRulesets(c: Cluster): Promise<string> {
  const list = await exec('ip', ['netns', 'list']);
  const names = list.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(c.prefix) && (/-sb-/.test(n) || /h\d$/.test(n)));
  const out: string[] = [];
  for (const n of names) {
    for (const line of (await inNs(n, ['nft', 'list', 'ruleset'])).stdout.split('\n')) out.push(`${n}: ${line}`);
  }
  return out.join('\n');
}

if (requireKernel(t)) {
  t.test('routing mesh and VIP load balancing, real traffic', async (t) => {
    const c = await startCluster(t, 3);
    const sh = c.sh;
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
      '--',
      ...httpServer(80),
    ]);
    await sh(['service', 'create', '--name', 'solo', '--network', 'front', '--publish', '8081:80', '--', ...httpServer(80)]);
    const web = await c.waitRunning('web', 3);
    const [solo] = await c.waitRunning('solo', 1);
    const webNames = new Set(web.map((x) => x.id.slice(0, 12)));

    await t.test('scenario 5: every host answers on 8080, balanced over the three replicas', async (t) => {
      // the first answer on each host waits for the mesh to be programmed there
      for (let h = 1; h <= 3; h++) {
        await waitUntil(
          async () => (await get(c.underlayNs, `http://${hostAddr(h)}:8080/`, 1)).some((l) => webNames.has(l)),
          30_000,
          `host h${h} to answer on 8080`,
        );
      }
      const all: string[] = [];
      for (let h = 1; h <= 3; h++) {
        const lines = await get(c.underlayNs, `http://${hostAddr(h)}:8080/`, 100);
        t.equal(lines.length, 100, `h${h}: 100 answers`);
        t.ok(
          lines.every((l) => webNames.has(l)),
          `h${h}: every answer is one of web's tasks`,
        );
        all.push(...lines);
      }
      const per = counts(all);
      t.equal(per.size, 3, 'all three replicas answered');
      for (const [name, n] of per) t.ok(n >= 70 && n <= 130, `replica ${name}: ${n} of 300 (within +-30% of 100)`);
    });

    await t.test('scenario 5: a host without the task answers; the node itself by address and localhost', async (t) => {
      const soloName = solo!.id.slice(0, 12);
      for (let h = 1; h <= 3; h++) {
        const lines = await waitUntil(
          async () => {
            const l = await get(c.underlayNs, `http://${hostAddr(h)}:8081/`, 3);
            return l.length === 3 ? l : undefined;
          },
          30_000,
          `h${h} to answer on 8081`,
        );
        t.same(lines, [soloName, soloName, soloName], `h${h}${h === solo!.host ? ' (runs solo)' : ' (no solo task)'} reaches solo`);
      }
      const other = solo!.host === 1 ? 2 : 1;
      t.same(await get(c.hostNs(other), 'http://127.0.0.1:8081/', 2), [soloName, soloName], `h${other} reaches its own 127.0.0.1:8081`);
      t.same(await get(c.hostNs(other), `http://${hostAddr(other)}:8081/`, 2), [soloName, soloName], `h${other} reaches its own address`);
    });

    await t.test('a port nobody publishes is refused on every host', async (t) => {
      for (let h = 1; h <= 3; h++) {
        const r = await inNs(c.underlayNs, [
          'curl',
          '-s',
          '--max-time',
          '5',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://${hostAddr(h)}:8099/`,
        ]);
        t.equal(r.code, 7, `h${h}:8099: connection refused (curl exit 7), not a timeout`);
      }
    });

    await t.test('scenario 5: a UDP published port', async (t) => {
      await sh([
        'service',
        'create',
        '--name',
        'udp',
        '--replicas',
        '2',
        '--network',
        'front',
        '--publish',
        'published=5353,target=53,protocol=udp',
        '--',
        ...UDP_SERVER,
      ]);
      const tasks = await c.waitRunning('udp', 2);
      const names = new Set(tasks.map((x) => `udp-${x.id.slice(0, 12)}`));
      for (let h = 1; h <= 3; h++) {
        const line = await waitUntil(
          async () => {
            const r = await inNs(c.underlayNs, ['sh', '-c', `echo ping | socat -T 2 - UDP:${hostAddr(h)}:5353`], 10_000);
            const l = r.stdout.trim();
            return names.has(l) ? l : undefined;
          },
          30_000,
          `h${h} to answer on 5353/udp`,
          { retryErrors: true },
        );
        t.ok(names.has(line), `h${h}:5353/udp answered by ${line}`);
      }
    });

    await t.test('scenario 5: mode=host answers only where its task runs', async (t) => {
      await sh([
        'service',
        'create',
        '--name',
        'hostmode',
        '--network',
        'front',
        '--publish',
        'published=8082,target=80,mode=host',
        '--',
        ...httpServer(80),
      ]);
      const [task] = await c.waitRunning('hostmode', 1);
      const name = task!.id.slice(0, 12);
      await waitUntil(
        async () => (await get(c.underlayNs, `http://${hostAddr(task!.host)}:8082/`, 1))[0] === name,
        30_000,
        'the task host to answer on 8082',
      );
      t.pass(`h${task!.host} (runs the task) answers on 8082`);
      for (let h = 1; h <= 3; h++) {
        if (h === task!.host) continue;
        const r = await inNs(c.underlayNs, ['curl', '-s', '--max-time', '5', `http://${hostAddr(h)}:8082/`]);
        t.equal(r.code, 7, `h${h} (no task) refuses 8082`);
      }
    });

    await t.test('scenario 4: east-west: the VIP balances over the tasks on every host, on any port; dnsrr has no VIP', async (t) => {
      await sh(['service', 'create', '--name', 'client', '--network', 'front', '--', 'sleep', 'infinity']);
      await sh(['service', 'create', '--name', 'rr', '--endpoint-mode', 'dnsrr', '--network', 'front', '--', 'sleep', 'infinity']);
      const [client] = await c.waitRunning('client', 1);
      await c.waitRunning('rr', 1);
      const vip = vipOn(await c.client.inspectService('web'), front.id);
      t.ok(vip, `web has a VIP on front (${vip})`);
      const rr = await c.client.inspectService('rr');
      t.same(rr.endpoint.virtualIps, [], 'the dnsrr service has no VIP');
      const ns = c.sandboxNs(client!.id, client!.nodeId);
      await waitUntil(async () => (await get(ns, `http://${vip}:80/`, 1)).some((l) => webNames.has(l)), 30_000, 'the VIP to answer');
      const lines = await get(ns, `http://${vip}:80/`, 60);
      t.equal(lines.length, 60, '60 answers through the VIP');
      const per = counts(lines);
      t.same([...per.keys()].sort(), [...webNames].sort(), 'all three replicas (one per host) answered through the VIP');
      // any port: web's tasks also listen on 7000 once told to
      await sh(['service', 'create', '--name', 'web7', '--replicas', '2', '--network', 'front', '--', ...httpServer(7000)]);
      const web7 = await c.waitRunning('web7', 2);
      const vip7 = vipOn(await c.client.inspectService('web7'), front.id);
      const names7 = new Set(web7.map((x) => x.id.slice(0, 12)));
      // the first answers may come while only one of the two is in this sandbox's load
      // balancer (the other's gossip record is on its way): wait for both, with a deadline
      const lines7 = await waitUntil(
        async () => {
          const l = await get(ns, `http://${vip7}:7000/`, 20);
          return l.length === 20 && l.every((x) => names7.has(x)) && counts(l).size === 2 ? l : undefined;
        },
        30_000,
        "web7's VIP on port 7000 to answer from both tasks",
      );
      t.same([...counts(lines7).keys()].sort(), [...names7].sort(), 'a service without published ports is balanced on its port by VIP');
    });

    await t.test('scenario 7: a replica whose health check fails gets no new connections; once it recovers it does', async (t) => {
      // each task is sick while a file named after its hostname exists (tasks share this filesystem)
      const sick = (name: string): string => join(dir, `sick-${name}`);
      await sh([
        'service',
        'create',
        '--name',
        'checked',
        '--replicas',
        '2',
        '--network',
        'front',
        '--publish',
        'published=8094,target=80',
        '--health-cmd',
        `test ! -e ${dir}/sick-$(hostname)`,
        '--health-interval',
        '300ms',
        '--health-retries',
        '1',
        '--',
        ...httpServer(80),
      ]);
      const tasks = await c.waitRunning('checked', 2);
      const names = tasks.map((x) => x.id.slice(0, 12));
      const answers = async (n: number): Promise<Map<string, number>> => counts(await get(c.underlayNs, `http://${hostAddr(1)}:8094/`, n));
      await waitUntil(async () => (await answers(20)).size === 2, 30_000, 'both replicas to answer once healthy');
      t.pass('both healthy replicas answer');
      writeFileSync(sick(names[0]!), '');
      await waitUntil(
        async () => (await c.client.listTasks({ ids: [tasks[0]!.id] }))[0]?.status.health === 'unhealthy',
        30_000,
        'the first replica to be unhealthy',
      );
      const whileSick = await waitUntil(
        async () => {
          const m = await answers(30);
          return !m.has(names[0]!) && m.get(names[1]!) === 30 ? m : undefined;
        },
        30_000,
        'only the healthy replica to answer',
      );
      t.equal(whileSick.get(names[1]!), 30, `30 of 30 from the healthy replica while ${names[0]} is unhealthy`);
      rmSync(sick(names[0]!));
      await waitUntil(async () => (await answers(30)).has(names[0]!), 30_000, 'the recovered replica to answer again');
      t.pass('the recovered replica gets connections again');
      await sh(['service', 'rm', 'checked']);
    });

    await t.test('scenario 6: live attachment: --network-add and --publish-add reach running tasks without a restart', async (t) => {
      await sh(['network', 'create', '-d', 'overlay', 'back']);
      const back = await c.client.inspectNetwork('back');
      await sh(['service', 'create', '--name', 'probe', '--network', 'back', '--', 'sleep', 'infinity']);
      const [probe] = await c.waitRunning('probe', 1);
      const before = await c.running('web7');
      // the first process of each sandbox: the task's own, started before any request (a
      // request being served adds short-lived socat children). By start time, not by PID:
      // PIDs wrap around on a long run, and a child may get a lower one.
      const startTime = (pid: number): number => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
        } catch {
          return Number.POSITIVE_INFINITY; // gone meanwhile: a request's child
        }
      };
      const pids = async (): Promise<number[]> => {
        const out: number[] = [];
        for (const x of before) {
          const r = await exec('ip', ['netns', 'pids', c.sandboxNs(x.id, x.nodeId)]);
          const list = r.stdout
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map(Number);
          out.push(list.reduce((a, b) => (startTime(b) < startTime(a) ? b : a)));
        }
        return out;
      };
      const pidsBefore = await pids();
      await sh(['service', 'update', '--network-add', 'back', '--publish-add', 'published=8093,target=7000', 'web7']);
      const vipBack = await waitUntil(
        async () => vipOn(await c.client.inspectService('web7'), back.id),
        30_000,
        'web7 to get a VIP on back',
      );
      const names7 = new Set(before.map((x) => x.id.slice(0, 12)));
      const probeNs = c.sandboxNs(probe!.id, probe!.nodeId);
      const viaBack = await waitUntil(
        async () => {
          const l = await get(probeNs, `http://${vipBack}:7000/`, 10);
          return l.length === 10 && l.every((x) => names7.has(x)) ? l : undefined;
        },
        30_000,
        "a task on back to reach web7's VIP on back",
      );
      t.equal(counts(viaBack).size, 2, "web7's running tasks answer on the network just attached");
      for (let h = 1; h <= 3; h++) {
        const l = await waitUntil(
          async () => {
            const x = await get(c.underlayNs, `http://${hostAddr(h)}:8093/`, 4);
            return x.length === 4 && x.every((n) => names7.has(n)) ? x : undefined;
          },
          30_000,
          `h${h} to answer on the port just published`,
        );
        t.equal(l.length, 4, `h${h}:8093 answers`);
      }
      t.same((await c.running('web7')).map((x) => x.id).sort(), before.map((x) => x.id).sort(), 'the same tasks');
      t.same(await pids(), pidsBefore, 'the same task processes in the same sandboxes');
      await sh(['service', 'update', '--network-rm', 'back', '--publish-rm', '8093:7000', 'web7']);
      await waitUntil(
        async () => (await inNs(c.underlayNs, ['curl', '-s', '--max-time', '3', `http://${hostAddr(1)}:8093/`])).code === 7,
        30_000,
        '8093 to close',
      );
      t.pass('--publish-rm closes the port');
      t.same(await pids(), pidsBefore, 'still the same task processes');
    });

    await t.test('service rm: the port closes everywhere, nothing is left behind', async (t) => {
      const web = await c.client.inspectService('web');
      const vip = vipOn(web, front.id)!;
      await sh(['service', 'rm', 'web']);
      for (let h = 1; h <= 3; h++) {
        await waitUntil(
          async () => (await inNs(c.underlayNs, ['curl', '-s', '--max-time', '3', `http://${hostAddr(h)}:8080/`])).code === 7,
          30_000,
          `h${h}:8080 to refuse`,
        );
      }
      t.pass('8080 refused on every host');
      // Each namespace's tables converge on their own sync (the task sandboxes' VIP tables,
      // the ingress sandbox's balancer), so wait for all of them, and name what is left on
      // a timeout.
      let left: string[] = [];
      const clean = await waitUntil(
        async () => {
          left = (await allRulesets(c)).split('\n').filter((l) => l.includes(`${vip} `) || /\b8080\b/.test(l));
          return left.length === 0;
        },
        30_000,
        `no ruleset to name web's VIP ${vip} or port 8080`,
      ).catch(() => false);
      t.ok(clean, "no table names web's VIP or port 8080", { left });
    });
  });
}
