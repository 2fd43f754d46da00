import t from 'tap';
import type { Container, Network, Service, Task } from '../../../src/api/api-types.ts';
import { defaultNetworkSpec, defaultServiceSpec, defaultContainerSpec } from '../../../src/api/api-defaults.ts';
import { inspectJson } from '../../../src/cli/format/json.ts';
import { renderList } from '../../../src/cli/format/list.ts';
import { NETWORK_LIST, networkInspect, networkRow } from '../../../src/cli/format/network.ts';
import { SERVICE_LIST, TASK_LIST, orderTasks, portsText, serviceInspect, serviceRow, taskRow } from '../../../src/cli/format/service.ts';
import { NODE_LIST, nodeInspect, nodeRow } from '../../../src/cli/format/node.ts';
import { CONTAINER_LIST, containerInspect, containerRow } from '../../../src/cli/format/container.ts';
import { humanDuration, goTime } from '../../../src/cli/format/time.ts';
import { renderTemplate } from '../../../src/cli/format/template.ts';
import { parseListFormat, parseInspectFormat } from '../../../src/cli/parse/format-option.ts';
import { buildIpamConfigs } from '../../../src/cli/parse/ipam.ts';
import { isUsageError } from '../../../src/cli/parse/usage-error.ts';
import { nodeObject as node } from '../../support/api-objects.ts';

const NET_ID = 'n1abcdefghijklmnopqrstuvw';
const NOW = Date.parse('2026-11-22T12:00:00.000Z');

function network(over: Partial<Network> = {}, name = 'front'): Network {
  return {
    id: NET_ID,
    version: 7,
    createdAt: '2026-11-22T10:00:00.120Z',
    updatedAt: '2026-11-22T10:00:00.120Z',
    spec: { ...defaultNetworkSpec(name), attachable: true, labels: { tier: 'web' } },
    vxlanId: 4097,
    ipam: [{ subnet: '10.0.9.0/24', gateway: '10.0.9.1', auxAddresses: {} }],
    scope: 'swarm',
    ingress: false,
    endpointCount: 0,
    serviceIds: [],
    downEndpointCount: 0,
    ...over,
  };
}

function service(over: Partial<Service> = {}): Service {
  const spec = defaultServiceSpec('web');
  spec.taskTemplate.command = ['python3', '-m', 'http.server', '80'];
  spec.networks = [{ target: NET_ID, aliases: [] }];
  spec.endpointSpec.ports = [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }];
  return {
    id: 's1abcdefghijklmnopqrstuvw',
    version: 12,
    createdAt: '2026-11-22T10:00:00Z',
    updatedAt: '2026-11-22T10:05:00Z',
    spec,
    endpoint: {
      spec: spec.endpointSpec,
      ports: spec.endpointSpec.ports,
      virtualIps: [
        { networkId: 'ingressidxxxxxxxxxxxxxxxxx', addr: '10.255.0.5/16' },
        { networkId: NET_ID, addr: '10.0.9.2/24' },
      ],
    },
    serviceStatus: { runningTasks: 2, desiredTasks: 3 },
    updateStatus: { state: '', startedAt: '', completedAt: '', message: '' },
    ...over,
  };
}

function task(id: string, slot: number, createdAt: string, state: string, desired = 'running', err = ''): Task {
  return {
    id,
    version: 1,
    createdAt,
    updatedAt: createdAt,
    serviceId: 's1',
    serviceName: 'web',
    slot,
    nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
    desiredState: desired,
    status: { state, message: '', err, timestamp: createdAt, exitCode: 0, health: '' },
    spec: defaultServiceSpec('web').taskTemplate,
    networks: [],
    specVersion: 1,
    name: `web.${slot}.${id}`,
    hostPorts: [],
    drained: false,
  };
}

t.test("network inspect has Docker's fields in Docker's order", async (t) => {
  const n = network({
    ipam: [{ subnet: '10.0.9.0/24', gateway: '10.0.9.1', ipRange: '10.0.9.128/25', auxAddresses: { router: '10.0.9.2' } }],
  });
  const out = networkInspect(
    n,
    {
      version: 1,
      network: n,
      endpoints: [
        {
          id: 'ep1',
          networkId: NET_ID,
          kind: 'task',
          ownerId: 'task1',
          serviceId: 's1',
          serviceName: 'web',
          nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
          name: 'web.1.task1',
          aliases: [],
          addr: '10.0.9.3/24',
          mac: '02:42:0a:00:09:03',
          addrV6: '',
          version: 1,
          state: 'active',
          hostname: '',
        },
        {
          id: 'ep2',
          networkId: NET_ID,
          kind: 'vip',
          ownerId: 's1',
          serviceId: 's1',
          serviceName: 'web',
          nodeId: '',
          name: 'web',
          aliases: [],
          addr: '10.0.9.2/24',
          mac: '',
          addrV6: '',
          version: 1,
          state: 'active',
          hostname: '',
        },
      ],
      peers: [{ nodeId: 'node1xxxxxxxxxxxxxxxxxxxx', addr: '192.0.2.11', hostname: 'h1', role: 'manager', gossipPort: 7946 }],
    },
    true,
  );
  t.same(Object.keys(out), [
    'Name',
    'Id',
    'Created',
    'Scope',
    'Driver',
    'EnableIPv6',
    'IPAM',
    'Internal',
    'Attachable',
    'Ingress',
    'ConfigFrom',
    'ConfigOnly',
    'Containers',
    'Options',
    'Labels',
    'Peers',
    'Services',
  ]);
  t.equal(out.Created, '2026-11-22T10:00:00.12Z', 'RFC 3339 with the fraction trimmed, as Go prints it');
  t.same(out.IPAM, {
    Driver: 'default',
    Options: null,
    Config: [{ Subnet: '10.0.9.0/24', IPRange: '10.0.9.128/25', Gateway: '10.0.9.1', AuxiliaryAddresses: { router: '10.0.9.2' } }],
  });
  t.same(out.Options, { 'com.docker.network.driver.overlay.vxlanid_list': '4097' });
  t.same(out.Containers, {
    task1: { Name: 'web.1.task1', EndpointID: 'ep1', MacAddress: '02:42:0a:00:09:03', IPv4Address: '10.0.9.3/24', IPv6Address: '' },
  });
  t.same(out.Peers, [{ Name: 'h1-node1xxxxxxx', IP: '192.0.2.11' }]);
  t.same(out.Services, {
    web: {
      VIP: '10.0.9.2',
      Ports: [],
      LocalLBIndex: 0,
      Tasks: [{ Name: 'web.1.task1', EndpointID: 'ep1', EndpointIP: '10.0.9.3', Info: { 'Host IP': '192.0.2.11' } }],
    },
  });
  t.equal(
    renderTemplate(
      '{{.Name}} {{.Id}} {{index .Options "com.docker.network.driver.overlay.vxlanid_list"}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels}}',
      out,
    ),
    `front ${NET_ID} 4097 10.0.9.0/24 map[tier:web]`,
  );
});

t.test('inspect JSON: 4-space indent, Go escaping, [] for none', async (t) => {
  t.equal(inspectJson([]), '[]\n');
  t.equal(
    inspectJson([{ Name: 'a<b>&c', Labels: {} }]),
    '[\n    {\n        "Name": "a\\u003cb\\u003e\\u0026c",\n        "Labels": {}\n    }\n]\n',
  );
});

t.test('network ls: Docker columns and widths', async (t) => {
  const rows = [
    networkRow(network(), false),
    networkRow(network({ id: 'ingressidxxxxxxxxxxxxxxxxx', spec: { ...defaultNetworkSpec('ingress'), ingress: true } }, 'ingress'), false),
  ];
  t.equal(
    renderList(rows, NETWORK_LIST, parseListFormat(undefined)),
    'NETWORK ID     NAME      DRIVER    SCOPE\n' +
      'n1abcdefghij   front     overlay   swarm\n' +
      'ingressidxxx   ingress   overlay   swarm\n',
  );
  t.equal(renderList(rows, NETWORK_LIST, parseListFormat('{{.Name}}')), 'front\ningress\n');
  t.equal(
    renderList(rows, NETWORK_LIST, parseListFormat('table {{.Name}}\\t{{.Labels}}')),
    'NAME      LABELS\nfront     tier=web\ningress   \n',
  );
  t.equal(renderList(rows.slice(0, 1), NETWORK_LIST, parseListFormat('{{.Label "tier"}}')), 'web\n');
  t.equal(
    renderList(rows.slice(0, 1), NETWORK_LIST, parseListFormat('json')),
    '{"CreatedAt":"2026-11-22 10:00:00.12 +0000 UTC","Driver":"overlay","ID":"n1abcdefghij","IPv6":"false","Internal":"false","Labels":"tier=web","Name":"front","Scope":"swarm"}\n',
  );
  t.equal(renderList([networkRow(network(), true)], NETWORK_LIST, parseListFormat('{{.ID}}')), `${NET_ID}\n`);
  t.equal(renderList([], NETWORK_LIST, parseListFormat(undefined)), 'NETWORK ID   NAME      DRIVER    SCOPE\n', 'a header even when empty');
});

t.test('service ls PORTS as Docker prints them', async (t) => {
  const p = (publishedPort: number | undefined, targetPort: number, protocol = 'tcp', publishMode = 'ingress') => ({
    name: '',
    protocol,
    targetPort,
    publishMode,
    ...(publishedPort === undefined ? {} : { publishedPort }),
  });
  const cases: [ReturnType<typeof p>[], string][] = [
    [[], ''],
    [[p(8080, 80)], '*:8080->80/tcp'],
    [[p(53, 53, 'udp'), p(8080, 80)], '*:8080->80/tcp, *:53->53/udp'],
    [[p(8081, 81), p(8080, 80)], '*:8080-8081->80-81/tcp'],
    [[p(8080, 80), p(8082, 82)], '*:8080->80/tcp, *:8082->82/tcp'],
    [[p(8080, 80), p(9090, 90, 'tcp', 'host')], '*:8080->80/tcp'],
    [[p(30000, 80), p(30001, 443)], '*:30000->80/tcp, *:30001->443/tcp'],
  ];
  for (const [ports, want] of cases) t.equal(portsText(ports), want, want);
  t.equal(portsText([p(9090, 90, 'tcp', 'host')], 'host'), '*:9090->90/tcp');
});

t.test('service ls table and service inspect shape', async (t) => {
  const s = service();
  t.equal(
    renderList([serviceRow(s)], SERVICE_LIST, parseListFormat(undefined)),
    'ID             NAME      MODE         REPLICAS   PORTS\ns1abcdefghij   web       replicated   2/3        *:8080->80/tcp\n',
  );
  const g = service({ spec: { ...s.spec, mode: { global: {} } } });
  t.equal(renderList([serviceRow(g)], SERVICE_LIST, parseListFormat('{{.Name}} {{.Mode}} {{.Replicas}}')), 'web global 2/3\n');
  const out = serviceInspect(s);
  t.same(Object.keys(out), ['ID', 'Version', 'CreatedAt', 'UpdatedAt', 'Spec', 'Endpoint', 'ServiceStatus']);
  t.same(out['Version'], { Index: 12 });
  t.same(out['Endpoint'], {
    Spec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
    Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
    VirtualIPs: [
      { NetworkID: 'ingressidxxxxxxxxxxxxxxxxx', Addr: '10.255.0.5/16' },
      { NetworkID: NET_ID, Addr: '10.0.9.2/24' },
    ],
  });
  const spec = out['Spec'] as Record<string, unknown>;
  t.same(Object.keys(spec), ['Name', 'Labels', 'TaskTemplate', 'Mode', 'UpdateConfig', 'RollbackConfig', 'EndpointSpec']);
  const dockerDefault = { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };
  t.same(spec['UpdateConfig'], dockerDefault, "Docker's shape and defaults (Delay 0 left out)");
  t.same(spec['RollbackConfig'], dockerDefault);
  const tuned = structuredClone(s);
  tuned.spec.updateConfig = {
    parallelism: 2,
    delayMs: 1500,
    failureAction: 'rollback',
    monitorMs: 0,
    maxFailureRatio: 0.25,
    order: 'start-first',
  };
  t.same(
    (serviceInspect(tuned)['Spec'] as Record<string, unknown>)['UpdateConfig'],
    { Parallelism: 2, Delay: 1.5e9, FailureAction: 'rollback', MaxFailureRatio: 0.25, Order: 'start-first' },
    'durations in ns, Monitor 0 left out, keys in Docker order',
  );
  t.same(Object.keys((serviceInspect(tuned)['Spec'] as Record<string, Record<string, unknown>>)['UpdateConfig']!), [
    'Parallelism',
    'Delay',
    'FailureAction',
    'MaxFailureRatio',
    'Order',
  ]);
  t.same(spec['Mode'], { Replicated: { Replicas: 1 } });
  t.same(spec['TaskTemplate'], {
    ContainerSpec: { Command: ['python3', '-m', 'http.server', '80'], StopGracePeriod: 10e9 },
    RestartPolicy: { Condition: 'any', Delay: 5e9, MaxAttempts: 0 },
    Networks: [{ Target: NET_ID }],
  });
  t.equal(
    renderTemplate(
      '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{range .Endpoint.Ports}}{{.PublishedPort}}->{{.TargetPort}}{{end}}',
      out,
    ),
    'web 1 8080->80',
  );
  const withHealth = structuredClone(s);
  withHealth.spec.taskTemplate.health = { cmd: ['CMD-SHELL', 'true'], intervalMs: 30000, timeoutMs: 0, retries: 3, startPeriodMs: 0 };
  withHealth.spec.endpointSpec.ports = [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }];
  const ws = serviceInspect(withHealth)['Spec'] as { TaskTemplate: { ContainerSpec: Record<string, unknown> }; EndpointSpec: unknown };
  t.same(ws.TaskTemplate.ContainerSpec['Healthcheck'], { Test: ['CMD-SHELL', 'true'], Interval: 30e9, Retries: 3 });
  t.same(
    ws.EndpointSpec,
    { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }] },
    'an unallocated published port is left out',
  );
});

t.test('service ps: slots, history, states, errors', async (t) => {
  const tasks = [
    task('t2aaaaaaaaaaaaaaaaaaaaaaa', 1, '2026-11-22T11:59:00Z', 'running'),
    task('t1aaaaaaaaaaaaaaaaaaaaaaa', 1, '2026-11-22T11:00:00Z', 'failed', 'shutdown', 'task: non-zero exit (1): the command failed badly'),
    task('t3aaaaaaaaaaaaaaaaaaaaaaa', 2, '2026-11-22T11:59:59.500Z', 'pending'),
  ];
  const names = new Map([['node1xxxxxxxxxxxxxxxxxxxx', 'h1']]);
  const rows = orderTasks(tasks).map(({ task: x, history }) => taskRow(x, history, { nowMs: NOW, noTrunc: false, nodeNames: names }));
  t.equal(
    renderList(rows, TASK_LIST, parseListFormat(undefined)),
    [
      'ID             NAME        NODE      DESIRED STATE   CURRENT STATE                    ERROR                              PORTS',
      't2aaaaaaaaaa   web.1       h1        Running         Running about a minute ago                                          ',
      't1aaaaaaaaaa    \\_ web.1   h1        Shutdown        Failed about an hour ago         "task: non-zero exit (1): the …"   ',
      't3aaaaaaaaaa   web.2       h1        Running         Pending less than a second ago                                      ',
      '',
    ].join('\n'),
  );
});

t.test('node ls marks the current node and uses Docker words', async (t) => {
  const leader = node('node1xxxxxxxxxxxxxxxxxxxx', 'h1', {
    spec: { name: '', labels: {}, role: 'manager', availability: 'active' },
    managerStatus: { leader: true, reachability: 'reachable', addr: '192.0.2.11:2377' },
  });
  const worker = node('node2xxxxxxxxxxxxxxxxxxxx', 'h2', {
    spec: { name: '', labels: {}, role: 'worker', availability: 'drain' },
    status: { state: 'down', message: 'heartbeat failure', addr: '192.0.2.12', gossipPort: 7946 },
  });
  t.equal(
    renderList([nodeRow(leader, leader.id), nodeRow(worker, leader.id)], NODE_LIST, parseListFormat(undefined)),
    'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n' +
      'node1xxxxxxxxxxxxxxxxxxxx *   h1         Ready     Active         Leader           0.1.0\n' +
      'node2xxxxxxxxxxxxxxxxxxxx     h2         Down      Drain                           0.1.0\n',
  );
  const out = nodeInspect(leader);
  t.same(Object.keys(out), ['ID', 'Version', 'CreatedAt', 'UpdatedAt', 'Spec', 'Description', 'Status', 'ManagerStatus']);
  t.same(out['Spec'], { Labels: {}, Role: 'manager', Availability: 'active' });
  t.same(out['ManagerStatus'], { Leader: true, Reachability: 'reachable', Addr: '192.0.2.11:2377' });
  t.same(nodeInspect(worker)['Status'], { State: 'down', Message: 'heartbeat failure', Addr: '192.0.2.12' });
  t.equal(renderTemplate('{{.Description.Hostname}} {{.Spec.Role}} {{.Status.State}}', nodeInspect(worker)), 'h2 worker down');
});

t.test('container ls and inspect', async (t) => {
  const c: Container = {
    id: 'c1aaaaaaaaaaaaaaaaaaaaaaa',
    version: 1,
    createdAt: '2026-11-22T11:55:00Z',
    updatedAt: '2026-11-22T11:56:00Z',
    spec: {
      ...defaultContainerSpec('probe'),
      command: ['sleep', 'infinity-and-a-bit-more'],
      networks: [{ target: NET_ID, aliases: ['p'] }],
    },
    nodeId: 'node1xxxxxxxxxxxxxxxxxxxx',
    networks: [
      { networkId: NET_ID, networkName: 'front', addresses: ['10.0.9.7/24'], mac: '02:42:0a:00:09:07', aliases: ['p'], endpointId: 'ep7' },
    ],
    state: 'running',
  };
  t.equal(
    renderList([containerRow(c, NOW, false, new Map([['node1xxxxxxxxxxxxxxxxxxxx', 'h1']]))], CONTAINER_LIST, parseListFormat(undefined)),
    'CONTAINER ID   COMMAND                  CREATED         STATUS         NODE      NETWORKS   NAMES\n' +
      'c1aaaaaaaaaa   "sleep infinity-and-…"   5 minutes ago   Up 4 minutes   h1        front      probe\n',
  );
  const out = containerInspect(c, 'h1');
  t.equal(out['Name'], '/probe');
  t.same(out['NetworkSettings'], {
    Networks: {
      front: {
        Aliases: ['p'],
        NetworkID: NET_ID,
        EndpointID: 'ep7',
        IPAddress: '10.0.9.7',
        IPPrefixLen: 24,
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        MacAddress: '02:42:0a:00:09:07',
      },
    },
  });
  t.equal(renderTemplate('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}}', out), 'front=10.0.9.7');
});

t.test('--format classification', async (t) => {
  t.equal(parseListFormat(undefined).kind, 'default');
  t.equal(parseListFormat('').kind, 'default');
  t.equal(parseListFormat('json').kind, 'json');
  t.equal(parseListFormat('table').kind, 'table');
  t.equal(parseListFormat('table {{.ID}}').kind, 'table');
  t.equal(parseListFormat('{{.ID}}').kind, 'template');
  t.equal(parseInspectFormat('json').kind, 'json');
  t.equal(parseInspectFormat('{{.Name}}').kind, 'template');
  t.throws(() => parseListFormat('{{.ID'), /template: unclosed action/);
});

t.test("human durations follow Docker's thresholds", async (t) => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [1000, '1 second'],
    [59_000, '59 seconds'],
    [60_000, 'About a minute'],
    [119_000, 'About a minute'],
    [120_000, '2 minutes'],
    [59 * 60_000, '59 minutes'],
    [60 * 60_000, 'About an hour'],
    [90 * 60_000, '2 hours'],
    [47 * 3_600_000, '47 hours'],
    [48 * 3_600_000, '2 days'],
    [14 * 86_400_000, '2 weeks'],
    [60 * 86_400_000, '2 months'],
    [800 * 86_400_000, '2 years'],
  ];
  for (const [ms, want] of cases) t.equal(humanDuration(ms), want, want);
  t.equal(goTime(Date.parse('2026-01-02T03:04:05.100Z')), '2026-01-02T03:04:05.1Z');
  t.equal(goTime(Date.parse('2026-01-02T03:04:05Z')), '2026-01-02T03:04:05Z');
});

t.test('subnets, gateways, ranges and aux addresses are placed as Docker places them', async (t) => {
  t.same(buildIpamConfigs({ subnets: [], gateways: [], ipRanges: [], auxAddresses: {} }), []);
  t.same(
    buildIpamConfigs({ subnets: ['10.0.9.0/24'], gateways: ['10.0.9.1'], ipRanges: ['10.0.9.128/25'], auxAddresses: { r: '10.0.9.2' } }),
    [{ subnet: '10.0.9.0/24', gateway: '10.0.9.1', ipRange: '10.0.9.128/25', auxAddresses: { r: '10.0.9.2' } }],
  );
  t.same(
    buildIpamConfigs({ subnets: ['10.0.9.0/24'], gateways: ['10.1.0.1'], ipRanges: [], auxAddresses: {} }),
    [{ subnet: '10.0.9.0/24', gateway: '10.1.0.1', auxAddresses: {} }],
    'one subnet: the manager judges containment',
  );
  t.same(
    buildIpamConfigs({
      subnets: ['10.0.9.0/24', '2001:db8:1::/64'],
      gateways: ['2001:db8:1::1', '10.0.9.254'],
      ipRanges: [],
      auxAddresses: { v6: '2001:db8:1::5', v4: '10.0.9.5' },
    }),
    [
      { subnet: '10.0.9.0/24', gateway: '10.0.9.254', auxAddresses: { v4: '10.0.9.5' } },
      { subnet: '2001:db8:1::/64', gateway: '2001:db8:1::1', auxAddresses: { v6: '2001:db8:1::5' } },
    ],
  );
  const bad: [Parameters<typeof buildIpamConfigs>[0], string][] = [
    [
      { subnets: [], gateways: ['10.0.0.1'], ipRanges: [], auxAddresses: {} },
      'every ip-range, gateway or aux-address must have a corresponding subnet (give --subnet)',
    ],
    [
      { subnets: ['10.0.9.0/24'], gateways: ['10.0.9.1', '10.0.9.2'], ipRanges: [], auxAddresses: {} },
      'every ip-range or gateway must have a corresponding subnet',
    ],
    [
      { subnets: ['10.0.9.0/24', '10.0.10.0/24'], gateways: ['10.0.11.1'], ipRanges: [], auxAddresses: {} },
      'no matching subnet for gateway 10.0.11.1',
    ],
    [
      { subnets: ['10.0.9.0/24', '10.0.10.0/24'], gateways: [], ipRanges: ['10.0.9.0/25', '10.0.9.128/25'], auxAddresses: {} },
      'cannot configure multiple ranges (10.0.9.0/25, 10.0.9.128/25) on the same subnet (10.0.9.0/24)',
    ],
    [
      { subnets: ['10.0.9.0/24', '10.0.10.0/24'], gateways: ['10.0.9.1', '10.0.9.2'], ipRanges: [], auxAddresses: {} },
      'cannot configure multiple gateways (10.0.9.1, 10.0.9.2) for the same subnet (10.0.9.0/24)',
    ],
    [
      { subnets: ['10.0.0.0/16', '10.0.9.0/24'], gateways: [], ipRanges: [], auxAddresses: {} },
      'multiple overlapping subnet configuration is not allowed (10.0.0.0/16 and 10.0.9.0/24)',
    ],
    [
      { subnets: ['10.0.9.0/24', 'banana'], gateways: [], ipRanges: [], auxAddresses: {} },
      'invalid subnet "banana": not an IPv4 or IPv6 CIDR',
    ],
    [
      { subnets: ['10.0.9.0/24', '10.0.10.0/24'], gateways: [], ipRanges: [], auxAddresses: { x: '10.0.11.5' } },
      'no matching subnet for aux-address x=10.0.11.5',
    ],
  ];
  for (const [flags, msg] of bad) {
    try {
      buildIpamConfigs(flags);
      t.fail(`no error: ${msg}`);
    } catch (err) {
      t.ok(isUsageError(err));
      t.equal((err as Error).message, msg);
    }
  }
});
