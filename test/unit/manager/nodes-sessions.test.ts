import t from 'tap';
import type { ShoalError } from '../../../src/common/errors.ts';
import { defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { SessionMessage } from '../../../src/api/api-types.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { applySessionMessage, emptyState } from '../../../src/agent/session-client.ts';
import type { AssignmentState } from '../../../src/agent/session-client.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

async function join(control: ManagerControl, hostname: string, role: 'worker' | 'manager' = 'worker'): Promise<string> {
  const swarm = await control.inspectSwarm();
  const r = await control.issueNodeCertificate({
    token: swarm.joinTokens[role],
    csrPem: createNodeCsr().csrPem,
    hostname,
    advertiseAddr: '192.0.2.20',
  });
  return r.nodeId;
}

interface FakeAgent {
  messages: SessionMessage[];
  failures: ShoalError[];
  state(): AssignmentState;
}

function sink(): FakeAgent & { write(m: SessionMessage): void; fail(e: ShoalError): void } {
  const messages: SessionMessage[] = [];
  const failures: ShoalError[] = [];
  return {
    messages,
    failures,
    write: (m) => messages.push(structuredClone(m)),
    fail: (e) => failures.push(e),
    state: () => messages.reduce(applySessionMessage, emptyState()),
  };
}

t.test('nodes: availability, roles and removal rules', async (t) => {
  const { control } = await inProcessManager(t);
  const n1 = await join(control, 'n1');
  const n2 = await join(control, 'n2');
  await join(control, 'm2', 'manager');
  await control.nodeReady(n1, { hostname: 'n1', platformOs: 'linux', platformArch: 'x64', version: '0', addr: '192.0.2.21' });
  await control.nodeReady(n2, { hostname: 'n2', platformOs: 'linux', platformArch: 'x64', version: '0', addr: '192.0.2.22' });
  t.same(
    (await control.listNodes()).map((n) => [n.description.hostname, n.spec.role, n.status.state]),
    [
      ['m2', 'manager', 'unknown'],
      ['n1', 'worker', 'ready'],
      ['n2', 'worker', 'ready'],
      [(await control.inspectNode('self')).description.hostname, 'manager', 'unknown'],
    ].sort((a, b) => a[0]!.localeCompare(b[0]!)),
  );
  t.equal((await control.listNodes({ role: 'manager' })).length, 2);
  await control.createService({ ...defaultServiceSpec('web'), mode: { replicated: { replicas: 4 } } });
  const spread = await control.listTasks({ services: ['web'] });
  t.same(spread.map((x) => x.nodeId).sort(), [n1, n1, n2, n2].sort());
  // drain n1: its tasks move to n2
  const node = await control.inspectNode('n1');
  await control.updateNode('n1', { ...node.spec, availability: 'drain' }, node.version);
  const live = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.same(
    live.map((x) => x.nodeId),
    [n2, n2, n2, n2],
  );
  t.same(
    (await control.listTasks({ nodes: ['n1'] })).map((x) => [x.desiredState, x.status.message]),
    [
      ['shutdown', 'node drained'],
      ['shutdown', 'node drained'],
    ],
  );
  await t.rejects(control.updateNode('n1', { ...node.spec, availability: 'active' }, node.version), { code: 'SHOAL_ERR_VERSION_CONFLICT' });
  // promote and demote
  const promoted = await control.updateNode('n2', { ...(await control.inspectNode('n2')).spec, role: 'manager' });
  t.equal(promoted.spec.role, 'manager');
  t.ok(promoted.managerStatus);
  const demoted = await control.updateNode('n2', { ...promoted.spec, role: 'worker' });
  t.equal(demoted.managerStatus, undefined);
  // removal rules
  await t.rejects(control.removeNode('n2'), { code: 'SHOAL_ERR_NODE_UP', message: /not down/ });
  await t.rejects(control.removeNode('m2'), { code: 'SHOAL_ERR_NODE_IS_MANAGER' });
  await t.rejects(control.removeNode('ghost'), { code: 'SHOAL_ERR_NODE_NOT_FOUND' });
  await control.removeNode('n2', true);
  await t.rejects(control.inspectNode(n2), { code: 'SHOAL_ERR_NODE_NOT_FOUND' });
  t.throws(() => control.requireNode(n2), { code: 'SHOAL_ERR_UNAUTHENTICATED', message: /removed/ });
  const after = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.same(
    after.map((x) => x.nodeId),
    ['', '', '', ''],
    'no active node left: the replacements wait, pending',
  );
  t.same(
    after.map((x) => x.status.state),
    ['pending', 'pending', 'pending', 'pending'],
  );
});

t.test('join tokens: rotation refuses the old token', async (t) => {
  const { control } = await inProcessManager(t);
  const old = (await control.joinToken('worker')).token;
  const rotated = await control.joinToken('worker', true);
  t.not(rotated.token, old);
  t.equal((await control.joinToken('manager')).token, (await control.inspectSwarm()).joinTokens.manager, 'the other role keeps its token');
  await t.rejects(control.issueNodeCertificate({ token: old, csrPem: createNodeCsr().csrPem, hostname: 'x', advertiseAddr: '' }), {
    code: 'SHOAL_ERR_JOIN_TOKEN_REJECTED',
  });
  const ok = await control.issueNodeCertificate({
    token: rotated.token,
    csrPem: createNodeCsr().csrPem,
    hostname: 'x',
    advertiseAddr: '',
  });
  t.equal(ok.role, 'worker');
  const before = (await control.inspectSwarm()).gossipKeys;
  const after = (await control.rotateGossipKey()).gossipKeys;
  t.equal(after.length, before.length + 1);
  t.ok(after[after.length - 1]!.primary);
});

t.test('sessions: snapshot, deltas, heartbeat loss moves tasks, removal ends the session', async (t) => {
  const m = await inProcessManager(t, { heartbeatPeriodMs: 100, nodeDownAfterMs: 500, sessionMinIntervalMs: 10 });
  const { control, dispatcher, clock } = m;
  dispatcher.start();
  const n1 = await join(control, 'n1');
  const n2 = await join(control, 'n2');
  const a1 = sink();
  const a2 = sink();
  await dispatcher.open(
    n1,
    {
      description: { hostname: 'n1', platformOs: 'linux', platformArch: 'x64', version: '0' },
      advertiseAddr: '192.0.2.31',
      gossipPort: 7946,
    },
    a1,
  );
  await dispatcher.open(
    n2,
    {
      description: { hostname: 'n2', platformOs: 'linux', platformArch: 'x64', version: '0' },
      advertiseAddr: '192.0.2.32',
      gossipPort: 7947,
    },
    a2,
  );
  t.equal(a1.messages[0]!.kind, 'snapshot');
  t.equal(a1.messages[0]!.heartbeatPeriodMs, 100);
  t.equal(a1.state().networks.size, 1, 'ingress only');
  t.ok(a1.state().keyring?.keys[0]?.key.length === 32);
  t.equal(a1.state().endpoints.size, 1, 'its ingress sandbox address');
  await control.createNetwork(defaultNetworkSpec('front'));
  await control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 4 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  await clock.advanceAsync(20);
  const last = a1.messages[a1.messages.length - 1]!;
  t.equal(last.kind, 'delta');
  t.equal(last.fromVersion, a1.messages[a1.messages.length - 2]!.version, 'deltas chain on versions');
  const s1 = a1.state();
  t.equal(s1.tasks.size, 2);
  t.same([...s1.networks.values()].map((n) => n.spec.name).sort(), ['front', 'ingress']);
  t.same(
    [...s1.services.values()].map((s) => s.spec.name),
    ['web'],
  );
  t.equal(s1.peers.size, 1, 'the other ready node');
  t.equal(s1.version, control.store.revision());
  // agents report their tasks running
  for (const [id, a] of [
    [n1, a1],
    [n2, a2],
  ] as const) {
    await dispatcher.report(id, {
      sessionId: '',
      heartbeat: true,
      tasks: [...a.state().tasks.keys()].map((taskId) => ({
        taskId,
        status: { state: 'running', message: '', err: '', timestamp: '', exitCode: 0, health: '' },
      })),
      containers: [],
      drainedEndpointIds: [],
      joinedEndpointIds: [],
    });
  }
  t.equal((await control.inspectService('web')).serviceStatus.runningTasks, 4);
  // only n2 keeps beating: n1 goes down after 500 ms and its tasks move to n2
  for (let i = 0; i < 8; i++) {
    await clock.advanceAsync(100);
    await dispatcher.heartbeat(n2);
  }
  t.equal((await control.inspectNode(n1)).status.state, 'down');
  t.equal((await control.inspectNode(n2)).status.state, 'ready');
  const live = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.same(
    live.map((x) => x.nodeId),
    [n2, n2, n2, n2],
  );
  await clock.advanceAsync(20);
  t.equal(a2.state().tasks.size, 4, "n2's assignment now holds all four");
  // heartbeats resume: n1 ready again (its old tasks stay shut down)
  await dispatcher.heartbeat(n1);
  t.equal((await control.inspectNode(n1)).status.state, 'ready');
  // task failure: restart after the policy delay
  const victim = live[0]!;
  await dispatcher.report(n2, {
    sessionId: '',
    heartbeat: false,
    tasks: [
      { taskId: victim.id, status: { state: 'failed', message: 'exit 1', err: 'exit status 1', timestamp: '', exitCode: 1, health: '' } },
    ],
    containers: [],
    drainedEndpointIds: [],
    joinedEndpointIds: [],
  });
  t.equal((await control.listTasks({ ids: [victim.id] }))[0]!.desiredState, 'shutdown');
  t.equal((await control.listTasks({ services: ['web'], desiredState: 'running' })).length, 3, 'waiting for the 5 s restart delay');
  for (let i = 0; i < 52; i++) {
    await clock.advanceAsync(100);
    await dispatcher.heartbeat(n1);
    await dispatcher.heartbeat(n2);
  }
  const restarted = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.equal(restarted.length, 4);
  t.ok(
    restarted.some((x) => x.slot === victim.slot && x.id !== victim.id),
    'same slot, new task',
  );
  // removing a node ends its session
  await control.removeNode(n1, true);
  t.match(a1.failures, [{ code: 'SHOAL_ERR_UNAUTHENTICATED' }]);
  t.equal(dispatcher.sessionCount, 1);
});

t.test('restart from the same file: every allocation identical, nothing duplicated', async (t) => {
  const m = await inProcessManager(t);
  const n1 = await join(m.control, 'n1');
  await m.control.nodeReady(n1, { hostname: 'n1', platformOs: '', platformArch: '', version: '', addr: '192.0.2.40' });
  await m.control.createNetwork(defaultNetworkSpec('a'));
  await m.control.createNetwork(defaultNetworkSpec('b'));
  await m.control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 3 } },
    networks: [{ target: 'a', aliases: [] }],
    endpointSpec: { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }] },
  });
  const dump = await m.control.dump();
  const m2 = m.reopen();
  t.equal(await m2.control.dump(), dump, 'the reopened store is identical');
  await m2.control.sweep();
  t.equal(await m2.control.dump(), dump, 'the post-restart sweep finds nothing to change in a consistent store');
  // new allocations continue where the old process stopped
  const c = await m2.control.createNetwork(defaultNetworkSpec('c'));
  t.equal(c.vxlanId, 4099);
  t.same(
    c.ipam.map((x) => x.subnet),
    ['10.0.2.0/24'],
  );
  const s2 = await m2.control.createService({
    ...defaultServiceSpec('api'),
    mode: { replicated: { replicas: 3 } },
    networks: [{ target: 'a', aliases: [] }],
    endpointSpec: { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }] },
  });
  t.equal(s2.endpoint.ports[0]!.publishedPort, 30001);
  const addrs = (await m2.control.networkEndpoints('a')).endpoints.map((e) => e.addr);
  t.equal(new Set(addrs).size, addrs.length, 'no address handed out twice');
  t.equal(addrs.length, 8, '2 VIPs + 6 tasks');
});
