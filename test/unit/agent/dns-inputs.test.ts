/**
 * The resolver's records as the agent builds them (dns-inputs.ts), read through the index a
 * sandbox's queries read: which tasks are in `tasks.<service>` (local state, gossip,
 * reachability, draining, failed nodes, the manager's word before gossip's first sync),
 * names kept by tasks that do not serve, containers and hostnames, per-network answers.
 */
import t from 'tap';
import type { Endpoint, Network, Service } from '../../../src/api/api-types.ts';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { type DnsSources, dnsInputs } from '../../../src/agent/dns-inputs.ts';
import type { GossipEndpoint } from '../../../src/agent/endpoint-view.ts';
import { endpointRecord } from '../../../src/agent/gossip-endpoints.ts';
import type { LocalWorkload } from '../../../src/agent/lb-model.ts';
import { buildRecordIndex } from '../../../src/dns/records.ts';
import { taskEndpoint } from '../../support/endpoints.ts';

const SELF = 'A';

function network(id: string, name: string): Network {
  return { id, spec: { ...defaultNetworkSpec(name) }, ingress: false } as Network;
}

function service(id: string, name: string, o: { vips?: Array<[string, string]>; mode?: string; networks?: string[] } = {}): Service {
  const spec = defaultServiceSpec(name);
  spec.endpointSpec.mode = o.mode ?? 'vip';
  spec.networks = (o.networks ?? ['n1']).map((target) => ({ target, aliases: [] }));
  return {
    id,
    spec,
    endpoint: { spec: spec.endpointSpec, ports: [], virtualIps: (o.vips ?? []).map(([networkId, addr]) => ({ networkId, addr })) },
  } as unknown as Service;
}

function ep(id: string, node: string, ip: string, extra: Partial<Endpoint> = {}): Endpoint {
  return taskEndpoint(id, node, ip, { serviceId: 'web', ...extra });
}

function gossipOf(eps: Endpoint[], health = '', draining = false): Map<string, GossipEndpoint> {
  return new Map(eps.map((e) => [e.id, { owner: e.nodeId, record: endpointRecord(e, '198.51.100.9', health, draining) }]));
}

function sources(o: Partial<DnsSources> & { endpoints?: Endpoint[] }): DnsSources {
  const lists = new Map<string, Map<string, Endpoint>>();
  for (const e of o.endpoints ?? []) {
    const m = lists.get(e.networkId) ?? new Map<string, Endpoint>();
    m.set(e.id, e);
    lists.set(e.networkId, m);
  }
  return {
    nodeId: SELF,
    networks: new Map([
      ['n1', network('n1', 'front')],
      ['n2', network('n2', 'back')],
    ]),
    services: new Map([['web', service('web', 'web', { vips: [['n1', '10.0.0.2/24']] })]]),
    managerLists: lists,
    gossip: () => new Map(),
    gossipSynced: () => true,
    deadNodes: new Set(),
    local: () => undefined,
    reachable: () => true,
    ...o,
  };
}

function index(src: DnsSources) {
  return buildRecordIndex(dnsInputs(src));
}

const tasksWeb = (src: DnsSources, nets = ['n1']) => [...(index(src).lookup('tasks.web', nets)?.v4 ?? [])];

t.test('local tasks: running serves; not running, or stopping, keeps its name only', async (t) => {
  const running: LocalWorkload = { running: true, health: '', stopping: false };
  const eps = [ep('t1', SELF, '10.0.0.11'), ep('t2', SELF, '10.0.0.12'), ep('t3', SELF, '10.0.0.13')];
  const src = sources({
    endpoints: eps,
    local: (id) =>
      id === 'task-t1'
        ? running
        : id === 'task-t2'
          ? { running: false, health: '', stopping: false }
          : { running: true, health: '', stopping: true },
  });
  t.same(tasksWeb(src), ['10.0.0.11'], 'tasks.web: the running task only');
  t.same(index(src).lookup('web', ['n1'])?.v4, ['10.0.0.2'], 'web: the VIP');
  t.same(index(src).lookup('web.t2', ['n1'])?.v4, ['10.0.0.12'], 'a task that does not run keeps its name');
  t.same(index(src).lookup('web.t3', ['n1'])?.v4, ['10.0.0.13'], 'so does one being stopped');
  t.same(index(src).reverse('10.0.0.11', ['n1']), ['web.t1.front'], 'PTR of a task address');
  t.same(index(src).reverse('10.0.0.2', ['n1']), ['web'], 'PTR of the VIP');
});

t.test('remote tasks: gossip says it runs, the overlay reaches it, nothing drains it', async (t) => {
  const e = ep('r1', 'B', '10.0.0.21');
  const serving = sources({ endpoints: [e], gossip: () => gossipOf([e]) });
  t.same(tasksWeb(serving), ['10.0.0.21'], 'in gossip and reachable: serves');
  t.same(tasksWeb({ ...serving, reachable: () => false }), [], 'the overlay does not reach it yet: not in tasks.web');
  t.same(tasksWeb({ ...serving, gossip: () => gossipOf([e], '', true) }), [], 'its agent says it drains');
  t.same(tasksWeb(sources({ endpoints: [{ ...e, state: 'draining' }], gossip: () => gossipOf([e]) })), [], 'the manager drains it');
  t.same(tasksWeb({ ...serving, deadNodes: new Set(['B']) }), [], 'its node is declared failed');
  t.same(tasksWeb({ ...serving, gossip: () => gossipOf([e], 'unhealthy') }), [], 'unhealthy');
  t.same(tasksWeb({ ...serving, gossip: () => gossipOf([e], 'healthy') }), ['10.0.0.21'], 'healthy serves');
  t.same(index({ ...serving, reachable: () => false }).lookup('web.r1', ['n1'])?.v4, ['10.0.0.21'], 'its name stays');
});

t.test("no gossip record: the manager's word until gossip has synced the network", async (t) => {
  const e = ep('r2', 'B', '10.0.0.22');
  t.same(tasksWeb(sources({ endpoints: [e], gossipSynced: () => false })), ['10.0.0.22'], 'before the first sync: active serves');
  t.same(tasksWeb(sources({ endpoints: [e], gossipSynced: () => true })), [], 'after it: not running (its agent publishes running ones)');
});

t.test('endpoints of a node marked down are left out altogether', async (t) => {
  const src = sources({ endpoints: [ep('d1', 'B', '10.0.0.31', { state: 'down' })], gossipSynced: () => false });
  t.equal(index(src).lookup('web.d1', ['n1']), undefined, 'its task name does not resolve');
  t.same(tasksWeb(src), []);
});

t.test('a network without a manager list yet: gossip alone', async (t) => {
  const e = ep('g1', 'B', '10.0.0.41');
  const src = sources({ endpoints: [], gossip: (id) => (id === 'n1' ? gossipOf([e]) : new Map()) });
  t.same(tasksWeb(src), ['10.0.0.41'], 'the gossip record serves');
  t.same(index(src).lookup('web.g1', ['n1'])?.v4, ['10.0.0.41'], 'and names it');
  t.same(tasksWeb({ ...src, deadNodes: new Set(['B']) }), [], "not a failed node's");
});

t.test('containers: name and hostname; a task on two networks answers per network', async (t) => {
  const box = ep('c1', 'B', '10.0.0.51', {
    kind: 'container',
    ownerId: 'box-id',
    serviceId: '',
    serviceName: '',
    name: 'box',
    hostname: 'boxhost',
  });
  const two = [
    ep('m1', SELF, '10.0.0.61', { hostname: 'm1host' }),
    ep('m2', SELF, '10.0.9.61', { networkId: 'n2', ownerId: 'task-m1', name: 'web.m1' }),
  ];
  const src = sources({ endpoints: [box, ...two], local: () => ({ running: true, health: '', stopping: false }) });
  const ix = index(src);
  t.same(ix.lookup('box', ['n1'])?.v4, ['10.0.0.51'], "the container's name");
  t.same(ix.lookup('boxhost', ['n1'])?.v4, ['10.0.0.51'], 'its hostname');
  t.same(ix.lookup('web.m1', ['n1'])?.v4, ['10.0.0.61'], 'the task on front: its front address');
  t.same(ix.lookup('web.m1', ['n2'])?.v4, ['10.0.9.61'], 'on back: its back address');
  t.same(ix.lookup('m1host', ['n1'])?.v4, ['10.0.0.61'], "the task's hostname (from its endpoint)");
  t.equal(ix.lookup('web.m1.back', ['n1']), undefined, '<name>.<network> only from that network');
  t.same(ix.lookup('web.m1.back', ['n2'])?.v4, ['10.0.9.61']);
});

t.test('dnsrr answers the serving tasks for the service name', async (t) => {
  const e = ep('x1', SELF, '10.0.0.71', { serviceId: 'rr', serviceName: 'rr', name: 'rr.x1' });
  const src = sources({
    endpoints: [e],
    services: new Map([['rr', service('rr', 'rr', { mode: 'dnsrr' })]]),
    local: () => ({ running: true, health: '', stopping: false }),
  });
  t.same(index(src).lookup('rr', ['n1'])?.v4, ['10.0.0.71'], 'rr: its task, no VIP');
  t.same(index(src).lookup('rr', ['n1'])?.kind, 'tasks');
});
