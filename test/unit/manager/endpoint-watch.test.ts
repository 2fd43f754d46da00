// What the manager tells agents about endpoints and peers: the state of a Down node's
// endpoints (changed in the node's own transaction, back on Ready, counted per network),
// the endpoint watch of a network (a snapshot of every endpoint, then one delta per commit,
// driven by the store's notifications: no clock advances here, so nothing can be polling),
// who may watch what, and the gossip ports nodes name in their sessions.
import t from 'tap';
import type { Test } from 'tap';
import { defaultContainerSpec, defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { EndpointEvent, SessionMessage, SessionRequest, TaskStatus } from '../../../src/api/api-types.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import type { ShoalError } from '../../../src/common/errors.ts';
import { applySessionMessage, emptyState } from '../../../src/agent/session-client.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

async function join(control: ManagerControl, hostname: string): Promise<string> {
  const swarm = await control.inspectSwarm();
  const r = await control.issueNodeCertificate({
    token: swarm.joinTokens.worker,
    csrPem: createNodeCsr().csrPem,
    hostname,
    advertiseAddr: '192.0.2.20',
  });
  return r.nodeId;
}

function request(hostname: string, addr: string, gossipPort: number): SessionRequest {
  return { description: { hostname, platformOs: 'linux', platformArch: 'x64', version: '0' }, advertiseAddr: addr, gossipPort };
}

function sessionSink(): { messages: SessionMessage[]; write(m: SessionMessage): void; fail(e: ShoalError): void } {
  const messages: SessionMessage[] = [];
  return { messages, write: (m) => messages.push(structuredClone(m)), fail: () => {} };
}

const running: TaskStatus = { state: 'running', message: '', err: '', timestamp: '', exitCode: 0, health: '' };

/** A cluster of two ready nodes with network front and a 4-task service on it. */
async function cluster(t: Test) {
  const m = await inProcessManager(t, { sessionMinIntervalMs: 0 });
  const { control } = m;
  const n1 = await join(control, 'n1');
  const n2 = await join(control, 'n2');
  await control.nodeReady(n1, { hostname: 'n1', platformOs: '', platformArch: '', version: '', addr: '192.0.2.21' });
  await control.nodeReady(n2, { hostname: 'n2', platformOs: '', platformArch: '', version: '', addr: '192.0.2.22' });
  const front = await control.createNetwork(defaultNetworkSpec('front'));
  await control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 4 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  return { ...m, n1, n2, front };
}

t.test('a Down node: its endpoints are down in the same transaction, counted, and active again on Ready', async (t) => {
  const { control, store, n1, n2, front } = await cluster(t);
  const before = await control.networkEndpoints('front');
  t.same([...new Set(before.endpoints.map((e) => e.state))], ['active']);
  t.equal(before.network.downEndpointCount, 0);

  await control.nodeDown(n1, 'heartbeat failure');
  const rev = store.revision();
  const view = await control.networkEndpoints('front');
  const mine = view.endpoints.filter((e) => e.nodeId === n1);
  t.equal(mine.length, 2, "n1's task endpoints stay listed until its agent says the tasks stopped");
  t.same(
    mine.map((e) => [e.state, e.version]),
    [
      ['down', rev],
      ['down', rev],
    ],
    'marked down in the revision that marked the node down',
  );
  t.equal((await control.inspectNode(n1)).version, rev, 'the node changed in that same revision');
  t.ok(
    view.endpoints.filter((e) => e.nodeId !== n1).every((e) => e.state === 'active'),
    'the VIP and the replacements on n2 stay active',
  );
  t.equal(view.network.downEndpointCount, 2);
  t.equal((await control.inspectNetwork(front.id)).downEndpointCount, 2, 'inspect counts them too');
  t.equal(
    (await control.listNetworks()).find((n) => n.id === front.id)?.downEndpointCount,
    2,
    'and the list (which counts many networks in one pass)',
  );
  const ingress = (await control.networkEndpoints('ingress')).endpoints.find((e) => e.ownerId === n1);
  t.equal(ingress?.state, 'down', "the node's ingress sandbox endpoint too");

  // a container placed on the down node starts down
  const att = await control.createNetwork({ ...defaultNetworkSpec('att'), attachable: true });
  await control.runContainer({ ...defaultContainerSpec('box'), node: 'n1', networks: [{ target: att.id, aliases: [] }] });
  t.same(
    (await control.networkEndpoints('att')).endpoints.map((e) => e.state),
    ['down'],
  );

  await control.nodeReady(n1, { hostname: 'n1', platformOs: '', platformArch: '', version: '', addr: '192.0.2.21' });
  const back = await control.networkEndpoints('front');
  t.same(
    back.endpoints.filter((e) => e.nodeId === n1).map((e) => e.state),
    ['draining', 'draining'],
    "n1's tasks were shut down while it was Down: back with their node, their endpoints drain",
  );
  t.same([...new Set(back.endpoints.filter((e) => e.nodeId !== n1).map((e) => e.state))], ['active'], 'the others are active');
  t.equal(back.network.downEndpointCount, 0);
  t.same(
    (await control.networkEndpoints('att')).endpoints.map((e) => e.state),
    ['active'],
  );
  t.ok(n2);
});

t.test('endpoint watch: a snapshot of every endpoint, then one delta per commit, removals by ID', async (t) => {
  const { control, dispatcher, n1, n2, front } = await cluster(t);
  const events: EndpointEvent[] = [];
  const stop = dispatcher.watchEndpoints(n1, [front.id], { write: (e) => events.push(structuredClone(e)) });
  t.equal(dispatcher.endpointWatchers, 1);
  const all = await control.networkEndpoints('front');
  t.equal(events.length, 1, 'the snapshot, at once');
  t.match(events[0], { kind: 'snapshot', networkId: front.id, version: all.version, removedIds: [] });
  t.same(
    events[0]!.endpoints.map((e) => e.id).sort(),
    all.endpoints.map((e) => e.id).sort(),
    "every endpoint: both nodes' tasks and the VIP",
  );
  t.same([...new Set(events[0]!.endpoints.map((e) => e.kind))].sort(), ['task', 'vip']);
  t.ok(
    events[0]!.endpoints.some((e) => e.nodeId === n2),
    "the other node's endpoints too",
  );

  // scale up: one delta with the new endpoints, delivered by the commit itself
  await control.scaleService('web', 5);
  t.equal(events.length, 2, 'the commit produced one delta, with no timer involved');
  const added = events[1]!;
  t.equal(added.kind, 'delta');
  t.equal(added.endpoints.length, 1);
  t.equal(added.endpoints[0]!.kind, 'task');
  t.same(added.removedIds, []);

  // scale down: the removed task stays until its agent reports it stopped, then its endpoint goes
  await control.scaleService('web', 4);
  const shut = (await control.listTasks({ services: ['web'], desiredState: 'shutdown' }))[0]!;
  const epId = shut.networks[0]!.endpointId;
  const n = events.length;
  await control.reportTaskStates(shut.nodeId, [{ taskId: shut.id, status: { ...running, state: 'shutdown' } }]);
  t.equal(events.length, n + 1);
  t.same(events[n]!.removedIds, [epId], 'removed by ID');
  t.same(events[n]!.endpoints, []);

  // a Down node: its endpoints change state in one delta
  await control.nodeDown(n2, 'heartbeat failure');
  const downDelta = events.at(-1)!;
  t.ok(
    downDelta.endpoints.filter((e) => e.nodeId === n2).every((e) => e.state === 'down'),
    "n2's endpoints arrive down",
  );
  t.ok(downDelta.endpoints.filter((e) => e.nodeId === n2).length > 0);

  // commits that touch nothing of the network send nothing
  const quiet = events.length;
  await control.createNetwork(defaultNetworkSpec('other'));
  await control.joinToken('worker', true);
  t.equal(events.length, quiet, 'no event for unrelated commits');

  // a second watcher gets its own snapshot, equal to the first one's view now
  const second: EndpointEvent[] = [];
  const stop2 = dispatcher.watchEndpoints(n1, [front.id, front.id], { write: (e) => second.push(structuredClone(e)) });
  t.equal(second.length, 1, 'one snapshot per network, a network named twice counts once');
  const replay = new Map(events[0]!.endpoints.map((e) => [e.id, e]));
  for (const e of events.slice(1)) {
    for (const x of e.endpoints) replay.set(x.id, x);
    for (const id of e.removedIds) replay.delete(id);
  }
  t.same(
    [...replay.values()].sort((a, b) => a.id.localeCompare(b.id)),
    second[0]!.endpoints.sort((a, b) => a.id.localeCompare(b.id)),
    'snapshot plus deltas = a fresh snapshot',
  );
  stop();
  stop();
  await control.scaleService('web', 6);
  t.equal(events.length, quiet, 'a stopped watch gets nothing');
  t.ok(second.length > 1, 'the other watch still does');
  stop2();
  t.equal(dispatcher.endpointWatchers, 0);
});

t.test('endpoint watch: only networks in the node assignment; unknown networks are not found', async (t) => {
  const { control, dispatcher, n1 } = await cluster(t);
  const other = await control.createNetwork(defaultNetworkSpec('other'));
  const ingressId = (await control.inspectNetwork('ingress')).id;
  t.throws(() => dispatcher.watchEndpoints(n1, [other.id], { write: () => {} }), { code: 'SHOAL_ERR_NETWORK_NOT_ASSIGNED' });
  t.throws(() => dispatcher.watchEndpoints(n1, [ingressId, 'nosuchnetwork'], { write: () => {} }), { code: 'SHOAL_ERR_NETWORK_NOT_FOUND' });
  t.equal(dispatcher.endpointWatchers, 0, 'a refused watch registers nothing');
  // ingress is always assigned; a network becomes assigned with a task on it
  const events: EndpointEvent[] = [];
  dispatcher.watchEndpoints(n1, [ingressId], { write: (e) => events.push(e) })();
  t.equal(events.length, 1);
  await control.createService({ ...defaultServiceSpec('api'), mode: { global: {} }, networks: [{ target: 'other', aliases: [] }] });
  const stop = dispatcher.watchEndpoints(n1, [other.id], { write: (e) => events.push(e) });
  t.equal(events.at(-1)?.kind, 'snapshot');
  stop();
  t.throws(() => dispatcher.watchEndpoints('ghost', [ingressId], { write: () => {} }), { code: 'SHOAL_ERR_UNAUTHENTICATED' });
});

t.test('gossip ports: named in the session, stored on the node, handed to the peers', async (t) => {
  const m = await inProcessManager(t, { sessionMinIntervalMs: 0 });
  const { control, dispatcher, clock } = m;
  dispatcher.start();
  const n1 = await join(control, 'n1');
  const n2 = await join(control, 'n2');
  t.equal((await control.inspectNode(n1)).status.gossipPort, 0, 'unknown before its first session');
  const a1 = sessionSink();
  const a2 = sessionSink();
  await dispatcher.open(n1, request('n1', '192.0.2.31', 7946), a1);
  await dispatcher.open(n2, request('n2', '192.0.2.32', 17946), a2);
  t.equal((await control.inspectNode(n2)).status.gossipPort, 17946);
  await clock.advanceAsync(1);
  const s1 = a1.messages.reduce(applySessionMessage, emptyState());
  t.same([...s1.peers.values()], [{ nodeId: n2, addr: '192.0.2.32', hostname: 'n2', role: 'worker', gossipPort: 17946 }]);
  // a new session with another port: the peers learn it
  await dispatcher.open(n2, request('n2', '192.0.2.32', 17947), sessionSink());
  await clock.advanceAsync(1);
  t.equal(a1.messages.reduce(applySessionMessage, emptyState()).peers.get(n2)?.gossipPort, 17947);
  // an agent that names none gets the default
  await dispatcher.open(n1, { ...request('n1', '192.0.2.31', 0) }, sessionSink());
  t.equal((await control.inspectNode(n1)).status.gossipPort, 7946);
  // network endpoint lists name the peers' ports too
  await control.createNetwork(defaultNetworkSpec('front'));
  await control.createService({ ...defaultServiceSpec('web'), mode: { global: {} }, networks: [{ target: 'front', aliases: [] }] });
  t.same((await control.networkEndpoints('front')).peers.map((p) => p.gossipPort).sort(), [17947, 7946].sort());
});
