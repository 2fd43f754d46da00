// The command modules against a recording fake of the manager API: which request each
// command line sends, what it prints, and its exit status. A usage error must send nothing.
import t from 'tap';
import { Command, CommanderError } from 'commander';
import { apiError } from '../../../src/api/errors.ts';
import type { CliContext, ApiHandle } from '../../../src/cli/client-options.ts';
import { registerNetworkCommands } from '../../../src/cli/network.ts';
import { buildUpdateSpec, registerServiceCommands } from '../../../src/cli/service.ts';
import { registerContainerCommands } from '../../../src/cli/container.ts';
import { registerNodeCommands } from '../../../src/cli/node.ts';
import { registerSwarmCommands } from '../../../src/cli/swarm.ts';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { Network, Node, Service } from '../../../src/api/api-types.ts';

interface Run {
  status: number;
  out: string;
  err: string;
  calls: [string, ...unknown[]][];
  connects: unknown[];
}

type Impl = Partial<Record<string, (...args: unknown[]) => unknown>>;

async function run(argv: string[], impl: Impl = {}, input?: string): Promise<Run> {
  const r: Run = { status: 0, out: '', err: '', calls: [], connects: [] };
  const api = new Proxy({} as ApiHandle, {
    get(_target, prop: string) {
      if (prop === 'close') return () => undefined;
      return async (...args: unknown[]) => {
        r.calls.push([prop, ...args]);
        const f = impl[prop];
        if (!f) throw new Error(`unexpected call ${prop}`);
        return f(...args);
      };
    },
  });
  const ctx: CliContext = {
    connect: (flags) => {
      r.connects.push(flags);
      return api;
    },
    out: (s) => void (r.out += s),
    err: (s) => void (r.err += s),
    readLine: async () => input,
    now: () => Date.parse('2026-11-22T12:00:00Z'),
    env: { HOME: '/home/u' },
  };
  const program = new Command('shoal').exitOverride();
  program.configureOutput({ writeOut: (s) => void (r.out += s), writeErr: (s) => void (r.err += s) });
  registerNetworkCommands(program, ctx);
  registerServiceCommands(program, ctx);
  registerContainerCommands(program, ctx);
  registerNodeCommands(program, ctx);
  registerSwarmCommands(program, ctx);
  for (const g of program.commands) {
    g.configureOutput({ writeOut: (s) => void (r.out += s), writeErr: (s) => void (r.err += s) });
    for (const c of g.commands)
      c.configureOutput({ ...c.configureOutput(), writeOut: (s) => void (r.out += s), writeErr: (s) => void (r.err += s) });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    r.status = err.exitCode;
  }
  return r;
}

const NET: Network = {
  id: 'n1abcdefghijklmnopqrstuvw',
  version: 4,
  createdAt: '2026-11-22T10:00:00Z',
  updatedAt: '2026-11-22T10:00:00Z',
  spec: defaultNetworkSpec('front'),
  vxlanId: 4097,
  ipam: [{ subnet: '10.0.9.0/24', gateway: '10.0.9.1', auxAddresses: {} }],
  scope: 'swarm',
  ingress: false,
  endpointCount: 0,
  downEndpointCount: 0,
  serviceIds: [],
};

function svc(): Service {
  const spec = defaultServiceSpec('web');
  spec.taskTemplate.command = ['sleep', '100'];
  spec.taskTemplate.env = ['A=1', 'B=2'];
  spec.networks = [{ target: NET.id, aliases: [] }];
  spec.labels = { keep: '1', drop: '2' };
  spec.endpointSpec.ports = [
    { name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
    { name: '', protocol: 'udp', targetPort: 53, publishMode: 'ingress' },
  ];
  return {
    id: 's1abcdefghijklmnopqrstuvw',
    version: 9,
    createdAt: '2026-11-22T10:00:00Z',
    updatedAt: '2026-11-22T10:00:00Z',
    spec,
    endpoint: {
      spec: spec.endpointSpec,
      ports: [
        { name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
        { name: '', protocol: 'udp', targetPort: 53, publishedPort: 30000, publishMode: 'ingress' },
      ],
      virtualIps: [],
    },
    serviceStatus: { runningTasks: 1, desiredTasks: 1 },
    updateStatus: { state: '', startedAt: '', completedAt: '', message: '' },
  };
}

t.test('network create sends the whole spec and prints the ID', async (t) => {
  const r = await run(
    [
      'network',
      'create',
      '--subnet',
      '10.0.9.0/24',
      '--gateway',
      '10.0.9.1',
      '--ip-range',
      '10.0.9.128/25',
      '--aux-address',
      'router=10.0.9.2',
      '--attachable',
      '--internal',
      '--label',
      'tier=web',
      '-o',
      'mtu=1400',
      'front',
    ],
    { createNetwork: () => NET },
  );
  t.equal(r.status, 0);
  t.equal(r.out, `${NET.id}\n`);
  t.same(r.calls, [
    [
      'createNetwork',
      {
        name: 'front',
        driver: 'overlay',
        subnets: [{ subnet: '10.0.9.0/24', gateway: '10.0.9.1', ipRange: '10.0.9.128/25', auxAddresses: { router: '10.0.9.2' } }],
        attachable: true,
        internal: true,
        ipv6: false,
        labels: { tier: 'web' },
        options: { mtu: '1400' },
        ingress: false,
      },
    ],
  ]);
});

t.test('usage errors exit 2 with one line and never connect', async (t) => {
  const cases: [string[], RegExp][] = [
    [
      ['network', 'create', 'x', '--aux-address', 'nonsense'],
      /^Error: invalid argument "nonsense" for "--aux-address" flag: want name=IP \(SHOAL_ERR_INVALID_ARGUMENT\)\n$/,
    ],
    [
      ['network', 'create', 'x', '--gateway', '10.0.0.1'],
      /^Error: every ip-range, gateway or aux-address must have a corresponding subnet/,
    ],
    [['network', 'create', 'x', '--scope', 'local'], /^Error: invalid argument "local" for "--scope" flag/],
    [['network', 'create'], /^Error: missing required argument 'name' \(see 'shoal network create --help'\)\n$/],
    [['network', 'create', 'x', '--bogus'], /^Error: unknown option '--bogus' \(see 'shoal network create --help'\)\n$/],
    [
      ['network', 'ls', '--filter', 'colour=red'],
      /^Error: invalid filter "colour" \(valid filters: driver, id, label, name, scope, type, dangling\)/,
    ],
    [['network', 'ls', '--format', '{{.Name'], /^Error: template: unclosed action/],
    [
      ['service', 'create', '--name', 'web', '--replicas', '-1'],
      /^Error: invalid argument "-1" for "--replicas" flag: want a non-negative integer/,
    ],
    [['service', 'create', '--name', 'web', '-p', '8080:80:90'], /a host IP is not supported/],
    [
      ['service', 'create', '--name', 'web', '--mode', 'global', '--replicas', '2'],
      /^Error: replicas can only be used with replicated mode/,
    ],
    [['service', 'create', '--name', 'web', '--mode', 'daemon'], /"--mode" flag: want replicated or global/],
    [['service', 'create', '--name', 'web', '--health-interval', '30'], /missing unit in duration "30"/],
    [
      ['service', 'create', '--name', 'web', '--health-interval', '30s'],
      /--health-interval needs a health check command: give --health-cmd/,
    ],
    [
      ['service', 'create', '--name', 'web', '--no-healthcheck', '--health-cmd', 'true'],
      /--no-healthcheck conflicts with --health-\* options/,
    ],
    [['service', 'create', '--name', 'web', '--network', 'name=front,colour=red'], /unknown field "colour"/],
    [['service', 'scale', 'web'], /invalid scale specifier "web": want SERVICE=REPLICAS/],
    [['service', 'scale', 'web=2', 'api=x'], /invalid replicas value "x" for service api/],
    [['service', 'update', 'web', '--publish-add', 'x'], /invalid --publish-add "x"/],
    [
      ['service', 'update', 'web', '--args', "server.mjs '81"],
      /^Error: invalid argument "server.mjs '81" for "--args" flag: the single quote at position 12 is not closed \(SHOAL_ERR_INVALID_ARGUMENT\)\n$/,
    ],
    [['service', 'update', 'web', '--args', '81', '--', 'node', 'a.mjs'], /^Error: --args cannot be combined with a command after --/],
    [['service', 'ps', 'web', '-f', 'desired-state=sleeping'], /desired-state=sleeping/],
    [['container', 'run', '--network-alias', 'a', '--', 'sleep', '1'], /--network-alias needs --network/],
    [['node', 'ls', '-f', 'role=boss'], /role=boss/],
    [['swarm', 'join-token', 'admin'], /^Error: unknown role admin: want worker or manager/],
    [['swarm', 'join-token'], /missing required argument 'role'/],
  ];
  for (const [argv, re] of cases) {
    const r = await run(argv);
    t.equal(r.status, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.err, re, argv.join(' '));
    t.equal(r.err.trimEnd().split('\n').length, 1, 'one line');
    t.same(r.calls, [], 'nothing sent');
    t.equal(r.out, '');
  }
});

t.test('manager errors exit 1 with the code', async (t) => {
  const r = await run(['network', 'create', 'front'], {
    createNetwork: () => {
      throw apiError('SHOAL_ERR_NETWORK_EXISTS', 'network with name front already exists');
    },
  });
  t.equal(r.status, 1);
  t.equal(r.err, 'Error: network with name front already exists (SHOAL_ERR_NETWORK_EXISTS)\n');
});

t.test('network rm removes what it can and reports each failure', async (t) => {
  const r = await run(['network', 'rm', 'a', 'b', 'c'], {
    removeNetwork: (name) => {
      if (name === 'b') throw apiError('SHOAL_ERR_NETWORK_NOT_FOUND', 'network b not found');
    },
  });
  t.equal(r.status, 1);
  t.equal(r.out, 'a\nc\n');
  t.equal(r.err, 'Error: network b not found (SHOAL_ERR_NETWORK_NOT_FOUND)\n');
  t.same(
    r.calls.map((c) => c[1]),
    ['a', 'b', 'c'],
  );
  const forced = await run(['network', 'rm', '-f', 'b'], {
    removeNetwork: () => {
      throw apiError('SHOAL_ERR_NETWORK_NOT_FOUND', 'network b not found');
    },
  });
  t.equal(forced.status, 0, '-f ignores missing networks');
});

t.test('network prune asks first', async (t) => {
  const no = await run(['network', 'prune'], { pruneNetworks: () => ['x'] }, 'n');
  t.equal(no.status, 2);
  t.same(no.calls, []);
  t.match(no.err, /network prune cancelled/);
  const eof = await run(['network', 'prune'], { pruneNetworks: () => ['x'] }, undefined);
  t.same(eof.calls, [], 'no input: nothing removed');
  const yes = await run(['network', 'prune'], { pruneNetworks: () => ['x', 'y'] }, 'y');
  t.equal(yes.out, 'Deleted Networks:\nx\ny\n\n');
  const forced = await run(['network', 'prune', '-f'], { pruneNetworks: () => [] });
  t.equal(forced.status, 0);
  t.equal(forced.out, '', 'nothing printed when nothing was removed');
});

t.test('network inspect prints found networks and reports the others', async (t) => {
  const r = await run(['network', 'inspect', '--format', '{{.Name}} {{.IPAM.Config}}', 'front', 'nope'], {
    inspectNetwork: (name) => {
      if (name !== 'front') throw apiError('SHOAL_ERR_NETWORK_NOT_FOUND', `network ${String(name)} not found`);
      return NET;
    },
    networkEndpoints: () => ({ version: 1, network: NET, endpoints: [], peers: [] }),
  });
  t.equal(r.out, 'front [{10.0.9.0/24 10.0.9.1}]\n');
  t.equal(r.err, 'Error: network nope not found (SHOAL_ERR_NETWORK_NOT_FOUND)\n');
  t.equal(r.status, 1);
});

t.test('client flags reach the connection, before or after the subcommand', async (t) => {
  const a = await run(['network', '-H', 'unix:///tmp/m.sock', 'ls', '-q'], { listNetworks: () => [NET] });
  const b = await run(['network', 'ls', '--host', 'tcp://192.0.2.11:2377', '--data-dir', '/d', '-q'], { listNetworks: () => [NET] });
  t.same(a.connects, [{ host: 'unix:///tmp/m.sock' }]);
  t.same(b.connects, [{ host: 'tcp://192.0.2.11:2377', dataDir: '/d' }]);
  t.equal(a.out, 'n1abcdefghij\n');
});

t.test("service create builds Docker's spec from the flags and the command after --", async (t) => {
  const r = await run(
    [
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '3',
      '--network',
      'front',
      '--network',
      'name=back,alias=api',
      '-p',
      '8080:80',
      '-p',
      'published=5353,target=53,protocol=udp,mode=host',
      '--endpoint-mode',
      'vip',
      '--health-cmd',
      'curl -f localhost',
      '--health-interval',
      '1m30s',
      '--health-retries',
      '5',
      '-e',
      'A=1',
      '-e',
      'HOME',
      '--hostname',
      'web-host',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'example.org',
      '--dns-option',
      'ndots:2',
      '--restart-condition',
      'on-failure',
      '--update-parallelism',
      '2',
      '--update-delay',
      '10s',
      '--stop-grace-period',
      '500ms',
      '--label',
      'team=a',
      '--',
      'python3',
      '-m',
      'http.server',
      '80',
    ],
    { createService: () => ({ id: 'newserviceid' }) },
  );
  t.equal(r.status, 0, r.err);
  t.equal(r.out, 'newserviceid\n');
  const spec = r.calls[0]?.[1] as ReturnType<typeof defaultServiceSpec>;
  t.same(spec.mode, { replicated: { replicas: 3 } });
  t.same(spec.networks, [
    { target: 'front', aliases: [] },
    { target: 'back', aliases: ['api'] },
  ]);
  t.same(spec.endpointSpec, {
    mode: 'vip',
    ports: [
      { name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress', publishedPort: 8080 },
      { name: '', protocol: 'udp', targetPort: 53, publishMode: 'host', publishedPort: 5353 },
    ],
  });
  t.same(spec.taskTemplate.health, {
    cmd: ['CMD-SHELL', 'curl -f localhost'],
    intervalMs: 90000,
    timeoutMs: 0,
    retries: 5,
    startPeriodMs: 0,
  });
  t.same(spec.taskTemplate.env, ['A=1', 'HOME=/home/u']);
  t.same(spec.taskTemplate.command, ['python3', '-m', 'http.server', '80']);
  t.equal(spec.taskTemplate.hostname, 'web-host');
  t.same(spec.taskTemplate.dns, ['192.0.2.53']);
  t.same(spec.taskTemplate.dnsSearch, ['example.org']);
  t.same(spec.taskTemplate.dnsOptions, ['ndots:2']);
  t.equal(spec.taskTemplate.restartPolicy.condition, 'on-failure');
  t.equal(spec.taskTemplate.stopGracePeriodMs, 500);
  t.match(spec.updateConfig, { parallelism: 2, delayMs: 10000 });
  t.same(spec.labels, { team: 'a' });

  const g = await run(['service', 'create', '--name', 'agent', '--mode', 'global', '--', 'sleep', 'infinity'], {
    createService: () => ({ id: 'x' }),
  });
  t.same((g.calls[0]![1] as ReturnType<typeof defaultServiceSpec>).mode, { global: {} });
  const auto = await run(['service', 'create', '--name', 'dns', '-p', '53/udp'], { createService: () => ({ id: 'x' }) });
  t.same(
    (auto.calls[0]![1] as ReturnType<typeof defaultServiceSpec>).endpointSpec.ports,
    [{ name: '', protocol: 'udp', targetPort: 53, publishMode: 'ingress' }],
    'no published port: the manager picks',
  );
});

t.test('service update applies removals, then additions, to the current spec with its version', async (t) => {
  const current = svc();
  const r = await run(
    [
      'service',
      'update',
      '--replicas',
      '4',
      '--publish-rm',
      '80',
      '--publish-rm',
      '30000:53/udp',
      '--publish-add',
      '9090:90',
      '--network-rm',
      'front',
      '--network-add',
      'name=back,alias=b',
      '--env-rm',
      'A',
      '--env-add',
      'B=3',
      '--env-add',
      'C=4',
      '--label-rm',
      'drop',
      '--label-add',
      'new=1',
      'web',
      '--',
      'sleep',
      '200',
    ],
    {
      inspectService: () => current,
      inspectNetwork: (ref) => ({ ...NET, id: ref === 'front' ? NET.id : 'backidxxxxxxxxxxxxxxxxxxx' }),
      updateService: () => current,
    },
  );
  t.equal(r.status, 0, r.err);
  t.equal(r.out, 'web\n');
  const call = r.calls.find((c) => c[0] === 'updateService');
  t.equal(call?.[1], current.id);
  t.equal(call?.[3], 9, 'sends the version it read');
  const spec = call?.[2] as ReturnType<typeof defaultServiceSpec>;
  t.same(spec.mode, { replicated: { replicas: 4 } });
  t.same(spec.endpointSpec.ports, [{ name: '', protocol: 'tcp', targetPort: 90, publishMode: 'ingress', publishedPort: 9090 }]);
  t.same(spec.networks, [{ target: 'backidxxxxxxxxxxxxxxxxxxx', aliases: ['b'] }]);
  t.same(spec.taskTemplate.env, ['B=3', 'C=4']);
  t.same(spec.labels, { keep: '1', new: '1' });
  t.same(spec.taskTemplate.command, ['sleep', '200']);

  const again = await run(['service', 'update', '--network-add', 'front', 'web'], {
    inspectService: () => current,
    inspectNetwork: () => NET,
  });
  t.equal(again.status, 1);
  t.match(again.err, /service web is already attached to network front \(SHOAL_ERR_ALREADY_EXISTS\)/);
  t.notOk(again.calls.some((c) => c[0] === 'updateService'));

  const noPrev = await run(['service', 'update', '--rollback', 'web'], { inspectService: () => current });
  t.match(noPrev.err, /service web does not have a previous spec/);
  t.notOk(noPrev.calls.some((c) => c[0] === 'updateService'));
  const withPrev = { ...current, previousSpec: defaultServiceSpec('web') };
  const rb = await run(['service', 'update', '--rollback', 'web'], { inspectService: () => withPrev, updateService: () => withPrev });
  t.same(rb.calls.find((c) => c[0] === 'updateService')?.[2], defaultServiceSpec('web'));
  t.same(rb.calls.find((c) => c[0] === 'updateService')?.[4], { rollback: true }, 'the manager is told it is a rollback');
  const cmd = await run(['service', 'rollback', 'web'], { inspectService: () => withPrev, updateService: () => withPrev });
  t.equal(cmd.status, 0, cmd.err);
  t.equal(cmd.out, 'web\n');
  t.same(
    cmd.calls.find((c) => c[0] === 'updateService')?.slice(1),
    rb.calls.find((c) => c[0] === 'updateService')?.slice(1),
    'service rollback sends what service update --rollback sends',
  );
  const none = await run(['service', 'rollback', 'web'], { inspectService: () => current });
  t.equal(none.status, 1);
  t.match(none.err, /service web does not have a previous spec/);
  const mixed = await run(['service', 'update', '--rollback', '--replicas', '2', 'web'], { inspectService: () => withPrev });
  t.match(mixed.err, /--rollback cannot be combined with other flags/);
});

t.test('service update --args replaces the arguments and keeps the program', async (t) => {
  const lookups = { networkId: async (ref: string) => ref };
  const withArgs = async (command: string[], args: string[], text: string): Promise<{ command: string[]; args: string[] }> => {
    const current = svc();
    current.spec.taskTemplate.command = command;
    current.spec.taskTemplate.args = args;
    const spec = await buildUpdateSpec(current, { healthcheck: true, args: text }, [], {}, (n) => n === 'args', lookups);
    t.same(
      { ...spec, taskTemplate: { ...spec.taskTemplate, command: [], args: [] } },
      {
        ...current.spec,
        taskTemplate: { ...current.spec.taskTemplate, command: [], args: [] },
      },
    );
    return { command: spec.taskTemplate.command, args: spec.taskTemplate.args };
  };
  // what `-- node server.mjs 80` stores: the whole command line in command
  t.same(await withArgs(['node', 'server.mjs', '80'], [], 'server.mjs 81'), { command: ['node'], args: ['server.mjs', '81'] });
  t.same(await withArgs(['node'], ['server.mjs', '81'], 'server.mjs --port "8 2"'), {
    command: ['node'],
    args: ['server.mjs', '--port', '8 2'],
  });
  t.same(await withArgs(['node', 'server.mjs', '80'], [], ''), { command: ['node'], args: [] }, '--args "" clears them');
  t.same(await withArgs(['node'], ['server.mjs'], '  '), { command: ['node'], args: [] });
  t.same(
    await withArgs(['/bin/sh', '-c'], ['sleep 1'], "'sleep 2'"),
    { command: ['/bin/sh', '-c'], args: ['sleep 2'] },
    'a spec with args of its own keeps its whole command',
  );
  const empty = svc();
  empty.spec.taskTemplate.command = [];
  await t.rejects(
    buildUpdateSpec(empty, { healthcheck: true, args: 'x' }, [], {}, () => true, lookups),
    {
      code: 'SHOAL_ERR_INVALID_ARGUMENT',
      message: 'service web has no command to pass --args to: give one after --',
    },
  );

  // through the command line: what is sent, and that it stays a plain update
  const current = svc();
  current.spec.taskTemplate.command = ['node', 'server.mjs', '80'];
  const r = await run(['service', 'update', '--args', 'server.mjs 81', 'web'], {
    inspectService: () => current,
    updateService: () => current,
  });
  t.equal(r.status, 0, r.err);
  t.equal(r.out, 'web\n');
  const sent = r.calls.find((c) => c[0] === 'updateService')!;
  const tpl = (sent[2] as ReturnType<typeof defaultServiceSpec>).taskTemplate;
  t.same([...tpl.command, ...tpl.args], ['node', 'server.mjs', '81'], 'the task runs node server.mjs 81');
  t.same(sent[4], {}, 'not a rollback');
  const split = structuredClone(current);
  split.spec.taskTemplate.command = ['node'];
  split.spec.taskTemplate.args = ['server.mjs', '81'];
  const whole = await run(['service', 'update', 'web', '--', 'python3', '-m', 'http.server'], {
    inspectService: () => split,
    updateService: () => split,
  });
  const wholeTpl = (whole.calls.find((c) => c[0] === 'updateService')![2] as ReturnType<typeof defaultServiceSpec>).taskTemplate;
  t.same([wholeTpl.command, wholeTpl.args], [['python3', '-m', 'http.server'], []], 'a command after -- replaces command and args');

  const withPrev = { ...current, previousSpec: defaultServiceSpec('web') };
  for (const text of ['81', '']) {
    const mixed = await run(['service', 'update', '--rollback', '--args', text, 'web'], { inspectService: () => withPrev });
    t.equal(mixed.status, 2);
    t.match(mixed.err, /--rollback cannot be combined with other flags/);
    t.notOk(mixed.calls.some((c) => c[0] === 'updateService'));
  }
});

t.test('service scale reports each service', async (t) => {
  const r = await run(['service', 'scale', 'web=5', 'gone=2', 'api=0'], {
    scaleService: (name) => {
      if (name === 'gone') throw apiError('SHOAL_ERR_SERVICE_NOT_FOUND', 'service gone not found');
      return svc();
    },
  });
  t.equal(r.out, 'web scaled to 5\napi scaled to 0\n');
  t.equal(r.err, 'Error: service gone not found (SHOAL_ERR_SERVICE_NOT_FOUND)\n');
  t.equal(r.status, 1);
  t.same(
    r.calls.map((c) => [c[1], c[2]]),
    [
      ['web', 5],
      ['gone', 2],
      ['api', 0],
    ],
  );
});

t.test('node ls marks self; promote and demote speak Docker', async (t) => {
  const self: Node = {
    id: 'node1xxxxxxxxxxxxxxxxxxxx',
    version: 2,
    createdAt: '',
    updatedAt: '',
    spec: { name: '', labels: {}, role: 'manager', availability: 'active' },
    description: { hostname: 'h1', platformOs: 'linux', platformArch: 'x86_64', version: '0.1.0' },
    status: { state: 'ready', message: '', addr: '192.0.2.11', gossipPort: 7946 },
    managerStatus: { leader: true, reachability: 'reachable', addr: '192.0.2.11:2377' },
    certFingerprint: '',
  };
  const r = await run(['node', 'ls', '--format', '{{.ID}} {{.Self}} {{.ManagerStatus}}'], {
    listNodes: () => [self],
    inspectNode: () => self,
  });
  t.equal(r.out, 'node1xxxxxxxxxxxxxxxxxxxx true Leader\n');
  const p = await run(['node', 'promote', 'h1'], { inspectNode: () => self });
  t.equal(p.out, 'Node h1 is already a manager.\n');
  const d = await run(['node', 'demote', 'h1'], { inspectNode: () => self, updateNode: () => self });
  t.equal(d.out, 'Manager h1 demoted in the swarm.\n');
  t.same(d.calls[1], ['updateNode', self.id, { ...self.spec, role: 'worker' }, 2]);
  const u = await run(['node', 'update', '--availability', 'drain', '--label-add', 'zone=a', 'h1'], {
    inspectNode: () => self,
    updateNode: () => self,
  });
  t.same(u.calls[1], ['updateNode', self.id, { name: '', labels: { zone: 'a' }, role: 'manager', availability: 'drain' }, 2]);
  t.equal(u.out, 'h1\n');
});

t.test('swarm join-token prints the join command, or only the token with -q', async (t) => {
  const token = { role: 'worker', token: 'SWMTKN-1-abc-def', managerAddr: '192.0.2.11:2377' };
  const r = await run(['swarm', 'join-token', 'worker'], { joinToken: () => token });
  t.equal(
    r.out,
    'To add a worker to this swarm, run the following command on the new node:\n\n    shoal agent --join-token SWMTKN-1-abc-def --manager 192.0.2.11:2377 --advertise-addr <NODE-IP> --data-dir /var/lib/shoal\n\n',
  );
  const q = await run(['swarm', 'join-token', '-q', '--rotate', 'manager'], { joinToken: () => token });
  t.equal(q.out, 'SWMTKN-1-abc-def\n');
  t.same(q.calls, [['joinToken', 'manager', true]]);
  const rot = await run(['swarm', 'join-token', '--rotate', 'worker'], { joinToken: () => token });
  t.match(rot.out, /^Successfully rotated worker join token\.\n\nTo add a worker/);
});

t.test('container run', async (t) => {
  const r = await run(
    [
      'container',
      'run',
      '--network',
      'front',
      '--network',
      'back',
      '--network-alias',
      'probe',
      '--name',
      'p1',
      '--node',
      'h2',
      '-e',
      'X=1',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'example.org',
      '--dns-option',
      'ndots:2',
      '--',
      'sleep',
      '600',
    ],
    {
      runContainer: () => ({ id: 'cid' }),
    },
  );
  t.equal(r.out, 'cid\n');
  t.same(r.calls[0]?.[1], {
    name: 'p1',
    networks: [
      { target: 'front', aliases: ['probe'] },
      { target: 'back', aliases: ['probe'] },
    ],
    node: 'h2',
    command: ['sleep', '600'],
    hostname: '',
    env: ['X=1'],
    labels: {},
    dns: ['192.0.2.53'],
    dnsSearch: ['example.org'],
    dnsOptions: ['ndots:2'],
  });
});

t.test('service create and update: --update-* and --rollback-* flags', async (t) => {
  const flags = [
    '--update-order',
    'start-first',
    '--update-failure-action',
    'rollback',
    '--update-monitor',
    '30s',
    '--update-max-failure-ratio',
    '0.2',
    '--rollback-parallelism',
    '0',
    '--rollback-delay',
    '2s',
    '--rollback-order',
    'start-first',
    '--rollback-failure-action',
    'continue',
    '--rollback-monitor',
    '1m',
    '--rollback-max-failure-ratio',
    '1',
  ];
  const c = await run(['service', 'create', '--name', 'web', ...flags, '--', 'sleep', '1'], { createService: () => ({ id: 'x' }) });
  t.equal(c.status, 0, c.err);
  const spec = c.calls[0]?.[1] as ReturnType<typeof defaultServiceSpec>;
  t.same(spec.updateConfig, {
    parallelism: 1,
    delayMs: 0,
    failureAction: 'rollback',
    monitorMs: 30_000,
    maxFailureRatio: 0.2,
    order: 'start-first',
  });
  t.same(spec.rollbackConfig, {
    parallelism: 0,
    delayMs: 2000,
    failureAction: 'continue',
    monitorMs: 60_000,
    maxFailureRatio: 1,
    order: 'start-first',
  });
  const plain = await run(['service', 'create', '--name', 'web', '--', 'sleep', '1'], { createService: () => ({ id: 'x' }) });
  t.same((plain.calls[0]![1] as ReturnType<typeof defaultServiceSpec>).rollbackConfig, defaultServiceSpec('web').rollbackConfig);

  const current = {
    ...({} as Service),
    id: 's1',
    version: 7,
    spec: defaultServiceSpec('web'),
    endpoint: { spec: { mode: 'vip', ports: [] }, ports: [], virtualIps: [] },
  } as Service;
  const u = await run(['service', 'update', '--update-order', 'start-first', '--rollback-monitor', '10s', 'web'], {
    inspectService: () => current,
    updateService: () => current,
  });
  t.equal(u.status, 0, u.err);
  const sent = u.calls.find((x) => x[0] === 'updateService')!;
  t.match(sent[2], { updateConfig: { order: 'start-first', failureAction: 'pause' }, rollbackConfig: { monitorMs: 10_000 } });
  t.same(sent[4], {}, 'not a rollback');

  for (const [flag, value, why] of [
    ['--update-order', 'sideways', /invalid argument "sideways" for "--update-order" flag: want "start-first" or "stop-first"/],
    ['--update-failure-action', 'explode', /for "--update-failure-action" flag: want "pause", "continue", "rollback"/],
    ['--rollback-failure-action', 'rollback', /for "--rollback-failure-action" flag: want "pause", "continue"/],
    ['--update-max-failure-ratio', '1.5', /for "--update-max-failure-ratio" flag: want a number from 0 to 1/],
    ['--rollback-max-failure-ratio', '-0.1', /want a number from 0 to 1/],
    ['--update-monitor', 'soon', /--update-monitor/],
    ['--rollback-parallelism', '-1', /--rollback-parallelism/],
  ] as const) {
    const bad = await run(['service', 'create', '--name', 'web', flag, value, '--', 'sleep', '1'], {});
    t.not(bad.status, 0, `${flag} ${value} refused`);
    t.match(bad.err, why);
    t.same(bad.calls, [], `${flag} ${value}: nothing sent`);
  }
  const mixed = await run(['service', 'update', '--rollback', '--update-order', 'start-first', 'web'], { inspectService: () => current });
  t.match(mixed.err, /--rollback cannot be combined with other flags/);
});
