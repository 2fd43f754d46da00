// `shoal network ...` and `shoal container ...` against a real manager process, as a user
// runs them: output in Docker's shapes, --format, partial failures, prune, connect.
import t from 'tap';
import type { Test } from 'tap';
import { startManager } from '../../support/cli-e2e.ts';
import type { ShoalResult } from '../../support/cli-e2e.ts';

function ok(t: Test, r: ShoalResult, what: string): string {
  t.equal(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr.trim()})`);
  t.equal(r.stderr, '', `${what}: nothing on stderr`);
  return r.stdout;
}

const ID_LINE = /^[0-9a-z]{25}\n$/;

t.test('networks and standalone containers through the CLI', async (t) => {
  const m = await startManager(t);

  const version = ok(t, await m.shoal(['version', '--format', 'json']), 'version');
  const v = JSON.parse(version) as { Client: { Version: string }; Server: { Version: string; ApiVersion: number } | null };
  t.equal(v.Server?.Version, v.Client.Version, 'the manager answers with its build');
  t.equal(v.Server?.ApiVersion, 1);

  const frontId = ok(
    t,
    await m.shoal([
      'network',
      'create',
      '--subnet',
      '10.0.9.0/24',
      '--gateway',
      '10.0.9.254',
      '--ip-range',
      '10.0.9.128/25',
      '--aux-address',
      'router=10.0.9.2',
      '--attachable',
      '--label',
      'tier=front',
      '-o',
      'com.example.note=1',
      'front',
    ]),
    'network create front',
  );
  t.match(frontId, ID_LINE, 'create prints the 25-character ID');
  const backId = ok(t, await m.shoal(['network', 'create', 'back']), 'network create back');
  t.match(backId, ID_LINE);

  await t.test('scenario 3: ls: Docker columns, sorted by name', async (t) => {
    const out = ok(t, await m.shoal(['network', 'ls']), 'network ls').split('\n');
    t.equal(out[0], 'NETWORK ID     NAME      DRIVER    SCOPE');
    t.match(out[1], /^[0-9a-z]{12} {3}back {6}overlay {3}swarm$/);
    t.equal(out[2], `${frontId.slice(0, 12)}   front     overlay   swarm`);
    t.match(out[3], /^[0-9a-z]{12} {3}ingress {3}overlay {3}swarm$/);
    t.equal(out.length, 5);
    t.equal(ok(t, await m.shoal(['network', 'ls', '--format', '{{.Name}}']), 'format'), 'back\nfront\ningress\n');
    t.equal(ok(t, await m.shoal(['network', 'ls', '--filter', 'name=fro', '-q', '--no-trunc']), 'filter'), frontId);
    t.equal(
      ok(t, await m.shoal(['network', 'ls', '-f', 'label=tier=front', '--format', '{{.Name}} {{.Label "tier"}}']), 'label filter'),
      'front front\n',
    );
    t.equal(ok(t, await m.shoal(['network', 'ls', '-f', 'dangling=true', '--format', '{{.Name}}']), 'dangling'), 'back\nfront\n');
    const json = ok(t, await m.shoal(['network', 'ls', '--format', 'json']), 'json')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    t.same(
      json.map((j) => [j['Name'], j['Driver'], j['Scope'], j['Internal']]),
      [
        ['back', 'overlay', 'swarm', 'false'],
        ['front', 'overlay', 'swarm', 'false'],
        ['ingress', 'overlay', 'swarm', 'false'],
      ],
    );
    t.equal(
      ok(t, await m.shoal(['network', 'ls', '--format', 'table {{.Name}}\\t{{.Labels}}']), 'table'),
      'NAME      LABELS\nback      \nfront     tier=front\ningress   \n',
    );
  });

  await t.test("scenario 2, scenario 3: inspect: Docker's JSON", async (t) => {
    const [net] = JSON.parse(ok(t, await m.shoal(['network', 'inspect', 'front']), 'inspect')) as Record<string, unknown>[];
    t.equal(net?.['Name'], 'front');
    t.equal(net?.['Id'], frontId.trim());
    t.equal(net?.['Driver'], 'overlay');
    t.equal(net?.['Scope'], 'swarm');
    t.equal(net?.['Attachable'], true);
    t.equal(net?.['Ingress'], false);
    t.same(net?.['IPAM'], {
      Driver: 'default',
      Options: null,
      Config: [{ Subnet: '10.0.9.0/24', IPRange: '10.0.9.128/25', Gateway: '10.0.9.254', AuxiliaryAddresses: { router: '10.0.9.2' } }],
    });
    const options = net?.['Options'] as Record<string, string>;
    t.ok(Number(options['com.docker.network.driver.overlay.vxlanid_list']) >= 4097, 'VXLAN ID of a user network is 4097 or more');
    t.equal(options['com.example.note'], '1');
    t.same(net?.['Labels'], { tier: 'front' });
    const [ingress] = JSON.parse(ok(t, await m.shoal(['network', 'inspect', 'ingress']), 'inspect ingress')) as Record<string, unknown>[];
    t.equal(ingress?.['Ingress'], true);
    t.equal((ingress!['Options'] as Record<string, string>)['com.docker.network.driver.overlay.vxlanid_list'], '4096');
    t.same((ingress!['IPAM'] as { Config: unknown[] }).Config, [{ Subnet: '10.255.0.0/16', Gateway: '10.255.0.1' }]);
    t.equal(
      ok(
        t,
        await m.shoal([
          'network',
          'inspect',
          '--format',
          '{{.Name}} {{index .Options "com.docker.network.driver.overlay.vxlanid_list"}} {{range .IPAM.Config}}{{.Subnet}}{{end}}',
          'ingress',
          'front',
        ]),
        'template',
      ),
      `ingress 4096 10.255.0.0/16\nfront ${options['com.docker.network.driver.overlay.vxlanid_list']} 10.0.9.0/24\n`,
    );
    const compact = ok(t, await m.shoal(['network', 'inspect', '--format', 'json', 'front']), 'inspect json');
    t.equal(compact.trimEnd().split('\n').length, 1, 'one line');
    t.equal((JSON.parse(compact) as { Name: string }).Name, 'front');
  });

  await t.test('containers on attachable networks', async (t) => {
    const cid = ok(
      t,
      await m.shoal(['container', 'run', '--network', 'front', '--name', 'probe', '--network-alias', 'p', '--', 'sleep', '600']),
      'container run',
    );
    t.match(cid, ID_LINE);
    t.equal(
      ok(t, await m.shoal(['container', 'ls', '-a', '--format', '{{.Names}} {{.Networks}} {{.Command}}']), 'container ls'),
      'probe front "sleep 600"\n',
    );
    t.equal(ok(t, await m.shoal(['container', 'ls', '-a', '-q', '--no-trunc']), 'container ls -q'), cid);
    const lines = ok(t, await m.shoal(['container', 'ls', '-a']), 'container ls table').split('\n');
    t.match(lines[0], /^CONTAINER ID {3}COMMAND {7}CREATED\s+STATUS\s+NODE\s+NETWORKS {3}NAMES$/);
    t.match(lines[1], new RegExp(`^${cid.slice(0, 12)}   "sleep 600"   .* ago\\s+\\S+\\s+\\S+\\s+front      probe$`));
    const [c] = JSON.parse(ok(t, await m.shoal(['container', 'inspect', 'probe']), 'container inspect')) as Record<string, unknown>[];
    t.equal(c?.['Name'], '/probe');
    const nets = (c!['NetworkSettings'] as { Networks: Record<string, { IPAddress: string; Aliases: string[]; MacAddress: string }> })
      .Networks;
    t.match(nets['front']?.IPAddress, /^10\.0\.9\.(12[89]|1[3-9][0-9]|2[0-5][0-9])$/, 'address from the ip-range 10.0.9.128/25');
    t.same(nets['front']?.Aliases, ['p']);
    t.match(nets['front']?.MacAddress, /^02:42:0a:00:09:[0-9a-f]{2}$/);
    const [net] = JSON.parse(ok(t, await m.shoal(['network', 'inspect', 'front']), 'inspect')) as {
      Containers: Record<string, { Name: string; IPv4Address: string }>;
    }[];
    t.equal(net?.Containers[cid.trim()]?.Name, 'probe', 'network inspect lists the container');

    t.match(ok(t, await m.shoal(['network', 'create', '--attachable', 'side']), 'create side'), ID_LINE);
    t.equal(ok(t, await m.shoal(['network', 'connect', '--alias', 'extra', 'side', 'probe']), 'connect'), '');
    const [c2] = JSON.parse(ok(t, await m.shoal(['container', 'inspect', 'probe']), 'inspect after connect')) as {
      NetworkSettings: { Networks: Record<string, { Aliases: string[] }> };
    }[];
    t.same(Object.keys(c2?.NetworkSettings.Networks ?? {}).sort(), ['front', 'side']);
    t.same(c2?.NetworkSettings.Networks['side']?.Aliases, ['extra']);
    t.equal(ok(t, await m.shoal(['network', 'disconnect', 'side', 'probe']), 'disconnect'), '');
    t.equal(ok(t, await m.shoal(['container', 'ls', '-a', '--format', '{{.Networks}}']), 'ls after disconnect'), 'front\n');
  });

  await t.test('scenario 3: rm removes what it can and reports each failure', async (t) => {
    const r = await m.shoal(['network', 'rm', 'front', 'back', 'nosuch']);
    t.equal(r.code, 1, 'exit 1: some failed');
    t.equal(r.stdout, 'back\n', 'back removed');
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 2, 'one line per failure');
    t.match(lines[0], /^Error: network front .*probe.*\(SHOAL_ERR_NETWORK_IN_USE\)$/);
    t.equal(lines[1], 'Error: network nosuch not found (SHOAL_ERR_NETWORK_NOT_FOUND)');
    t.equal(ok(t, await m.shoal(['network', 'ls', '--format', '{{.Name}}']), 'ls'), 'front\ningress\nside\n');
  });

  await t.test('prune removes unused networks after confirmation', async (t) => {
    const asked = await m.shoal(['network', 'prune'], { input: 'y\n' });
    t.equal(asked.code, 0, asked.stderr);
    t.equal(
      asked.stdout,
      'WARNING! This will remove all custom networks not used by at least one service or container.\nAre you sure you want to continue? [y/N] Deleted Networks:\nside\n\n',
    );
    t.equal(ok(t, await m.shoal(['network', 'prune', '-f']), 'prune again'), '', 'nothing left to prune: nothing printed');
    t.equal(ok(t, await m.shoal(['container', 'rm', '-f', 'probe']), 'container rm'), 'probe\n');
    t.equal(ok(t, await m.shoal(['container', 'ls', '-a', '-q']), 'container ls'), '');
    t.equal(ok(t, await m.shoal(['network', 'prune', '--force']), 'prune front'), 'Deleted Networks:\nfront\n\n');
    t.equal(ok(t, await m.shoal(['network', 'ls', '--format', '{{.Name}}']), 'ls'), 'ingress\n', 'ingress is never pruned');
  });

  await t.test('--host and SHOAL_HOST name the manager', async (t) => {
    const sock = `unix://${m.dataDir}/manager.sock`;
    const env = { SHOAL_DATA_DIR: '/nonexistent' };
    t.equal(ok(t, await m.shoal(['network', '-H', sock, 'ls', '--format', '{{.Name}}'], { env }), '-H before'), 'ingress\n');
    t.equal(ok(t, await m.shoal(['network', 'ls', '--host', sock, '--format', '{{.Name}}'], { env }), '--host after'), 'ingress\n');
    t.equal(
      ok(t, await m.shoal(['network', 'ls', '--format', '{{.Name}}'], { env: { ...env, SHOAL_HOST: sock } }), 'SHOAL_HOST'),
      'ingress\n',
    );
    t.equal(ok(t, await m.shoal(['network', 'ls', '--data-dir', m.dataDir, '--format', '{{.Name}}'], { env }), '--data-dir'), 'ingress\n');
    const tcp = await m.shoal(['network', 'ls', '-H', `tcp://127.0.0.1:${m.port}`, '--format', '{{.Name}}'], {
      env: { SHOAL_CERT_PATH: `${m.dataDir}/certificates` },
    });
    t.equal(tcp.code, 0, `over mTLS with the manager's certificate: ${tcp.stderr}`);
    t.equal(tcp.stdout, 'ingress\n');
    const down = await m.shoal(['network', 'ls'], { env: { SHOAL_DATA_DIR: '/nonexistent' } });
    t.equal(down.code, 1);
    t.match(
      down.stderr,
      /^Error: cannot connect to the shoal manager at unix:\/\/\/nonexistent\/manager\.sock.*\(SHOAL_ERR_MANAGER_UNREACHABLE\)\n$/,
    );
  });
});
