/**
 * The load balancers' models as the agent builds them: which tasks are backends (manager
 * list, gossip, liveness, local state, health, draining), east-west tables per sandbox
 * (every-port VIPs of vip-mode services on the sandbox's networks, never ingress, never
 * dnsrr), the ingress sandbox's table and the host's mesh ports.
 */
import t from 'tap';
import type { Endpoint, Network, Service } from '../../../src/api/api-types.ts';
import type { GossipEndpoint } from '../../../src/agent/endpoint-view.ts';
import { endpointRecord } from '../../../src/agent/gossip-endpoints.ts';
import { buildLbModels, type LocalWorkload, serviceBackends } from '../../../src/agent/lb-model.ts';
import { taskEndpoint } from '../../support/endpoints.ts';

const ep = taskEndpoint;

function gossip(e: Endpoint, health = '', draining = false): [string, GossipEndpoint] {
  return [e.id, { owner: e.nodeId, record: endpointRecord(e, '192.0.2.1', health, draining) }];
}

const none = (): LocalWorkload | undefined => undefined;

t.test('backends: listed by the manager, alive, running; health and draining carried', async (t) => {
  const a = ep('a', 'A', '10.0.0.5');
  const b = ep('b', 'B', '10.0.0.3');
  const c = ep('c', 'C', '10.0.0.4');
  const d = ep('d', 'D', '10.0.0.6');
  const e = ep('e', 'B', '10.0.0.7', { state: 'down' });
  const f = ep('f', 'B', '10.0.0.8', { state: 'draining' });
  const vip = ep('v', '', '10.0.0.2', { kind: 'vip' });
  const manager = new Map([a, b, c, d, e, f, vip].map((x) => [x.id, x]));
  const g = new Map([gossip(b), gossip(c, 'unhealthy'), gossip(d), gossip(e), gossip(f)]);
  const local = (owner: string): LocalWorkload | undefined =>
    owner === 'task-a' ? { running: true, health: 'starting', stopping: false } : undefined;
  const out = serviceBackends({ selfNodeId: 'A', manager, gossip: g, deadNodes: new Set(['D']), local });
  t.same(out.get('s1'), [
    { ip: '10.0.0.3', healthy: true },
    { ip: '10.0.0.4', healthy: false },
    { ip: '10.0.0.5', healthy: false },
    { ip: '10.0.0.6', healthy: true, draining: true, lost: true },
    { ip: '10.0.0.8', healthy: true, draining: true },
  ]);
  t.same(
    out.get('s1')!.find((x) => x.ip === '10.0.0.6'),
    { ip: '10.0.0.6', healthy: true, draining: true, lost: true },
    'a dead node gets no new connections, its established ones are kept, its unanswered ones go (lost)',
  );
  t.notOk(
    out.get('s1')!.some((x) => x.ip === '10.0.0.7'),
    'an endpoint marked down is no backend',
  );

  // a remote task the manager lists but that gossip does not carry does not run yet
  const onlyManager = serviceBackends({
    selfNodeId: 'A',
    manager: new Map([[b.id, b]]),
    gossip: new Map(),
    deadNodes: new Set(),
    local: none,
  });
  t.same(onlyManager.get('s1'), undefined, 'not running yet: no backend');

  // a remote task the overlay has not programmed yet is no backend either
  const unreachable = serviceBackends({
    selfNodeId: 'A',
    manager: new Map([[b.id, b]]),
    gossip: new Map([gossip(b)]),
    deadNodes: new Set(),
    local: none,
    reachable: (ip) => ip !== b.addr.split('/')[0],
  });
  t.same(unreachable.get('s1'), undefined, 'no overlay entries: no backend');

  // a local task the manager asks to stop drains, next to one that serves
  const joined = new Set<string>();
  const stopping = serviceBackends({
    selfNodeId: 'A',
    manager: new Map([
      [a.id, a],
      [b.id, b],
    ]),
    gossip: new Map([gossip(b)]),
    deadNodes: new Set(),
    local: () => ({ running: true, health: '', stopping: true }),
    joined,
  });
  t.same([...joined], [b.id], 'only the backend that takes new connections has joined');
  t.same(stopping.get('s1'), [
    { ip: '10.0.0.3', healthy: true },
    { ip: '10.0.0.5', healthy: true, draining: true },
  ]);

  // the last healthy backends all draining: they keep serving, held, until another one is here
  const held = new Set<string>();
  const last = serviceBackends({
    selfNodeId: 'A',
    manager: new Map([
      [a.id, a],
      [c.id, c],
    ]),
    gossip: new Map([gossip(c, 'unhealthy')]),
    deadNodes: new Set(),
    local: () => ({ running: true, health: '', stopping: true }),
    heldDraining: held,
  });
  t.same(last.get('s1'), [
    { ip: '10.0.0.4', healthy: false },
    { ip: '10.0.0.5', healthy: true },
  ]);
  t.same([...held], ['a'], 'held, so not acknowledged as drained yet');
  const unhealthy = new Set<string>();
  serviceBackends({
    selfNodeId: 'A',
    manager: new Map([[c.id, c]]),
    gossip: new Map([gossip(c, 'unhealthy')]),
    deadNodes: new Set(),
    local: none,
    joined: unhealthy,
  });
  t.same([...unhealthy], [], 'an unhealthy backend has not joined');

  // before the manager's first snapshot: gossip alone
  const early = serviceBackends({
    selfNodeId: 'A',
    manager: undefined,
    gossip: new Map([gossip(b, 'healthy', true), gossip(c, 'healthy')]),
    deadNodes: new Set(),
    local: none,
  });
  t.same(early.get('s1'), [
    { ip: '10.0.0.3', healthy: true, draining: true },
    { ip: '10.0.0.4', healthy: true },
  ]);
});

function service(id: string, extra: { vips?: Array<[string, string]>; ports?: Service['endpoint']['ports']; mode?: string }): Service {
  return {
    id,
    version: 1,
    createdAt: '',
    updatedAt: '',
    spec: { name: id, endpointSpec: { mode: extra.mode ?? 'vip', ports: [] } } as unknown as Service['spec'],
    endpoint: {
      spec: { mode: extra.mode ?? 'vip', ports: [] },
      ports: extra.ports ?? [],
      virtualIps: (extra.vips ?? []).map(([networkId, addr]) => ({ networkId, addr })),
    },
    serviceStatus: { runningTasks: 0, desiredTasks: 0 },
    updateStatus: { state: '', startedAt: '', completedAt: '', message: '' },
  };
}

t.test('models: every-port VIPs per sandbox network, the ingress sandbox and the mesh ports', async (t) => {
  const networks = new Map<string, Network>([
    ['n1', { id: 'n1' } as Network],
    ['n2', { id: 'n2' } as Network],
    ['ing', { id: 'ing' } as Network],
  ]);
  const services = new Map<string, Service>([
    [
      'web',
      service('web', {
        vips: [
          ['n1', '10.0.1.2/24'],
          ['ing', '10.255.0.5/16'],
        ],
        ports: [
          { name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
          { name: '', protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress' },
          { name: '', protocol: 'tcp', targetPort: 81, publishedPort: 9000, publishMode: 'host' },
        ],
      }),
    ],
    ['db', service('db', { vips: [['n2', '10.0.2.2/24']] })],
    ['rr', service('rr', { vips: [], mode: 'dnsrr' })],
  ]);
  const backends = (n: string) =>
    new Map(
      n === 'n1'
        ? [['web', [{ ip: '10.0.1.5', healthy: true }]]]
        : n === 'ing'
          ? [['web', [{ ip: '10.255.0.9', healthy: true }]]]
          : [['db', [{ ip: '10.0.2.7', healthy: true }]]],
    );
  const m = buildLbModels({
    prefix: 'p-',
    ingressNetworkId: 'ing',
    networks,
    services,
    sandboxes: [
      { id: 'T1', networkIds: ['n1', 'ing'] },
      { id: 'T2', networkIds: ['n1', 'n2'] },
      { id: 'T3', networkIds: ['n9'] },
    ],
    backends,
    ingressAddress: '172.18.0.2',
    bridge: 'p-gw0',
    hostPorts: [],
  });
  t.same(
    m.sandboxes.get('T1'),
    {
      tableName: 'p-lb',
      services: [
        {
          id: 'web/n1',
          vip: '10.0.1.2',
          ports: [
            { protocol: 'tcp', port: 0, targetPort: 0 },
            { protocol: 'udp', port: 0, targetPort: 0 },
          ],
          backends: [{ ip: '10.0.1.5', healthy: true }],
        },
      ],
    },
    'a task on n1 and ingress reaches web by its n1 VIP only (no VIP balancing on ingress)',
  );
  t.same(
    m.sandboxes.get('T2')?.services.map((s) => `${s.id} ${s.vip}`),
    ['web/n1 10.0.1.2', 'db/n2 10.0.2.2'],
    'a task on two networks reaches the services of both',
  );
  t.notOk(m.sandboxes.has('T3'), 'a sandbox that reaches no service has no table');
  t.same(m.ingress, {
    tableName: 'p-lb',
    services: [
      {
        id: 'web',
        vip: '172.18.0.2',
        ports: [
          { protocol: 'tcp', port: 8080, targetPort: 80 },
          { protocol: 'udp', port: 5353, targetPort: 53 },
        ],
        backends: [{ ip: '10.255.0.9', healthy: true }],
      },
    ],
  });
  t.same(m.mesh.ingressPorts, [
    { protocol: 'tcp', port: 8080 },
    { protocol: 'udp', port: 5353 },
  ]);
  t.equal(m.mesh.ingressAddress, '172.18.0.2');

  const early = buildLbModels({
    prefix: 'p-',
    ingressNetworkId: 'ing',
    networks,
    services,
    sandboxes: [],
    backends,
    ingressAddress: undefined,
    bridge: 'p-gw0',
    hostPorts: [],
  });
  t.same(early.ingress?.services, [], 'no ingress sandbox address yet: nothing to balance');
  t.equal(early.mesh.ingressPorts.length, 2, 'the ports are known (the mesh planner reports them waiting)');
});
