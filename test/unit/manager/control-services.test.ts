import t from 'tap';
import { defaultNetworkSpec, defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/api-defaults.ts';
import type { PortConfig, ServiceSpec } from '../../../src/api/api-types.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

const svc = (name: string, patch: Partial<ServiceSpec> = {}): ServiceSpec => ({ ...defaultServiceSpec(name), ...patch });
const port = (targetPort: number, publishedPort?: number, extra: Partial<PortConfig> = {}): PortConfig => ({
  name: '',
  protocol: 'tcp',
  targetPort,
  publishMode: 'ingress',
  ...(publishedPort !== undefined ? { publishedPort } : {}),
  ...extra,
});

async function joinReadyNodes(control: ManagerControl, names: string[]): Promise<string[]> {
  const swarm = await control.inspectSwarm();
  const ids: string[] = [];
  for (const hostname of names) {
    const r = await control.issueNodeCertificate({
      token: swarm.joinTokens.worker,
      csrPem: createNodeCsr().csrPem,
      hostname,
      advertiseAddr: '192.0.2.10',
    });
    await control.nodeReady(r.nodeId, { hostname, platformOs: 'linux', platformArch: 'x64', version: '0', addr: '192.0.2.10' });
    ids.push(r.nodeId);
  }
  return ids;
}

t.test('a service gets VIPs per network, an ingress VIP, published ports and spread tasks', async (t) => {
  const { control } = await inProcessManager(t);
  const [n1, n2] = await joinReadyNodes(control, ['n1', 'n2']);
  const front = await control.createNetwork(defaultNetworkSpec('front'));
  const s = await control.createService(
    svc('web', {
      mode: { replicated: { replicas: 4 } },
      networks: [{ target: 'front', aliases: ['www'] }],
      endpointSpec: { mode: 'vip', ports: [port(80), port(443, 8443)] },
    }),
  );
  t.match(s.id, /^[0-9a-z]{25}$/);
  const ingress = (await control.inspectNetwork('ingress')).id;
  t.same(s.endpoint.virtualIps, [
    { networkId: front.id, addr: '10.0.0.2/24' },
    { networkId: ingress, addr: s.endpoint.virtualIps[1]!.addr },
  ]);
  t.match(s.endpoint.virtualIps[1]!.addr, /^10\.255\.0\.\d+\/16$/);
  t.same(
    s.endpoint.ports.map((p) => p.publishedPort),
    [30000, 8443],
  );
  t.same(s.serviceStatus, { runningTasks: 0, desiredTasks: 4 });
  const tasks = await control.listTasks({ services: ['web'] });
  t.equal(tasks.length, 4);
  t.same(
    tasks.map((x) => x.slot),
    [1, 2, 3, 4],
  );
  t.same(tasks.map((x) => x.nodeId).sort(), [n1, n1, n2, n2].sort(), 'two tasks per node');
  for (const task of tasks) {
    t.equal(task.status.state, 'assigned');
    t.same(
      task.networks.map((n) => n.networkName),
      ['front', 'ingress'],
      'tasks publishing ingress ports join ingress',
    );
    const [addr] = task.networks[0]!.addresses;
    const octets = addr!.split('/')[0]!.split('.').map(Number);
    t.equal(task.networks[0]!.mac, `02:42:${octets.map((o) => o.toString(16).padStart(2, '0')).join(':')}`);
    t.match(task.name, new RegExp(`^web\\.${task.slot}\\.${task.id}$`));
  }
  const addrs = tasks.flatMap((x) => x.networks.map((n) => n.addresses[0]));
  t.equal(new Set(addrs).size, addrs.length, 'every address unique');
  const eps = await control.networkEndpoints('front');
  t.same(eps.endpoints.map((e) => e.kind).sort(), ['task', 'task', 'task', 'task', 'vip']);
  t.same(eps.peers.map((p) => p.nodeId).sort(), [n1, n2].sort());
  t.same((await control.inspectNetwork('front')).serviceIds, [s.id]);
});

t.test('published ports: explicit, automatic, conflicts, release on removal', async (t) => {
  const { control } = await inProcessManager(t);
  const a = await control.createService(svc('a', { endpointSpec: { mode: 'vip', ports: [port(80, 8080), port(81)] } }));
  t.same(
    a.endpoint.ports.map((p) => p.publishedPort),
    [8080, 30000],
  );
  const b = await control.createService(
    svc('b', { endpointSpec: { mode: 'vip', ports: [port(80), port(53, 8080, { protocol: 'udp' })] } }),
  );
  t.same(
    b.endpoint.ports.map((p) => p.publishedPort),
    [30001, 8080],
    'same number, other protocol is free',
  );
  await t.rejects(control.createService(svc('c', { endpointSpec: { mode: 'vip', ports: [port(80, 8080)] } })), {
    code: 'SHOAL_ERR_PORT_IN_USE',
    message: /8080\/tcp is already in use by service a/,
  });
  await t.rejects(control.createService(svc('c', { endpointSpec: { mode: 'vip', ports: [port(80, 30001)] } })), {
    code: 'SHOAL_ERR_PORT_IN_USE',
  });
  await t.rejects(control.createService(svc('c', { endpointSpec: { mode: 'dnsrr', ports: [port(80, 9000)] } })), {
    code: 'SHOAL_ERR_DNSRR_INGRESS_PORT',
  });
  const host = await control.createService(svc('h', { endpointSpec: { mode: 'dnsrr', ports: [port(80, 8080, { publishMode: 'host' })] } }));
  t.same(host.endpoint.virtualIps, [], 'dnsrr: no VIPs');
  t.same(host.endpoint.ports[0]!.publishedPort, 8080, 'host-mode ports are node-local, not reserved cluster-wide');
  await control.removeService('a');
  const c = await control.createService(svc('c', { endpointSpec: { mode: 'vip', ports: [port(80, 8080), port(1)] } }));
  t.same(
    c.endpoint.ports.map((p) => p.publishedPort),
    [8080, 30000],
    'ports of a removed service are free again',
  );
});

t.test('updates keep allocations that still apply and replace tasks when the template changes', async (t) => {
  const { control } = await inProcessManager(t);
  await joinReadyNodes(control, ['n1']);
  await control.createNetwork(defaultNetworkSpec('one'));
  await control.createNetwork(defaultNetworkSpec('two'));
  const s = await control.createService(
    svc('web', {
      mode: { replicated: { replicas: 2 } },
      networks: [{ target: 'one', aliases: [] }],
      endpointSpec: { mode: 'vip', ports: [port(80)] },
      updateConfig: { ...defaultUpdateConfig(), parallelism: 0, delayMs: 0 },
    }),
  );
  const before = await control.listTasks({ services: ['web'] });
  // publish-add: the automatic port of the first port stays
  const s2 = await control.updateService('web', { ...s.spec, endpointSpec: { mode: 'vip', ports: [port(80), port(90, 9090)] } }, s.version);
  t.same(
    s2.endpoint.ports.map((p) => p.publishedPort),
    [30000, 9090],
  );
  t.same(s2.endpoint.virtualIps, s.endpoint.virtualIps, 'VIPs kept');
  t.same(
    (await control.listTasks({ services: ['web'], desiredState: 'running' })).map((x) => x.id).sort(),
    before.map((x) => x.id).sort(),
    'ports alone do not replace tasks',
  );
  await t.rejects(control.updateService('web', s.spec, s.version), { code: 'SHOAL_ERR_VERSION_CONFLICT' });
  // network-add: a VIP on the new network, and the running tasks attached to it in place
  const s3 = await control.updateService(
    'web',
    { ...s2.spec, networks: [...s2.spec.networks, { target: 'two', aliases: ['w2'] }] },
    s2.version,
  );
  t.equal(s3.endpoint.virtualIps.length, 3);
  t.not(s3.updateStatus.state, 'updating', 'no rolling update for an attachment');
  t.same(s3.previousSpec?.networks.length, 1);
  const live = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.same(live.map((x) => x.id).sort(), before.map((x) => x.id).sort(), 'the same tasks: attached without a restart');
  t.same(
    live[0]!.networks.map((n) => `${n.networkName} ${n.aliases.join(',')}`),
    ['one ', 'ingress ', 'two w2'],
    'the new network appended, with its aliases',
  );
  const onTwo = (await control.networkEndpoints('two')).endpoints.filter((e) => e.kind === 'task' && e.serviceId === s.id);
  t.equal(onTwo.length, 2, 'an endpoint per task on the new network');
  t.equal((await control.listTasks({ services: ['web'], desiredState: 'shutdown' })).length, 0, 'nothing shut down');
  // renaming and mode changes are refused
  await t.rejects(control.updateService('web', { ...s3.spec, name: 'other' }), { code: 'SHOAL_ERR_BAD_SPEC', message: /renaming/ });
  await t.rejects(control.updateService('web', { ...s3.spec, mode: { global: {} } }), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: /mode change/,
  });
  // network-rm frees the VIP and the tasks' endpoints on that network, in place
  const s4 = await control.updateService('web', { ...s3.spec, networks: [s3.spec.networks[0]!] });
  t.equal(s4.endpoint.virtualIps.length, 2);
  t.same(
    (await control.networkEndpoints('two')).endpoints.filter((e) => e.serviceId === s.id),
    [],
    'no VIP and no task endpoint left on the network',
  );
  const after = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.same(after.map((x) => x.id).sort(), before.map((x) => x.id).sort(), 'still the same tasks');
  t.same(
    after[0]!.networks.map((n) => n.networkName),
    ['one', 'ingress'],
  );
  // the template changes: tasks are replaced (a rolling update)
  const s5 = await control.updateService('web', { ...s4.spec, taskTemplate: { ...s4.spec.taskTemplate, env: ['X=1'] } });
  t.equal(s5.updateStatus.state === 'updating' || s5.updateStatus.state === 'completed', true, 'an update started');
  t.equal((await control.listTasks({ services: ['web'], desiredState: 'shutdown' })).length, 2, 'the old tasks are shut down');
});

t.test('scale, global services and removal', async (t) => {
  const { control } = await inProcessManager(t);
  const [n1, n2] = await joinReadyNodes(control, ['n1', 'n2']);
  await control.createService(svc('rep', { mode: { replicated: { replicas: 3 } } }));
  await control.scaleService('rep', 1);
  t.same(
    (await control.listTasks({ services: ['rep'], desiredState: 'running' })).map((x) => x.slot),
    [1],
  );
  await control.scaleService('rep', 0);
  t.equal((await control.listTasks({ services: ['rep'], desiredState: 'running' })).length, 0);
  await t.rejects(control.scaleService('rep', -1), { code: 'SHOAL_ERR_BAD_SPEC' });
  const g = await control.createService(svc('glob', { mode: { global: {} } }));
  t.same((await control.listTasks({ services: ['glob'] })).map((x) => x.nodeId).sort(), [n1, n2].sort());
  t.same(g.serviceStatus.desiredTasks, 2);
  await t.rejects(control.scaleService('glob', 3), { code: 'SHOAL_ERR_BAD_SPEC', message: /replicated mode/ });
  const [n3] = await joinReadyNodes(control, ['n3']);
  t.ok(
    (await control.listTasks({ services: ['glob'] })).some((x) => x.nodeId === n3),
    'a new node gets a global task',
  );
  await control.removeService('glob');
  t.equal((await control.listTasks({ services: ['rep'] })).length > 0, true);
  await t.rejects(control.inspectService('glob'), { code: 'SHOAL_ERR_SERVICE_NOT_FOUND' });
  const left = (await control.listTasks()).filter((x) => x.serviceName === 'glob');
  t.same(
    left.map((x) => [x.desiredState, x.drained]),
    [
      ['shutdown', true],
      ['shutdown', true],
      ['shutdown', true],
    ],
    'tasks on nodes stay until their agents stop them (nobody watches their networks: drained at once)',
  );
  for (const x of left) await control.reportTaskStates(x.nodeId, [{ taskId: x.id, status: { ...x.status, state: 'shutdown' } }]);
  t.equal((await control.listTasks()).filter((x) => x.serviceName === 'glob').length, 0, 'and go with the service once they ended');
});

t.test('a service created without a name gets a generated one, unique and a valid name', async (t) => {
  const { control } = await inProcessManager(t);
  const a = await control.createService(svc(''));
  const b = await control.createService(svc(''));
  t.match(a.spec.name, /^[a-z]+-[a-z]+(-\d+)?$/, 'adjective-noun');
  t.not(a.spec.name, b.spec.name, 'two nameless services get different names');
  t.same((await control.listServices()).map((x) => x.spec.name).sort(), [a.spec.name, b.spec.name].sort(), 'both stored under them');
});

t.test('bad service requests are refused with stable codes and change nothing', async (t) => {
  const { control } = await inProcessManager(t);
  await control.createNetwork(defaultNetworkSpec('front'));
  await control.createService(svc('web', { endpointSpec: { mode: 'vip', ports: [port(80, 8080)] } }));
  const cases: [string, () => Promise<unknown>, string][] = [
    ['bad name', () => control.createService(svc('web_1')), 'SHOAL_ERR_BAD_NAME'],
    ['duplicate', () => control.createService(svc('web')), 'SHOAL_ERR_SERVICE_EXISTS'],
    ['negative replicas', () => control.createService(svc('x', { mode: { replicated: { replicas: -1 } } })), 'SHOAL_ERR_BAD_SPEC'],
    ['both modes', () => control.createService(svc('x', { mode: { replicated: { replicas: 1 }, global: {} } })), 'SHOAL_ERR_BAD_SPEC'],
    [
      'unknown network',
      () => control.createService(svc('x', { networks: [{ target: 'nope', aliases: [] }] })),
      'SHOAL_ERR_NETWORK_NOT_FOUND',
    ],
    [
      'ingress attached explicitly',
      () => control.createService(svc('x', { networks: [{ target: 'ingress', aliases: [] }] })),
      'SHOAL_ERR_BAD_SPEC',
    ],
    [
      'network twice',
      () =>
        control.createService(
          svc('x', {
            networks: [
              { target: 'front', aliases: [] },
              { target: 'front', aliases: [] },
            ],
          }),
        ),
      'SHOAL_ERR_BAD_SPEC',
    ],
    [
      'port taken',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(80, 8080)] } })),
      'SHOAL_ERR_PORT_IN_USE',
    ],
    [
      'port twice',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(80, 9000), port(81, 9000)] } })),
      'SHOAL_ERR_PORT_IN_USE',
    ],
    [
      'published out of range',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(80, 70000)] } })),
      'SHOAL_ERR_BAD_PORT',
    ],
    [
      'target out of range',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(0)] } })),
      'SHOAL_ERR_BAD_PORT',
    ],
    [
      'bad protocol',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(80, 1, { protocol: 'icmp' })] } })),
      'SHOAL_ERR_BAD_PORT',
    ],
    [
      'bad publish mode',
      () => control.createService(svc('x', { endpointSpec: { mode: 'vip', ports: [port(80, 1, { publishMode: 'both' })] } })),
      'SHOAL_ERR_BAD_PORT',
    ],
    [
      'dnsrr with ingress port',
      () => control.createService(svc('x', { endpointSpec: { mode: 'dnsrr', ports: [port(80, 9001)] } })),
      'SHOAL_ERR_DNSRR_INGRESS_PORT',
    ],
    ['bad endpoint mode', () => control.createService(svc('x', { endpointSpec: { mode: 'rr', ports: [] } })), 'SHOAL_ERR_BAD_SPEC'],
    [
      'bad restart condition',
      () =>
        control.createService(
          svc('x', {
            taskTemplate: { ...defaultServiceSpec('x').taskTemplate, restartPolicy: { condition: 'always', delayMs: 0, maxAttempts: 0 } },
          }),
        ),
      'SHOAL_ERR_BAD_SPEC',
    ],
    [
      'bad dns',
      () => control.createService(svc('x', { taskTemplate: { ...defaultServiceSpec('x').taskTemplate, dns: ['not-an-ip'] } })),
      'SHOAL_ERR_BAD_SPEC',
    ],
    [
      'bad health test',
      () =>
        control.createService(
          svc('x', {
            taskTemplate: {
              ...defaultServiceSpec('x').taskTemplate,
              health: { cmd: ['curl'], intervalMs: 1, timeoutMs: 1, retries: 1, startPeriodMs: 0 },
            },
          }),
        ),
      'SHOAL_ERR_BAD_SPEC',
    ],
    ['unknown service inspect', () => control.inspectService('nope'), 'SHOAL_ERR_SERVICE_NOT_FOUND'],
    ['unknown service scale', () => control.scaleService('nope', 2), 'SHOAL_ERR_SERVICE_NOT_FOUND'],
    ['unknown service rm', () => control.removeService('nope'), 'SHOAL_ERR_SERVICE_NOT_FOUND'],
    ['ps unknown node', () => control.listTasks({ nodes: ['nope'] }), 'SHOAL_ERR_NODE_NOT_FOUND'],
    ['bad desired-state filter', () => control.listTasks({ desiredState: 'sleeping' }), 'SHOAL_ERR_BAD_SPEC'],
    [
      'unknown node update',
      () => control.updateNode('nope', { name: '', labels: {}, role: 'worker', availability: 'drain' }),
      'SHOAL_ERR_NODE_NOT_FOUND',
    ],
    [
      'bad availability',
      () => control.updateNode('self', { name: '', labels: {}, role: 'manager', availability: 'sleep' }),
      'SHOAL_ERR_BAD_SPEC',
    ],
    [
      'demote the manager node',
      () => control.updateNode('self', { name: '', labels: {}, role: 'worker', availability: 'active' }),
      'SHOAL_ERR_LAST_MANAGER',
    ],
    ['remove the manager node', () => control.removeNode('self', true), 'SHOAL_ERR_NODE_IS_MANAGER'],
    [
      'bad join token',
      () => control.issueNodeCertificate({ token: 'SWMTKN-1-nope', csrPem: '', hostname: 'h', advertiseAddr: '' }),
      'SHOAL_ERR_BAD_JOIN_TOKEN',
    ],
    ['token role', () => control.joinToken('admin' as never), 'SHOAL_ERR_BAD_SPEC'],
  ];
  for (const [what, call, code] of cases) {
    const before = await control.dump();
    await t.rejects(call(), { code }, what);
    t.equal(await control.dump(), before, `${what}: store unchanged`);
  }
  const next = await control.createService(svc('after', { endpointSpec: { mode: 'vip', ports: [port(80)] } }));
  t.same(next.endpoint.ports[0]!.publishedPort, 30000, 'failed requests left no port reserved');
});
