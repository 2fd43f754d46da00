// Tasks leave every load balancer before they stop: the manager marks a shut-down task's
// endpoints draining (streamed to the endpoint watchers as any change), waits for the
// acknowledgements of the nodes watching the task's networks when the drain started, and
// sets the task's durable `drained` flag when the last one answered or after
// DRAIN_ACK_TIMEOUT_MS (virtual time here); a task nobody watches is drained in its own
// shutdown transaction. A restarted manager waits afresh. `service rm` frees the name at
// once and drains its tasks like any shutdown; unknown acknowledgements change nothing.
import t from 'tap';
import type { Test } from 'tap';
import { defaultNetworkSpec, defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/api-defaults.ts';
import type { AgentReport, EndpointEvent, SessionMessage, Task, TaskStatus } from '../../../src/api/api-types.ts';
import type { ShoalError } from '../../../src/common/errors.ts';
import type { Logger } from '../../../src/common/logger.ts';
import { applySessionMessage, emptyState } from '../../../src/agent/session-client.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { DRAIN_ACK_TIMEOUT_MS } from '../../../src/manager/drain-tracker.ts';
import type { Dispatcher } from '../../../src/manager/session.ts';
import { inProcessManager, readyNode } from '../../support/manager-harness.ts';
import type { InProcessManager } from '../../support/manager-harness.ts';
import { recordingLogger } from '../../support/logger.ts';

const join = readyNode;

const stopped: TaskStatus = { state: 'shutdown', message: 'stopped', err: '', timestamp: '', exitCode: 0, health: '' };

function ack(ids: string[]): AgentReport {
  return { sessionId: '', heartbeat: false, tasks: [], containers: [], drainedEndpointIds: ids, joinedEndpointIds: [] };
}

/** An endpoint watch of a node, collected. */
function watch(dispatcher: Dispatcher, nodeId: string, networkIds: string[]): { events: EndpointEvent[]; stop: () => void } {
  const events: EndpointEvent[] = [];
  const stop = dispatcher.watchEndpoints(nodeId, networkIds, { write: (e) => events.push(structuredClone(e)) });
  return { events, stop };
}

/** Two ready nodes, network front, service web with 4 tasks on it (two per node). */
async function cluster(t: Test, logger?: Logger) {
  const m = await inProcessManager(t, { sessionMinIntervalMs: 0 }, logger ? { logger } : {});
  const n1 = await join(m.control, 'n1', '192.0.2.21');
  const n2 = await join(m.control, 'n2', '192.0.2.22');
  const front = await m.control.createNetwork(defaultNetworkSpec('front'));
  await m.control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 4 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  return { ...m, n1, n2, front };
}

async function task(control: ManagerControl, id: string): Promise<Task | undefined> {
  return (await control.listTasks({ ids: [id] })).find((x) => x.id === id);
}

async function shutDown(control: ManagerControl, service = 'web'): Promise<Task[]> {
  return control.listTasks({ services: [service], desiredState: 'shutdown' });
}

t.test('scale-down: endpoints drain, and the task is drained once both watching nodes acknowledged', async (t) => {
  const { control, dispatcher, store, clock, n1, n2, front } = await cluster(t);
  const w1 = watch(dispatcher, n1, [front.id]);
  const w2 = watch(dispatcher, n2, [front.id]);
  await control.scaleService('web', 3);
  const [victim] = await shutDown(control);
  t.ok(victim, 'one task shut down');
  t.equal(victim!.drained, false, 'not drained while the watchers have not answered');
  t.equal(victim!.status.state, 'assigned', 'still held by its agent');
  const epId = victim!.networks[0]!.endpointId;
  const rev = store.revision();
  for (const w of [w1, w2]) {
    const delta = w.events.at(-1)!;
    t.match(delta, { kind: 'delta', version: rev, removedIds: [] }, 'each watcher got the change as a delta');
    t.same(
      delta.endpoints.map((e) => [e.id, e.state]),
      [[epId, 'draining']],
    );
  }
  t.equal((await control.networkEndpoints('front')).endpoints.find((e) => e.id === epId)?.state, 'draining', 'listed draining');
  t.same(control.drainTracker.pendingNodes(victim!.id), [n1, n2].sort(), 'waits for both');

  // the owner's session sees its task undrained, then drained
  const owner = victim!.nodeId;
  const messages: SessionMessage[] = [];
  dispatcher.start();
  await dispatcher.open(
    owner,
    { description: { hostname: '', platformOs: '', platformArch: '', version: '' }, advertiseAddr: '', gossipPort: 0 },
    {
      write: (m) => messages.push(structuredClone(m)),
      fail: (_e: ShoalError) => {},
    },
  );
  const seen = (): Task | undefined => messages.reduce(applySessionMessage, emptyState()).tasks.get(victim!.id);
  t.match(seen(), { desiredState: 'shutdown', drained: false });
  t.same(control.drainTracker.pendingNodes(victim!.id), [n1, n2].sort(), "the owner's new session does not restart the wait");
  t.equal(messages.reduce(applySessionMessage, emptyState()).endpoints.get(epId)?.state, 'draining', 'its own endpoint, draining');

  await dispatcher.report(n1, ack([epId]));
  await dispatcher.report(n1, ack([epId]));
  t.equal((await task(control, victim!.id))?.drained, false, 'one of two is not enough (and a repeat counts once)');
  t.same(control.drainTracker.pendingNodes(victim!.id), [n2]);
  await dispatcher.report(n2, ack([epId]));
  const done = await task(control, victim!.id);
  t.equal(done?.drained, true, 'drained when the second node answered');
  t.equal(control.drainTracker.waiting, 0, 'nothing waits any more');
  await clock.advanceAsync(1);
  t.match(seen(), { desiredState: 'shutdown', drained: true }, "the owner's assignment says so");

  // the agent stops it: the endpoint goes, as before
  await control.reportTaskStates(owner, [{ taskId: victim!.id, status: stopped }]);
  t.same(w1.events.at(-1)!.removedIds, [epId]);
  w1.stop();
  w2.stop();
});

t.test('a node that does not watch is not waited for; a network nobody watches drains at once', async (t) => {
  const { control, dispatcher, store, n1, front } = await cluster(t);
  const w1 = watch(dispatcher, n1, [front.id]);
  await control.scaleService('web', 3);
  const [victim] = await shutDown(control);
  t.same(control.drainTracker.pendingNodes(victim!.id), [n1], 'only the watching node');
  await dispatcher.report(n1, ack([victim!.networks[0]!.endpointId]));
  t.equal((await task(control, victim!.id))?.drained, true);
  w1.stop();

  // nobody watches now: drained in the shutdown's own transaction
  await control.scaleService('web', 2);
  const rev = store.revision();
  const next = (await shutDown(control)).find((x) => x.id !== victim!.id)!;
  t.equal(next.drained, true, 'drained at once');
  t.equal(next.version, rev, 'in the transaction that shut it down');
  t.equal((await control.networkEndpoints('front')).endpoints.find((e) => e.id === next.networks[0]!.endpointId)?.state, 'draining');
  t.equal(control.drainTracker.waiting, 0);
});

t.test('the wait runs out after 10 s: drained anyway, and the silent nodes are logged', async (t) => {
  const { logger, warnings } = recordingLogger();
  const { control, dispatcher, clock, n1, n2, front } = await cluster(t, logger);
  watch(dispatcher, n1, [front.id]);
  watch(dispatcher, n2, [front.id]);
  await control.scaleService('web', 3);
  const [victim] = await shutDown(control);
  await dispatcher.report(n1, ack([victim!.networks[0]!.endpointId]));
  await clock.advanceAsync(DRAIN_ACK_TIMEOUT_MS - 1);
  t.equal((await task(control, victim!.id))?.drained, false, 'not before the deadline');
  t.same(warnings, []);
  await clock.advanceAsync(1);
  t.equal((await task(control, victim!.id))?.drained, true, 'at the deadline');
  t.equal(DRAIN_ACK_TIMEOUT_MS, 10_000);
  t.match(warnings, [{ fields: { taskId: victim!.id, nodeIds: [n2] }, msg: /did not acknowledge/ }], 'names the node that did not answer');
  // a late acknowledgement changes nothing
  const rev = (await task(control, victim!.id))!.version;
  await dispatcher.report(n2, ack([victim!.networks[0]!.endpointId]));
  t.equal((await task(control, victim!.id))!.version, rev);
});

t.test('a task without networks is drained in its shutdown transaction', async (t) => {
  const { control, dispatcher, store, n1, front } = await cluster(t);
  watch(dispatcher, n1, [front.id, (await control.inspectNetwork('ingress')).id]);
  await control.createService({ ...defaultServiceSpec('batch'), mode: { replicated: { replicas: 1 } } });
  await control.scaleService('batch', 0);
  const rev = store.revision();
  const [x] = await shutDown(control, 'batch');
  t.same(x!.networks, []);
  t.match(x, { desiredState: 'shutdown', drained: true, version: rev });
  t.equal(control.drainTracker.waiting, 0);
});

t.test('rolling updates and node drains drain the tasks they replace', async (t) => {
  const { control, dispatcher, n1, n2, front } = await cluster(t);
  const w1 = watch(dispatcher, n1, [front.id]);
  const s = await control.inspectService('web');
  await control.updateService('web', {
    ...s.spec,
    updateConfig: { ...defaultUpdateConfig(), parallelism: 1, delayMs: 0 },
    taskTemplate: { ...s.spec.taskTemplate, env: ['V=2'] },
  });
  const [replaced] = await shutDown(control);
  t.match(replaced, { status: { message: 'replaced by a service update' }, drained: false });
  t.same(control.drainTracker.pendingNodes(replaced!.id), [n1]);
  await dispatcher.report(n1, ack(replaced!.networks.map((n) => n.endpointId)));
  t.equal((await task(control, replaced!.id))?.drained, true);

  const node = await control.inspectNode(n2);
  await control.updateNode(n2, { ...node.spec, availability: 'drain' });
  const drainedAway = (await shutDown(control)).filter((x) => x.nodeId === n2 && x.status.message === 'node drained');
  t.equal(drainedAway.length > 0, true, 'tasks leave the drained node');
  const ids = drainedAway.map((x) => x.networks[0]!.endpointId);
  t.ok(
    ids.every((id) => w1.events.some((e) => e.endpoints.some((x) => x.id === id && x.state === 'draining'))),
    'their endpoints drain, streamed to the watcher',
  );
  await dispatcher.report(n1, ack(ids));
  for (const x of drainedAway) t.equal((await task(control, x.id))?.drained, true);
});

t.test('a Down node: its endpoints stay down; back Ready, they drain and the wait starts then', async (t) => {
  const { control, dispatcher, n1, n2, front } = await cluster(t);
  watch(dispatcher, n2, [front.id]);
  await control.nodeDown(n1, 'heartbeat failure');
  const gone = (await shutDown(control)).filter((x) => x.nodeId === n1);
  t.equal(gone.length, 2, "n1's tasks are shut down (and replaced on n2)");
  const eps = (await control.networkEndpoints('front')).endpoints.filter((e) => e.nodeId === n1);
  t.same(
    eps.map((e) => e.state),
    ['down', 'down'],
    'down, not draining',
  );
  t.ok(
    gone.every((x) => !x.drained),
    'not drained',
  );
  t.equal(control.drainTracker.waiting, 0, 'nothing waits while the node is Down');

  await control.nodeReady(n1, { hostname: 'n1', platformOs: 'linux', platformArch: 'x64', version: '0', addr: '192.0.2.21' });
  t.same(
    (await control.networkEndpoints('front')).endpoints.filter((e) => e.nodeId === n1).map((e) => e.state),
    ['draining', 'draining'],
    'back Ready: draining, not active',
  );
  for (const x of gone) t.same(control.drainTracker.pendingNodes(x.id), [n2]);
  await dispatcher.report(n2, ack(eps.map((e) => e.id)));
  for (const x of gone) t.equal((await task(control, x.id))?.drained, true);

  // a drain under way when its node goes Down stops waiting; it starts again on Ready
  await control.scaleService('web', 3);
  const [victim] = (await shutDown(control)).filter((x) => !x.drained);
  t.ok(victim);
  t.equal(control.drainTracker.isWaiting(victim!.id), true);
  await control.nodeDown(victim!.nodeId, 'heartbeat failure');
  t.equal(control.drainTracker.isWaiting(victim!.id), false, 'its endpoint is down: the wait is over');
  t.equal((await task(control, victim!.id))?.drained, false);
});

t.test('manager restart: drained stays, and draining tasks wait afresh for the resent acknowledgements', async (t) => {
  const first = await cluster(t);
  const { n1, n2, front } = first;
  watch(first.dispatcher, n1, [front.id]);
  watch(first.dispatcher, n2, [front.id]);
  await first.control.scaleService('web', 2);
  const [a, b] = await shutDown(first.control);
  await first.dispatcher.report(n1, ack([a!.networks[0]!.endpointId]));
  await first.dispatcher.report(n2, ack([a!.networks[0]!.endpointId]));
  t.equal((await task(first.control, a!.id))?.drained, true, 'a drained before the restart');
  await first.dispatcher.report(n1, ack([b!.networks[0]!.endpointId]));
  t.equal((await task(first.control, b!.id))?.drained, false, 'b half acknowledged');

  first.clock.advance(5_000);
  const m: InProcessManager = first.reopen();
  t.equal(await m.resumed, 1, 'one task waits again');
  t.equal((await task(m.control, a!.id))?.drained, true, 'drained is durable');
  t.equal((await task(m.control, b!.id))?.drained, false);
  t.same(m.control.drainTracker.pendingNodes(b!.id), [n1, n2].sort(), 'the Ready nodes with the network, nobody watching yet');

  // n1 resends after its reconnect; n2 does too
  await m.dispatcher.report(n1, ack([a!.networks[0]!.endpointId, b!.networks[0]!.endpointId]));
  t.equal((await task(m.control, b!.id))?.drained, false);
  await m.dispatcher.report(n2, ack([b!.networks[0]!.endpointId]));
  t.equal((await task(m.control, b!.id))?.drained, true, 'completed by the resent acknowledgements');

  // and the timer runs from the restart
  await m.control.scaleService('web', 1);
  const [c] = (await shutDown(m.control)).filter((x) => x.id !== a!.id && x.id !== b!.id);
  t.equal(c?.drained, true, 'a task shut down after the restart, nobody watching: drained at once');
  const again = m.reopen();
  t.equal(await again.resumed, 0, 'nothing to resume when every drain completed');
});

t.test('manager restart: the fresh wait runs out 10 s after the restart', async (t) => {
  const first = await cluster(t);
  watch(first.dispatcher, first.n1, [first.front.id]);
  await first.control.scaleService('web', 3);
  const [victim] = await shutDown(first.control);
  first.clock.advance(DRAIN_ACK_TIMEOUT_MS - 1);
  const m = first.reopen();
  t.equal(await m.resumed, 1);
  await m.clock.advanceAsync(1);
  t.equal((await task(m.control, victim!.id))?.drained, false, 'the old deadline is gone with the old process');
  await m.clock.advanceAsync(DRAIN_ACK_TIMEOUT_MS - 1);
  t.equal((await task(m.control, victim!.id))?.drained, true, 'the new one counts from the restart');
});

t.test('service rm: the name is free at once; tasks drain, stop, and go with the service', async (t) => {
  const { control, dispatcher, n1, front } = await cluster(t);
  const w1 = watch(dispatcher, n1, [front.id]);
  await control.scaleService('web', 5);
  const svc = await control.inspectService('web');
  const vip = svc.endpoint.virtualIps[0]!;
  const tasksBefore = await control.listTasks({ services: ['web'] });
  await control.removeService('web');

  t.same(await control.listServices(), [], 'not listed');
  await t.rejects(control.inspectService('web'), { code: 'SHOAL_ERR_SERVICE_NOT_FOUND' });
  await t.rejects(control.inspectService(svc.id), { code: 'SHOAL_ERR_SERVICE_NOT_FOUND' });
  await t.rejects(control.listTasks({ services: ['web'] }), { code: 'SHOAL_ERR_SERVICE_NOT_FOUND' }, 'service ps finds no service');
  const eps = (await control.networkEndpoints('front')).endpoints;
  t.notOk(
    eps.some((e) => e.kind === 'vip'),
    'its VIP is gone at once',
  );
  t.same([...new Set(eps.map((e) => e.state))], ['draining'], 'its task endpoints drain');
  t.equal(eps.length, tasksBefore.length);
  const lingering = (await control.listTasks()).filter((x) => x.serviceId === svc.id);
  t.equal(lingering.length, tasksBefore.length, 'its tasks are listed by the unfiltered task list until they end');
  t.ok(
    lingering.every((x) => x.desiredState === 'shutdown' && !x.drained && x.status.message === 'service removed'),
    'shutting down, waiting for n1',
  );

  // a service of the same name right away; it may even get the VIP's address back
  const again = await control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 1 } },
    networks: [{ target: 'front', aliases: [] }],
  });
  t.not(again.id, svc.id);
  t.same(
    (await control.listServices()).map((s) => s.id),
    [again.id],
  );
  t.same(
    (await control.listTasks({ services: ['web'] })).map((x) => x.serviceId),
    [again.id],
    "service ps of the name shows the new service's tasks only",
  );
  t.ok(vip.addr);

  await dispatcher.report(n1, ack(eps.map((e) => e.id)));
  const drainedNow = (await control.listTasks()).filter((x) => x.serviceId === svc.id);
  t.ok(
    drainedNow.every((x) => x.drained),
    'drained once n1 answered',
  );
  for (const x of drainedNow) await control.reportTaskStates(x.nodeId, [{ taskId: x.id, status: stopped }]);
  t.same(
    (await control.listTasks()).filter((x) => x.serviceId === svc.id),
    [],
    'deleted once they ended',
  );
  t.notOk(
    (await control.networkEndpoints('front')).endpoints.some((e) => eps.some((x) => x.id === e.id)),
    'and their addresses released',
  );
  t.ok(w1.events.length > 0);
});

t.test('service rm: tasks no agent holds are deleted at once', async (t) => {
  const { control, n1, n2 } = await cluster(t);
  for (const n of [n1, n2]) {
    const node = await control.inspectNode(n);
    await control.updateNode(n, { ...node.spec, availability: 'drain' });
  }
  const tasks = await control.listTasks({ services: ['web'], desiredState: 'running' });
  t.ok(tasks.length === 4 && tasks.every((x) => x.status.state === 'pending'), 'four pending tasks');
  await control.removeService('web');
  t.same(
    (await control.listTasks()).filter((x) => x.desiredState === 'running'),
    [],
    'the pending ones are gone',
  );
  // the ones shut down by the drains earlier wait for their agents
  const left = await control.listTasks();
  t.ok(
    left.every((x) => x.desiredState === 'shutdown' && x.status.state === 'assigned'),
    'only tasks still held by agents linger',
  );
  await control.removeNode(n1, true);
  t.notOk(
    (await control.listTasks()).some((x) => x.nodeId === n1),
    "a removed node's tasks of a removed service go at once (orphaned, then deleted)",
  );
  t.equal(
    (await control.networkEndpoints('front')).endpoints.filter((e) => e.kind === 'task').length,
    (await control.listTasks()).length,
    'no endpoint outlives its task',
  );
});

t.test('acknowledgements for unknown, active or other nodes’ endpoints change nothing', async (t) => {
  const { control, dispatcher, store, n1, n2, front } = await cluster(t);
  watch(dispatcher, n1, [front.id]);
  await control.scaleService('web', 3);
  const [victim] = await shutDown(control);
  const active = (await control.listTasks({ services: ['web'], desiredState: 'running' }))[0]!.networks[0]!.endpointId;
  const rev = store.revision();
  await dispatcher.report(n1, ack(['nosuchendpoint', active, '']));
  await dispatcher.report(n2, ack([victim!.networks[0]!.endpointId]));
  await dispatcher.report(n1, { ...ack([]), drainedEndpointIds: undefined as unknown as string[] });
  t.equal(store.revision(), rev, 'nothing written');
  t.equal((await task(control, victim!.id))?.drained, false, 'n2 is not waited for: its answer does not count');
  t.same(control.drainTracker.pendingNodes(victim!.id), [n1]);
});
