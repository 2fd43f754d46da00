// `shoal service ...`, `shoal node ...` and `shoal swarm join-token` against a real manager
// process with two agents (joined with a worker token) that run the tasks: create, ls,
// inspect, ps, scale, update, rm; node ls/inspect/update/promote/demote/rm; join tokens and
// their rotation. The agents are scripted (test/support/scripted-agent.ts): the manager and
// the CLI are the subject, and a real `shoal agent` would program this namespace's kernel.
import t from 'tap';
import type { Test } from 'tap';
import { startAgent, startManager } from '../../support/cli-e2e.ts';
import type { RunningManager, ShoalResult } from '../../support/cli-e2e.ts';
import { waitFor } from '../../support/kernel.ts';

function ok(t: Test, r: ShoalResult, what: string): string {
  t.equal(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr.trim()})`);
  t.equal(r.stderr, '', `${what}: nothing on stderr`);
  return r.stdout;
}

async function runningTasks(m: RunningManager, service: string): Promise<{ node: string; name: string }[]> {
  const nodes = new Map((await m.client.listNodes()).map((n) => [n.id, n.description.hostname]));
  return (await m.client.listTasks({ services: [service] }))
    .filter((x) => x.desiredState === 'running' && x.status.state === 'running')
    .map((x) => ({ node: nodes.get(x.nodeId) ?? x.nodeId, name: x.name }));
}

async function waitRunning(
  m: RunningManager,
  service: string,
  count: number,
  what: string,
  extra: (tasks: { node: string }[]) => boolean = () => true,
): Promise<void> {
  await waitFor(
    async () => {
      const tasks = await runningTasks(m, service);
      return tasks.length === count && extra(tasks);
    },
    60_000,
    what,
  );
}

t.test('services, nodes and join tokens through the CLI', async (t) => {
  const m = await startManager(t);
  const h2 = await startAgent(t, m, 'h2');
  const h3 = await startAgent(t, m, 'h3');
  t.ok(h2.pid > 0 && h3.pid > 0);
  ok(t, await m.shoal(['network', 'create', '--subnet', '10.0.9.0/24', 'front']), 'network create front');
  const backId = ok(t, await m.shoal(['network', 'create', 'back']), 'network create back').trim();

  await t.test('scenario 5: create, ls, inspect, ps', async (t) => {
    const webId = ok(
      t,
      await m.shoal([
        'service',
        'create',
        '--name',
        'web',
        '--replicas',
        '3',
        '--network',
        'front',
        '-p',
        '8080:80',
        '-e',
        'A=1',
        '--',
        'sleep',
        '1000',
      ]),
      'create web',
    );
    t.match(webId, /^[0-9a-z]{25}\n$/, 'create prints the service ID');
    ok(
      t,
      await m.shoal([
        'service',
        'create',
        '--name',
        'dns',
        '--mode',
        'global',
        '--network',
        'front',
        '-p',
        'published=5353,target=53,protocol=udp,mode=host',
        '--',
        'sleep',
        '1000',
      ]),
      'create dns',
    );
    ok(t, await m.shoal(['service', 'create', '--name', 'auto', '--network', 'back', '-p', '80', '--', 'sleep', '1000']), 'create auto');
    await waitRunning(m, 'web', 3, 'web to run 3 tasks');
    await waitRunning(m, 'dns', 2, 'dns to run one task per agent node');
    await waitRunning(m, 'auto', 1, 'auto to run');

    const ls = ok(t, await m.shoal(['service', 'ls']), 'service ls').split('\n');
    t.equal(ls[0], 'ID             NAME      MODE         REPLICAS   PORTS');
    t.match(ls[1], /^[0-9a-z]{12} {3}auto {6}replicated {3}1\/1 {8}\*:3\d{4}->80\/tcp$/, 'an allocated port from 30000-32767');
    t.match(ls[2], /^[0-9a-z]{12} {3}dns {7}global {7}2\/2 {8}$/, 'host-mode ports are not in PORTS');
    t.equal(ls[3], `${webId.slice(0, 12)}   web       replicated   3/3        *:8080->80/tcp`);
    t.equal(
      ok(t, await m.shoal(['service', 'ls', '--filter', 'mode=global', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}']), 'ls filter'),
      'dns global 2/2\n',
    );
    const rows = ok(t, await m.shoal(['service', 'ls', '--format', 'json']), 'ls json')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    t.same(
      rows.map((r) => r['Name']),
      ['auto', 'dns', 'web'],
    );
    t.equal(rows[2]?.['Ports'], '*:8080->80/tcp');

    const [svc] = JSON.parse(ok(t, await m.shoal(['service', 'inspect', 'web']), 'inspect')) as Record<string, any>[];
    t.equal(svc?.['ID'], webId.trim());
    t.equal(svc?.['Spec'].Name, 'web');
    t.same(svc?.['Spec'].Mode, { Replicated: { Replicas: 3 } });
    t.same(svc?.['Spec'].TaskTemplate.ContainerSpec.Command, ['sleep', '1000']);
    t.same(svc?.['Spec'].TaskTemplate.ContainerSpec.Env, ['A=1']);
    t.same(svc?.['Endpoint'].Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]);
    const vips = svc?.['Endpoint'].VirtualIPs as { NetworkID: string; Addr: string }[];
    t.equal(vips.length, 2, 'a VIP on front and one on ingress (it publishes a port)');
    t.ok(
      vips.some((v) => /^10\.0\.9\.\d+\/24$/.test(v.Addr)),
      "a VIP in front's subnet",
    );
    t.ok(
      vips.some((v) => /^10\.255\.\d+\.\d+\/16$/.test(v.Addr)),
      'an ingress VIP',
    );
    t.equal(
      ok(
        t,
        await m.shoal([
          'service',
          'inspect',
          '--format',
          '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{len .Endpoint.VirtualIPs}}',
          'web',
        ]),
        'inspect format',
      ),
      'web 3 2\n',
    );
    t.match(ok(t, await m.shoal(['service', 'inspect', '--pretty', 'web']), 'pretty'), /^ID:\s+[0-9a-z]{25}\nName:\s+web\n/);

    const ps = ok(t, await m.shoal(['service', 'ps', 'web']), 'ps')
      .trimEnd()
      .split('\n');
    t.equal(ps[0]?.replace(/\s+/g, ' '), 'ID NAME NODE DESIRED STATE CURRENT STATE ERROR PORTS');
    t.equal(ps.length, 4);
    const names = ok(t, await m.shoal(['service', 'ps', '--format', '{{.Name}} {{.DesiredState}} {{.Node}}', 'web']), 'ps format')
      .trimEnd()
      .split('\n');
    t.same(
      names.map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['web.1 Running', 'web.2 Running', 'web.3 Running'],
    );
    for (const l of names) t.match(l, / (h2|h3)$/, 'tasks run on agent nodes, shown by host name');
    t.match(ps[1], /Running (less than a second|\d+ seconds|about a minute) ago/);
    const dnsPs = ok(t, await m.shoal(['service', 'ps', '--format', '{{.Node}} {{.Ports}}', 'dns']), 'ps dns')
      .trimEnd()
      .split('\n')
      .sort();
    t.same(dnsPs, ['h2 *:5353->53/udp', 'h3 *:5353->53/udp'], 'host-mode ports in ps PORTS');
  });

  await t.test('scale and update', async (t) => {
    t.equal(ok(t, await m.shoal(['service', 'scale', 'web=5', 'auto=0']), 'scale'), 'web scaled to 5\nauto scaled to 0\n');
    await waitRunning(m, 'web', 5, 'web to run 5 tasks');
    t.equal(
      ok(t, await m.shoal(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']), 'ls after scale'),
      'auto 0/0\ndns 2/2\nweb 5/5\n',
    );

    t.equal(
      ok(
        t,
        await m.shoal([
          'service',
          'update',
          '--publish-add',
          '8081:81',
          '--publish-rm',
          '80',
          '--env-add',
          'B=2',
          '--env-rm',
          'A',
          '--replicas',
          '2',
          'web',
        ]),
        'update',
      ),
      'web\n',
    );
    const [svc] = JSON.parse(ok(t, await m.shoal(['service', 'inspect', 'web']), 'inspect')) as Record<string, any>[];
    t.same(svc?.['Spec'].Mode, { Replicated: { Replicas: 2 } });
    t.same(svc?.['Spec'].TaskTemplate.ContainerSpec.Env, ['B=2']);
    t.same(svc?.['Endpoint'].Ports, [{ Protocol: 'tcp', TargetPort: 81, PublishedPort: 8081, PublishMode: 'ingress' }]);
    t.ok(svc?.['PreviousSpec'], 'the previous spec is kept');
    await waitRunning(m, 'web', 2, 'web to run 2 tasks');

    t.equal(ok(t, await m.shoal(['service', 'update', '--network-add', 'back', 'web']), 'network-add'), 'web\n');
    t.same(
      (
        JSON.parse(ok(t, await m.shoal(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.Networks}}', 'web']), 'networks')) as {
          Target: string;
        }[]
      )
        .map((n) => n.Target)
        .includes(backId),
      true,
      'attached to back (by ID)',
    );
    t.equal(
      ok(t, await m.shoal(['service', 'update', '--network-rm', 'back', 'web', '--', 'sleep', '2000']), 'network-rm and new command'),
      'web\n',
    );
    t.equal(
      ok(
        t,
        await m.shoal([
          'service',
          'inspect',
          '--format',
          '{{len .Spec.TaskTemplate.Networks}} {{json .Spec.TaskTemplate.ContainerSpec.Command}}',
          'web',
        ]),
        'after',
      ),
      '1 ["sleep","2000"]\n',
    );
    t.equal(ok(t, await m.shoal(['service', 'update', '--rollback', 'web']), 'rollback'), 'web\n');
    t.equal(
      ok(
        t,
        await m.shoal([
          'service',
          'inspect',
          '--format',
          '{{len .Spec.TaskTemplate.Networks}} {{json .Spec.TaskTemplate.ContainerSpec.Command}}',
          'web',
        ]),
        'after rollback',
      ),
      '2 ["sleep","1000"]\n',
    );

    const failed = await m.shoal(['service', 'scale', 'web=3', 'dns=2']);
    t.equal(failed.code, 1, 'one of two failed');
    t.equal(failed.stdout, 'web scaled to 3\n');
    t.match(failed.stderr, /^Error: .*replicated mode.* \(SHOAL_ERR_BAD_SPEC\)\n$/);
  });

  await t.test('scenario 1: nodes', async (t) => {
    const ls = ok(t, await m.shoal(['node', 'ls']), 'node ls')
      .trimEnd()
      .split('\n');
    t.equal(ls[0], 'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION');
    t.equal(ls.length, 4, "the manager's node and two agents");
    const self = ls.filter((l) => / \* {3}/.test(l));
    t.equal(self.length, 1, 'one node marked as the current one');
    t.match(self[0], /^[0-9a-z]{25} \* {3}\S+\s+\S+\s+Active\s+Leader\s+/);
    t.match(
      ls.find((l) => / h2 /.test(l)),
      /^[0-9a-z]{25} {5}h2 {9}Ready {5}Active\s+\S+$/,
    );
    t.equal(
      ok(t, await m.shoal(['node', 'inspect', '--format', '{{.Spec.Role}} {{.ManagerStatus.Leader}}', 'self']), 'inspect self'),
      'manager true\n',
    );
    const [n2] = JSON.parse(ok(t, await m.shoal(['node', 'inspect', 'h2']), 'inspect h2')) as Record<string, any>[];
    t.equal(n2?.['Description'].Hostname, 'h2');
    t.same(n2?.['Spec'], { Labels: {}, Role: 'worker', Availability: 'active' });
    t.equal(n2?.['Status'].State, 'ready');
    t.equal(n2?.['Status'].Addr, '127.0.0.1');

    t.equal(ok(t, await m.shoal(['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', 'h3']), 'drain'), 'h3\n');
    t.equal(
      ok(t, await m.shoal(['node', 'inspect', '--format', '{{.Spec.Availability}} {{.Spec.Labels.zone}}', 'h3']), 'drained'),
      'drain a\n',
    );
    await waitRunning(m, 'web', 3, 'web tasks to leave the drained node', (tasks) => tasks.every((x) => x.node !== 'h3'));
    t.match(
      ok(t, await m.shoal(['node', 'ls', '--filter', 'name=h3', '--format', '{{.Hostname}} {{.Availability}}']), 'ls drained'),
      /^h3 Drain\n$/,
    );
    t.equal(ok(t, await m.shoal(['node', 'update', '--availability', 'active', '--label-rm', 'zone', 'h3']), 'activate'), 'h3\n');

    t.equal(ok(t, await m.shoal(['node', 'promote', 'h2']), 'promote'), 'Node h2 promoted to a manager in the swarm.\n');
    t.equal(ok(t, await m.shoal(['node', 'promote', 'h2']), 'promote again'), 'Node h2 is already a manager.\n');
    t.match(ok(t, await m.shoal(['node', 'ls', '--filter', 'role=manager', '--format', '{{.Hostname}}']), 'managers'), /(^|\n)h2\n/);
    t.equal(ok(t, await m.shoal(['node', 'demote', 'h2']), 'demote'), 'Manager h2 demoted in the swarm.\n');
    t.equal(ok(t, await m.shoal(['node', 'inspect', '--format', '{{.Spec.Role}}', 'h2']), 'demoted'), 'worker\n');

    const up = await m.shoal(['node', 'rm', 'h3']);
    t.equal(up.code, 1, 'a node that is up is not removed without --force');
    t.match(up.stderr, /^Error: .*\(SHOAL_ERR_NODE_UP\)\n$/);
    await h3.stop();
    t.equal(ok(t, await m.shoal(['node', 'rm', '--force', 'h3']), 'rm -f'), 'h3\n');
    t.notMatch(ok(t, await m.shoal(['node', 'ls', '--format', '{{.Hostname}}']), 'ls after rm'), /h3/);
  });

  await t.test('scenario 1: join tokens', async (t) => {
    const text = ok(t, await m.shoal(['swarm', 'join-token', 'worker']), 'join-token');
    const token = ok(t, await m.shoal(['swarm', 'join-token', '-q', 'worker']), 'join-token -q').trim();
    t.match(token, /^SWMTKN-1-[0-9a-z]+-[0-9a-z]+$/);
    t.equal(
      text,
      `To add a worker to this swarm, run the following command on the new node:\n\n    shoal agent --join-token ${token} --manager 127.0.0.1:${m.port} --advertise-addr <NODE-IP> --data-dir /var/lib/shoal\n\n`,
    );
    const manager = ok(t, await m.shoal(['swarm', 'join-token', '-q', 'manager']), 'manager token').trim();
    t.not(manager, token, 'managers and workers have different tokens');
    const rotated = ok(t, await m.shoal(['swarm', 'join-token', '--rotate', 'worker']), 'rotate');
    t.match(rotated, /^Successfully rotated worker join token\.\n\nTo add a worker to this swarm/);
    const fresh = ok(t, await m.shoal(['swarm', 'join-token', '-q', 'worker']), 'after rotation').trim();
    t.not(fresh, token, 'a new token');
    t.equal(fresh.split('-')[2], token.split('-')[2], 'same CA digest');
    const old = await m.shoal([
      'agent',
      '--join-token',
      token,
      '--manager',
      `127.0.0.1:${m.port}`,
      '--advertise-addr',
      '127.0.0.1',
      '--data-dir',
      `${m.dataDir}/never-joined`,
    ]);
    t.equal(old.code, 1, 'the rotated-away token is refused');
    t.match(old.stderr, /^Error: .*\(SHOAL_ERR_JOIN_TOKEN_REJECTED\)\n$/);
  });

  await t.test('rm', async (t) => {
    t.equal(ok(t, await m.shoal(['service', 'rm', 'auto', 'dns']), 'rm'), 'auto\ndns\n');
    const r = await m.shoal(['service', 'rm', 'web', 'web']);
    t.equal(r.code, 1);
    t.equal(r.stdout, 'web\n');
    t.match(r.stderr, /^Error: service web not found \(SHOAL_ERR_SERVICE_NOT_FOUND\)\n$/);
    t.equal(ok(t, await m.shoal(['service', 'ls', '-q']), 'ls'), '');
    t.equal(ok(t, await m.shoal(['network', 'rm', 'front', 'back']), 'networks free again'), 'front\nback\n');
  });
});
