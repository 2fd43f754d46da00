/**
 * The routing mesh's host table on the real kernel, with real connections:
 *
 *   client ns (192.0.2.1) -- veth -- host ns (192.0.2.11; gw0 172.18.0.1/16) -- veth -- "ingress" ns 172.18.0.2
 *
 * - ingress-mode ports reach the ingress namespace's listener from the client, from the
 *   host's own address and from the host's localhost (route_localnet on the bridge and the
 *   masquerade of local sources); a mode=host port is translated to its target port;
 *   a port nobody publishes is refused;
 * - WholeTables: a second full sync changes nothing, doctor is empty when the kernel
 *   matches and names the drift when it does not; an unwanted table is deleted.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { execInNetns } from '../../src/kernel/exec.ts';
import { createNft } from '../../src/kernel/nft.ts';
import { createSysctl } from '../../src/kernel/sysctl.ts';
import { planMeshHost } from '../../src/vip/mesh-plan.ts';
import { WholeTables } from '../../src/vip/mesh.ts';
import { throwawayNetns } from '../support/kernel.ts';
import { waitUntil } from '../support/wait.ts';

function ip(netns: string, ...args: string[]): void {
  execFileSync('ip', ['-n', netns, ...args], { stdio: 'pipe' });
}

async function fetchLine(netns: string, addr: string, port: number): Promise<{ code: number; out: string }> {
  try {
    const r = await execInNetns(netns, 'socat', ['-T', '3', '-', `TCP:${addr}:${port},connect-timeout=3`], {
      input: '',
      okExitCodes: [0, 1],
    });
    return { code: r.code, out: r.stdout.trim() };
  } catch (err) {
    return { code: -1, out: String(err) };
  }
}

t.test('the mesh host table sends published ports to the ingress namespace', async (t) => {
  const host = throwawayNetns(t, 'meshh');
  const client = throwawayNetns(t, 'meshc');
  const isb = throwawayNetns(t, 'meshi');
  if (!host || !client || !isb) return;
  ip(client, 'link', 'set', 'lo', 'up');
  ip(host, 'link', 'set', 'lo', 'up');
  ip(isb, 'link', 'set', 'lo', 'up');
  ip(client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host);
  ip(client, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0');
  ip(client, 'link', 'set', 'eth0', 'up');
  ip(host, 'addr', 'add', '192.0.2.11/24', 'dev', 'eth0');
  ip(host, 'link', 'set', 'eth0', 'up');
  ip(host, 'link', 'add', 'mk-gw0', 'type', 'bridge');
  ip(host, 'addr', 'add', '172.18.0.1/16', 'dev', 'mk-gw0');
  ip(host, 'link', 'set', 'mk-gw0', 'up');
  ip(host, 'link', 'add', 'mk-e1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', isb);
  ip(host, 'link', 'set', 'mk-e1', 'master', 'mk-gw0', 'up');
  ip(isb, 'addr', 'add', '172.18.0.2/16', 'dev', 'eth1');
  ip(isb, 'link', 'set', 'eth1', 'up');
  ip(isb, 'route', 'add', 'default', 'via', '172.18.0.1');
  await createSysctl(host).set('net.ipv4.ip_forward', 1);
  await createSysctl(host).set('net.ipv4.conf.mk-gw0.route_localnet', 1);

  const servers = [
    spawn('ip', ['netns', 'exec', isb, 'socat', 'TCP-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo ingress-8080'], { stdio: 'ignore' }),
    spawn('ip', ['netns', 'exec', isb, 'socat', 'TCP-LISTEN:9090,fork,reuseaddr', 'SYSTEM:echo host-9090'], { stdio: 'ignore' }),
  ];
  t.teardown(() => {
    for (const s of servers) s.kill('SIGKILL');
  });

  const model = {
    tableName: 'mk-mesh',
    bridge: 'mk-gw0',
    ingressAddress: '172.18.0.2',
    ingressPorts: [{ protocol: 'tcp' as const, port: 8080 }],
    hostPorts: [{ protocol: 'tcp' as const, port: 8081, address: '172.18.0.2', targetPort: 9090, owner: 'task-1' }],
  };
  const plan = planMeshHost(model);
  t.same(plan.problems, []);
  const tables = new WholeTables((ns) => createNft(ns === '' ? host : ns));
  const wanted = [{ netns: '', name: 'mk-mesh', table: plan.table }];
  t.same(await tables.sync(wanted, true), [], 'the table is created');
  t.same(await tables.doctor(wanted), [], 'doctor: the kernel holds the planned table (canonical text compares equal)');
  t.same(await tables.sync(wanted, true), [], 'a second full sync finds nothing to do');

  const line = await waitUntil(
    async () => {
      const r = await fetchLine(client, '192.0.2.11', 8080);
      return r.out === 'ingress-8080' ? r.out : undefined;
    },
    10_000,
    'the client to reach the published port',
  );
  t.equal(line, 'ingress-8080', 'client -> host:8080 reaches the ingress namespace');
  t.equal((await fetchLine(client, '192.0.2.11', 8081)).out, 'host-9090', 'mode=host port 8081 -> 9090');
  t.equal((await fetchLine(host, '192.0.2.11', 8080)).out, 'ingress-8080', "the host's own address");
  t.equal((await fetchLine(host, '127.0.0.1', 8080)).out, 'ingress-8080', "the host's localhost");
  const closed = await fetchLine(client, '192.0.2.11', 8099);
  t.not(closed.out, 'ingress-8080', 'a port nobody publishes does not answer');

  // drift: a rule deleted behind our back
  await execInNetns(host, 'nft', ['flush', 'chain', 'ip', 'mk-mesh', 'output']);
  const drift = await tables.doctor(wanted);
  t.match(drift, [{ netns: '', name: 'mk-mesh', kind: 'differs' }], 'doctor names the drift');
  t.equal(drift.length, 1);
  t.ok(
    drift[0]?.lines.length && drift[0].lines.every((l) => l.startsWith('+ rule output: ')),
    `and the rules it lacks: ${drift[0]?.lines.join('; ')}`,
  );
  t.same(await tables.sync(wanted, false), [], 'an incremental sync trusts what it applied');
  t.equal((await tables.doctor(wanted)).length, 1, '(so the drift is still there)');
  t.same(await tables.sync(wanted, true), [], 'a full sync repairs it');
  t.same(await tables.doctor(wanted), [], 'clean again');
  t.equal((await fetchLine(host, '127.0.0.1', 8080)).out, 'ingress-8080', 'localhost works again');

  // nothing published: the table goes
  const empty = planMeshHost({ ...model, ingressPorts: [], hostPorts: [] });
  t.equal(empty.table, undefined, 'no port, no table');
  const gone = [{ netns: '', name: 'mk-mesh', table: empty.table }];
  t.same(await tables.sync(gone, false), []);
  t.equal(await createNft(host).listTable('ip', 'mk-mesh'), undefined, 'the table is deleted');
  t.same(await tables.doctor(gone), []);
});

t.test('planMeshHost: ports sorted, conflicts reported, a waiting ingress sandbox', async (t) => {
  const p = planMeshHost({
    tableName: 'x-mesh',
    bridge: 'x-gw0',
    ingressAddress: '172.18.0.9',
    ingressPorts: [
      { protocol: 'tcp', port: 8081 },
      { protocol: 'tcp', port: 80 },
      { protocol: 'udp', port: 53 },
    ],
    hostPorts: [
      { protocol: 'tcp', port: 80, address: '172.18.0.3', targetPort: 80, owner: 'a' },
      { protocol: 'tcp', port: 9000, address: '172.18.0.3', targetPort: 90, owner: 'b' },
      { protocol: 'tcp', port: 9000, address: '172.18.0.4', targetPort: 90, owner: 'c' },
    ],
  });
  t.match(p.table?.canonical, /rule fib daddr type local tcp dport \{ 80, 8081 \} dnat to 172\.18\.0\.9\n/);
  t.match(p.table?.canonical, /rule fib daddr type local udp dport 53 dnat to 172\.18\.0\.9\n/);
  t.match(p.table?.canonical, /rule fib daddr type local tcp dport 9000 dnat to 172\.18\.0\.3:90\n/);
  t.same(
    p.problems.map((x) => x.item),
    ['host tcp/80 (a)', 'host tcp/9000 (c)'],
    'a host port taken by the mesh, and a second task on one host port',
  );
  const waiting = planMeshHost({
    tableName: 'x-mesh',
    bridge: 'x-gw0',
    ingressAddress: undefined,
    ingressPorts: [{ protocol: 'tcp', port: 80 }],
    hostPorts: [],
  });
  t.equal(waiting.table, undefined);
  t.match(waiting.problems[0]?.message, /no egress address yet/);
});
