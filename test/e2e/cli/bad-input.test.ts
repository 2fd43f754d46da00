// The bad-input table: every case runs `shoal ...` against a real manager process and must
// fail with exit status 1 (refused by the manager) or 2 (refused by the CLI), print exactly
// one line on stderr naming the problem, print nothing on stdout (`inspect` prints its
// empty `[]`, `network prune` its question), and leave the store byte-identical: the
// manager's deterministic dump is compared before and after each case.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startManager } from '../../support/cli-e2e.ts';
import { defaultContainerSpec, defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';

interface Case {
  readonly args: readonly string[];
  /** 1: the manager refused; 2: the command line was refused before anything was sent. */
  readonly exit: 1 | 2;
  /** The stable code in parentheses at the end of the line (omit for commander's own usage errors). */
  readonly code?: string;
  /** What the one line must say. */
  readonly error: RegExp;
  readonly stdout?: string;
}

t.test('bad input through the CLI leaves the store unchanged', async (t) => {
  const m = await startManager(t);
  const api = m.client;

  // the cluster every case runs against
  const front = await api.createNetwork({
    ...defaultNetworkSpec('front'),
    attachable: true,
    subnets: [{ subnet: '10.0.9.0/24', auxAddresses: {} }],
  });
  await api.createNetwork(defaultNetworkSpec('back'));
  const web = defaultServiceSpec('web');
  web.mode = { replicated: { replicas: 2 } };
  web.networks = [{ target: 'front', aliases: [] }];
  web.endpointSpec.ports = [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }];
  web.taskTemplate.command = ['sleep', '1000'];
  await api.createService(web);
  const apiSvc = defaultServiceSpec('api');
  apiSvc.networks = [{ target: 'back', aliases: [] }];
  apiSvc.endpointSpec.ports = [{ name: '', protocol: 'tcp', targetPort: 90, publishedPort: 9090, publishMode: 'ingress' }];
  await api.createService(apiSvc);
  await api.createService({ ...defaultServiceSpec('agent'), mode: { global: {} } });
  await api.runContainer({ ...defaultContainerSpec('probe'), networks: [{ target: front.id, aliases: [] }], command: ['sleep', '1000'] });

  const workerToken = (await api.joinToken('worker')).token;
  const [, , digest = '', secret = ''] = workerToken.split('-');
  const wrongSecret = `SWMTKN-1-${digest}-${secret.replace(/./g, (c) => (c === 'a' ? 'b' : 'a'))}`;
  const foreignDigest = `SWMTKN-1-${digest.replace(/./g, (c) => (c === 'z' ? 'y' : 'z'))}-${secret}`;
  const agentDir = mkdtempSync(join(tmpdir(), 'shoal-cli-e2e-agent-'));
  t.teardown(() => rmSync(agentDir, { recursive: true, force: true }));
  const agent = (token: string): string[] => [
    'agent',
    '--join-token',
    token,
    '--manager',
    `127.0.0.1:${m.port}`,
    '--advertise-addr',
    '127.0.0.1',
    '--data-dir',
    agentDir,
  ];

  const NET_CREATE = ['network', 'create'];
  const SVC_CREATE = ['service', 'create'];

  const cases: Case[] = [
    // ---------------------------------------------------------------- network create
    {
      args: [...NET_CREATE, '--subnet', '10.0.300.0/24', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_BAD_CIDR',
      error: /10\.0\.300\.0\/24.*not a valid CIDR/,
    },
    { args: [...NET_CREATE, '--subnet', 'banana', 'n1'], exit: 1, code: 'SHOAL_ERR_IPAM_BAD_CIDR', error: /banana/ },
    { args: [...NET_CREATE, '--subnet', '10.2.0.0/33', 'n1'], exit: 1, code: 'SHOAL_ERR_IPAM_BAD_CIDR', error: /10\.2\.0\.0\/33/ },
    { args: [...NET_CREATE, '--subnet', '10.1.0.1/24', 'n1'], exit: 1, code: 'SHOAL_ERR_IPAM_HOST_BITS_SET', error: /host bits/ },
    {
      args: [...NET_CREATE, '--subnet', '10.0.9.128/25', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_OVERLAP',
      error: /overlaps 10\.0\.9\.0\/24 of network "front"/,
    },
    { args: [...NET_CREATE, '--subnet', '10.0.0.0/8', 'n1'], exit: 1, code: 'SHOAL_ERR_IPAM_OVERLAP', error: /overlaps/ },
    { args: [...NET_CREATE, '--subnet', '10.2.0.0/31', 'n1'], exit: 1, code: 'SHOAL_ERR_IPAM_SUBNET_TOO_SMALL', error: /too small/ },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--gateway', '10.3.0.1', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
      error: /gateway 10\.3\.0\.1 is outside subnet 10\.2\.0\.0\/24/,
    },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--gateway', '10.2.0.0', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_ADDRESS_RESERVED',
      error: /network address/,
    },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--ip-range', '10.3.0.0/25', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
      error: /ip-range 10\.3\.0\.0\/25 is outside/,
    },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--ip-range', '10.2.0.0/16', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
      error: /ip-range 10\.2\.0\.0\/16/,
    },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--aux-address', 'r=10.9.9.9', 'n1'],
      exit: 1,
      code: 'SHOAL_ERR_IPAM_OUTSIDE_SUBNET',
      error: /aux-address r 10\.9\.9\.9/,
    },
    { args: [...NET_CREATE, 'front'], exit: 1, code: 'SHOAL_ERR_NETWORK_EXISTS', error: /^Error: network with name front already exists/ },
    { args: [...NET_CREATE, 'bad!name'], exit: 1, code: 'SHOAL_ERR_BAD_NAME', error: /network name "bad!name" is not valid/ },
    { args: [...NET_CREATE, '-d', 'bridge', 'n1'], exit: 1, code: 'SHOAL_ERR_BAD_DRIVER', error: /driver "bridge" is not supported/ },
    { args: [...NET_CREATE, '--ingress', 'n1'], exit: 1, code: 'SHOAL_ERR_NETWORK_EXISTS', error: /ingress network already exists/ },
    {
      args: [...NET_CREATE, '--gateway', '10.2.0.1', 'n1'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /must have a corresponding subnet/,
    },
    {
      args: [...NET_CREATE, '--subnet', '10.2.0.0/24', '--subnet', '10.3.0.0/24', '--gateway', '10.4.0.1', 'n1'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /no matching subnet for gateway 10\.4\.0\.1/,
    },
    {
      args: [...NET_CREATE, '--aux-address', 'nonsense', 'n1'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /"--aux-address" flag: want name=IP/,
    },
    { args: [...NET_CREATE, '--scope', 'local', 'n1'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /"--scope" flag/ },
    { args: [...NET_CREATE, '--label', '=x', 'n1'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /label name is empty/ },
    {
      args: [...NET_CREATE, '--colour', 'red', 'n1'],
      exit: 2,
      error: /^Error: unknown option '--colour' \(see 'shoal network create --help'\)$/,
    },
    { args: [...NET_CREATE], exit: 2, error: /^Error: missing required argument 'name'/ },
    // ---------------------------------------------------------------- network rm, inspect, connect
    { args: ['network', 'rm', 'ingress'], exit: 1, code: 'SHOAL_ERR_INGRESS_PROTECTED', error: /ingress network/ },
    { args: ['network', 'rm', 'front'], exit: 1, code: 'SHOAL_ERR_NETWORK_IN_USE', error: /network front is in use/ },
    { args: ['network', 'rm', 'nosuch'], exit: 1, code: 'SHOAL_ERR_NETWORK_NOT_FOUND', error: /network nosuch not found/ },
    {
      args: ['network', 'inspect', 'nosuch'],
      exit: 1,
      code: 'SHOAL_ERR_NETWORK_NOT_FOUND',
      error: /network nosuch not found/,
      stdout: '[]\n',
    },
    { args: ['network', 'connect', 'back', 'probe'], exit: 1, code: 'SHOAL_ERR_NOT_ATTACHABLE', error: /not manually attachable/ },
    {
      args: ['network', 'connect', 'front', 'nosuch'],
      exit: 1,
      code: 'SHOAL_ERR_CONTAINER_NOT_FOUND',
      error: /container nosuch not found/,
    },
    { args: ['network', 'connect', 'front', 'probe'], exit: 1, code: 'SHOAL_ERR_ALREADY_CONNECTED', error: /already connected/ },
    { args: ['network', 'disconnect', 'back', 'probe'], exit: 1, code: 'SHOAL_ERR_NOT_CONNECTED', error: /not connected/ },
    { args: ['network', 'ls', '--filter', 'colour=red'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /invalid filter "colour"/ },
    { args: ['network', 'ls', '--format', '{{.Nope}}'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /can't evaluate field Nope/ },
    {
      args: ['network', 'inspect', '--format', '{{.Name', 'front'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /template: unclosed action/,
    },
    {
      args: ['network', 'prune'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /network prune cancelled/,
      stdout:
        'WARNING! This will remove all custom networks not used by at least one service or container.\nAre you sure you want to continue? [y/N] ',
    },
    // ---------------------------------------------------------------- service create
    {
      args: [...SVC_CREATE, '--name', 's1', '--network', 'nosuch', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_NETWORK_NOT_FOUND',
      error: /network nosuch not found/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--network', 'ingress', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_BAD_SPEC',
      error: /ingress/,
    },
    {
      args: [...SVC_CREATE, '--name', 'web', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_SERVICE_EXISTS',
      error: /service web already exists/,
    },
    {
      args: [...SVC_CREATE, '--name', 'web_1', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_BAD_NAME',
      error: /service name "web_1" is not valid/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', '8080:81', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_PORT_IN_USE',
      error: /port 8080\/tcp is already in use by service web/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', '70000:80'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /published port 70000 is out of range/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', '8081:0'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /target port 0 is out of range/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', '80:abc'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /invalid --publish "80:abc": target port "abc" is not a number/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', 'published=8081'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /missing mandatory field "target"/,
    },
    { args: [...SVC_CREATE, '--name', 's1', '-p', '8081:80/icmp'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /protocol "icmp"/ },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', 'target=80,mode=bridge'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /publish mode "bridge"/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '-p', '20:80', '-p', '20:81'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /published port 20\/tcp is also given/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--replicas', '-1'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /invalid argument "-1" for "--replicas" flag/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--replicas', '2000000'],
      exit: 1,
      code: 'SHOAL_ERR_BAD_SPEC',
      error: /replicas 2000000 is more than/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--mode', 'global', '--replicas', '2'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /replicas can only be used with replicated mode/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--endpoint-mode', 'dnsrr', '-p', '8081:80', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_DNSRR_INGRESS_PORT',
      error: /dnsrr/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--endpoint-mode', 'round-robin'],
      exit: 1,
      code: 'SHOAL_ERR_BAD_SPEC',
      error: /endpoint mode "round-robin"/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--restart-condition', 'sometimes'],
      exit: 1,
      code: 'SHOAL_ERR_BAD_SPEC',
      error: /restart condition "sometimes"/,
    },
    { args: [...SVC_CREATE, '--name', 's1', '--dns', 'not-an-ip'], exit: 1, code: 'SHOAL_ERR_BAD_SPEC', error: /DNS server "not-an-ip"/ },
    {
      args: [...SVC_CREATE, '--name', 's1', '--health-interval', '30'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /missing unit in duration "30"/,
    },
    {
      args: [...SVC_CREATE, '--name', 's1', '--stop-grace-period', '-5s'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /duration cannot be negative/,
    },
    // ---------------------------------------------------------------- service scale, update, rm, ps
    { args: ['service', 'scale', 'nosuch=2'], exit: 1, code: 'SHOAL_ERR_SERVICE_NOT_FOUND', error: /service nosuch not found/ },
    { args: ['service', 'scale', 'agent=3'], exit: 1, code: 'SHOAL_ERR_BAD_SPEC', error: /replicated mode/ },
    { args: ['service', 'scale', 'web'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /invalid scale specifier "web"/ },
    { args: ['service', 'scale', 'web=-3'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /invalid replicas value "-3"/ },
    {
      args: ['service', 'update', '--replicas', '2', 'nosuch'],
      exit: 1,
      code: 'SHOAL_ERR_SERVICE_NOT_FOUND',
      error: /service nosuch not found/,
    },
    {
      args: ['service', 'update', '--publish-add', '8080:81', 'api'],
      exit: 1,
      code: 'SHOAL_ERR_PORT_IN_USE',
      error: /port 8080\/tcp is already in use/,
    },
    {
      args: ['service', 'update', '--publish-add', '99999:80', 'api'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /invalid --publish-add "99999:80"/,
    },
    {
      args: ['service', 'update', '--network-add', 'nosuch', 'web'],
      exit: 1,
      code: 'SHOAL_ERR_NETWORK_NOT_FOUND',
      error: /network nosuch not found/,
    },
    {
      args: ['service', 'update', '--network-add', 'front', 'web'],
      exit: 1,
      code: 'SHOAL_ERR_ALREADY_EXISTS',
      error: /already attached to network front/,
    },
    { args: ['service', 'update', '--endpoint-mode', 'dnsrr', 'web'], exit: 1, code: 'SHOAL_ERR_DNSRR_INGRESS_PORT', error: /dnsrr/ },
    {
      args: ['service', 'update', '--rollback', 'web'],
      exit: 1,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /service web does not have a previous spec/,
    },
    { args: ['service', 'rm', 'nosuch'], exit: 1, code: 'SHOAL_ERR_SERVICE_NOT_FOUND', error: /service nosuch not found/ },
    { args: ['service', 'ps', 'nosuch'], exit: 1, code: 'SHOAL_ERR_SERVICE_NOT_FOUND', error: /service nosuch not found/ },
    // ---------------------------------------------------------------- containers
    {
      args: ['container', 'run', '--network', 'back', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_NOT_ATTACHABLE',
      error: /not manually attachable/,
    },
    {
      args: ['container', 'run', '--network', 'front', '--name', 'probe', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_CONTAINER_EXISTS',
      error: /probe is already in use/,
    },
    {
      args: ['container', 'run', '--network', 'front', '--node', 'nosuch', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_NODE_NOT_FOUND',
      error: /node nosuch not found/,
    },
    {
      args: ['container', 'run', '--network', 'nosuch', '--', 'sleep', '1'],
      exit: 1,
      code: 'SHOAL_ERR_NETWORK_NOT_FOUND',
      error: /network nosuch not found/,
    },
    {
      args: ['container', 'run', '--network-alias', 'x', '--', 'sleep', '1'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /--network-alias needs --network/,
    },
    { args: ['container', 'rm', 'nosuch'], exit: 1, code: 'SHOAL_ERR_CONTAINER_NOT_FOUND', error: /container nosuch not found/ },
    // ---------------------------------------------------------------- nodes
    { args: ['node', 'inspect', 'nosuch'], exit: 1, code: 'SHOAL_ERR_NODE_NOT_FOUND', error: /node nosuch not found/, stdout: '[]\n' },
    {
      args: ['node', 'update', '--availability', 'active', 'nosuch'],
      exit: 1,
      code: 'SHOAL_ERR_NODE_NOT_FOUND',
      error: /node nosuch not found/,
    },
    { args: ['node', 'update', '--availability', 'sleepy', 'self'], exit: 1, code: 'SHOAL_ERR_BAD_SPEC', error: /availability "sleepy"/ },
    { args: ['node', 'update', '--role', 'boss', 'self'], exit: 1, code: 'SHOAL_ERR_BAD_SPEC', error: /role "boss"/ },
    { args: ['node', 'demote', 'self'], exit: 1, code: 'SHOAL_ERR_LAST_MANAGER', error: /cannot be demoted/ },
    { args: ['node', 'rm', 'self'], exit: 1, code: 'SHOAL_ERR_NODE_IS_MANAGER', error: /cannot be removed/ },
    { args: ['node', 'rm', 'nosuch'], exit: 1, code: 'SHOAL_ERR_NODE_NOT_FOUND', error: /node nosuch not found/ },
    // ---------------------------------------------------------------- swarm and join
    { args: ['swarm', 'join-token', 'admin'], exit: 2, code: 'SHOAL_ERR_INVALID_ARGUMENT', error: /unknown role admin/ },
    { args: agent(wrongSecret), exit: 1, code: 'SHOAL_ERR_JOIN_TOKEN_REJECTED', error: /token/ },
    { args: agent(foreignDigest), exit: 1, code: 'SHOAL_ERR_CA_MISMATCH', error: /different CA/ },
    { args: agent('SWMTKN-2-garbage'), exit: 1, code: 'SHOAL_ERR_BAD_JOIN_TOKEN', error: /token/ },
    // ---------------------------------------------------------------- exec and logs (no agent runs anything here)
    { args: ['exec', 'nosuch', 'echo'], exit: 1, code: 'SHOAL_ERR_TASK_NOT_FOUND', error: /^Error: no such task or container: nosuch / },
    { args: ['exec', 'web.1', 'echo'], exit: 1, code: 'SHOAL_ERR_NOT_RUNNING', error: /task web\.1\.\w+ is not running \(it is pending\)/ },
    { args: ['exec', 'probe', 'echo'], exit: 1, code: 'SHOAL_ERR_NOT_RUNNING', error: /container probe is not running \(it is created\)/ },
    { args: ['exec', 'web.1'], exit: 2, error: /missing required argument 'command'/ },
    { args: ['exec', '-t', 'web.1', 'sh'], exit: 2, error: /unknown option '-t'/ },
    {
      args: ['exec', '--timeout', '2h', 'web.1', 'ls'],
      exit: 2,
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      error: /"--timeout" flag: want more than 0 and at most 1h/,
    },
    { args: ['logs', 'nosuch'], exit: 1, code: 'SHOAL_ERR_TASK_NOT_FOUND', error: /no such task or container: nosuch/ },
    { args: ['logs', 'probe'], exit: 1, code: 'SHOAL_ERR_AGENT_UNAVAILABLE', error: /agent of node \w+ is not connected/ },
    { args: ['service', 'logs', 'nosuch'], exit: 1, code: 'SHOAL_ERR_SERVICE_NOT_FOUND', error: /no such service or task: nosuch/ },
  ];

  t.ok(cases.length >= 40, `${cases.length} bad-input cases`);

  /** The lines of `b` that differ from `a`, for a readable failure. */
  function changedLines(a: string, b: string): string[] {
    const before = new Set(a.split('\n'));
    const after = new Set(b.split('\n'));
    return [
      ...[...before].filter((l) => !after.has(l)).map((l) => `- ${l.slice(0, 200)}`),
      ...[...after].filter((l) => !before.has(l)).map((l) => `+ ${l.slice(0, 200)}`),
    ];
  }

  const baseline = await api.dump();
  for (const c of cases) {
    await t.test(`shoal ${c.args.join(' ')}`, async (t) => {
      const r = await m.shoal(c.args);
      t.equal(r.code, c.exit, 'exit status');
      const lines = r.stderr.trimEnd().split('\n');
      t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(r.stderr)}`);
      const line = lines[0] ?? '';
      t.match(line, /^Error: /, 'starts with Error:');
      t.match(line, c.error);
      if (c.code !== undefined) t.ok(line.endsWith(` (${c.code})`), `ends with (${c.code}): ${line}`);
      t.equal(r.stdout, c.stdout ?? '', 'nothing on stdout');
      const after = await api.dump();
      t.same(changedLines(baseline, after), [], 'store unchanged');
      t.ok(after === baseline, 'dump byte-identical');
    });
  }
});
