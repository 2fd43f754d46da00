// Rolling updates wait until the new tasks are in every load balancer: after a batch's new
// task runs and passes its health check, the next batch starts only once every node
// watching the task's networks acknowledged its endpoint (AgentReport.joined_endpoint_ids),
// or JOIN_ACK_TIMEOUT_MS after it started running (virtual time here), when the manager
// logs the nodes that did not answer. A restarted manager has no acknowledgements: tasks
// running for longer than the timeout are joined, newer ones by fresh acknowledgements.
import t from 'tap';
import type { Test } from 'tap';
import { defaultNetworkSpec, defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/api-defaults.ts';
import type { AgentReport, EndpointEvent, Task, TaskStatus } from '../../../src/api/api-types.ts';
import type { Logger } from '../../../src/common/logger.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { JOIN_ACK_TIMEOUT_MS } from '../../../src/manager/join-tracker.ts';
import type { Dispatcher } from '../../../src/manager/session.ts';
import { inProcessManager, readyNode } from '../../support/manager-harness.ts';
import type { InProcessManager } from '../../support/manager-harness.ts';
import { recordingLogger } from '../../support/logger.ts';

const join = readyNode;

const status = (state: string): TaskStatus => ({ state, message: state, err: '', timestamp: '', exitCode: 0, health: '' });

function report(patch: Partial<AgentReport>): AgentReport {
  return { sessionId: '', heartbeat: false, tasks: [], containers: [], drainedEndpointIds: [], joinedEndpointIds: [], ...patch };
}

function watch(dispatcher: Dispatcher, nodeId: string, networkIds: string[]): EndpointEvent[] {
  const events: EndpointEvent[] = [];
  dispatcher.watchEndpoints(nodeId, networkIds, { write: (e) => events.push(structuredClone(e)) });
  return events;
}

/** Two ready nodes watching network front; service web, 3 replicas on it, all running. */
async function cluster(t: Test, logger?: Logger) {
  const m = await inProcessManager(t, { sessionMinIntervalMs: 0 }, logger ? { logger } : {});
  const n1 = await join(m.control, 'n1', '192.0.2.21');
  const n2 = await join(m.control, 'n2', '192.0.2.22');
  const front = await m.control.createNetwork(defaultNetworkSpec('front'));
  await m.control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 3 } },
    networks: [{ target: 'front', aliases: [] }],
    updateConfig: { ...defaultUpdateConfig(), parallelism: 1, delayMs: 0 },
  });
  await runAll(m.control);
  return { ...m, n1, n2, front };
}

/** Reports every live task that is not running yet as running, from its node. */
async function runAll(control: ManagerControl): Promise<Task[]> {
  const started = (await control.listTasks({ services: ['web'], desiredState: 'running' })).filter(
    (x) => x.nodeId !== '' && x.status.state !== 'running',
  );
  for (const x of started) await control.reportTaskStates(x.nodeId, [{ taskId: x.id, status: status('running') }]);
  if (started.length === 0) return [];
  return control.listTasks({ ids: started.map((x) => x.id) });
}

/** Drains and stops every task being shut down (its watchers acknowledge, its agent reports it stopped). */
async function finishShutdowns(m: InProcessManager, watchers: string[]): Promise<number> {
  const down = (await m.control.listTasks({ services: ['web'], desiredState: 'shutdown' })).filter((x) => x.status.state !== 'shutdown');
  for (const x of down) {
    const ids = x.networks.map((n) => n.endpointId);
    for (const n of watchers) await m.dispatcher.report(n, report({ drainedEndpointIds: ids }));
    await m.control.reportTaskStates(x.nodeId, [{ taskId: x.id, status: status('shutdown') }]);
  }
  return down.length;
}

/** Slots whose task is being replaced (shut down by the update and not ended yet), sorted. */
async function replacing(control: ManagerControl): Promise<number[]> {
  const down = await control.listTasks({ services: ['web'], desiredState: 'shutdown' });
  return down
    .filter((x) => x.status.state !== 'shutdown' && x.status.message === 'replaced by a service update')
    .map((x) => x.slot)
    .sort();
}

/** Starts the update, finishes batch 1 and reports its new task running; returns that task. */
async function firstBatch(t: Test, m: InProcessManager & { n1: string; n2: string }): Promise<Task> {
  const s = await m.control.inspectService('web');
  await m.control.updateService('web', { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, env: ['V=2'] } });
  t.same(await replacing(m.control), [1], 'batch 1 replaces slot 1');
  await finishShutdowns(m, [m.n1, m.n2]);
  const [fresh] = await runAll(m.control);
  return fresh!;
}

t.test('the next batch starts once every watching node acknowledged the new task, or 10 s after it ran', async (t) => {
  const log = recordingLogger();
  const m = await cluster(t, log.logger);
  const { control, dispatcher, clock, n1, n2, front } = m;
  watch(dispatcher, n1, [front.id]);
  watch(dispatcher, n2, [front.id]);
  const fresh = await firstBatch(t, m);
  t.match(fresh, { slot: 1, status: { state: 'running' } }, "slot 1's new task runs and has no health check: settled");
  const ep = fresh.networks[0]!.endpointId;
  t.same(await replacing(control), [], 'settled, but in no load balancer yet: batch 2 waits');
  t.same(control.joinTracker.pendingNodes(fresh), [n1, n2].sort());
  t.equal(control.joinTracker.isWaiting(fresh.id), true);

  await dispatcher.report(n1, report({ joinedEndpointIds: [ep, 'no-such-endpoint'] }));
  await dispatcher.report(n1, report({ joinedEndpointIds: [ep] }));
  t.same(await replacing(control), [], 'one node of two is not enough');
  await dispatcher.report(n2, report({ joinedEndpointIds: [ep] }));
  t.same(await replacing(control), [2], 'both acknowledged: batch 2 replaces slot 2');
  t.equal(control.joinTracker.waiting, 0);

  // batch 2's new task: n2 never answers
  await finishShutdowns(m, [n1, n2]);
  const [second] = await runAll(control);
  t.equal(second?.slot, 2);
  await dispatcher.report(n1, report({ joinedEndpointIds: [second!.networks[0]!.endpointId] }));
  await clock.advanceAsync(JOIN_ACK_TIMEOUT_MS - 1);
  t.same(await replacing(control), [], 'not before the timeout');
  await clock.advanceAsync(1);
  t.same(await replacing(control), [3], '10 s after it ran: batch 3 goes on anyway');
  const timeouts = log.warnings.filter((w) => /did not acknowledge the task in their load balancers/.test(w.msg));
  t.equal(timeouts.length, 1, 'logged once');
  t.match(timeouts[0]?.fields, { taskId: second!.id, nodeIds: [n2] }, 'naming the node that did not answer');
  await finishShutdowns(m, [n1, n2]);
  await runAll(control);
  await clock.advanceAsync(JOIN_ACK_TIMEOUT_MS);
  t.equal((await control.inspectService('web')).updateStatus.state, 'completed', 'the update completes');
});

t.test('nobody watching, or a dnsrr service: settled is enough', async (t) => {
  const m = await cluster(t);
  const fresh = await firstBatch(t, m);
  t.equal(fresh.status.state, 'running');
  t.same(await replacing(m.control), [2], 'no watcher: batch 2 at once');
  t.equal(m.control.joinTracker.waiting, 0);

  const s = await m.control.createService({
    ...defaultServiceSpec('dns'),
    mode: { replicated: { replicas: 1 } },
    networks: [{ target: 'front', aliases: [] }],
    endpointSpec: { mode: 'dnsrr', ports: [] },
  });
  watch(m.dispatcher, m.n1, [m.front.id]);
  const [task] = await m.control.listTasks({ services: ['dns'] });
  await m.control.reportTaskStates(task!.nodeId, [{ taskId: task!.id, status: status('running') }]);
  const running = (await m.control.listTasks({ ids: [task!.id] }))[0]!;
  t.equal(m.control.joinTracker.joined(running, s), true, 'dnsrr: in no load balancer, joined as it runs');
});

t.test('a restarted manager: a task running longer than the timeout is joined; a newer one by fresh acknowledgements', async (t) => {
  const first = await cluster(t);
  watch(first.dispatcher, first.n1, [first.front.id]);
  watch(first.dispatcher, first.n2, [first.front.id]);
  const { n1, n2, front } = first;
  const fresh = await firstBatch(t, first);
  t.same(await replacing(first.control), [], 'waits for the acknowledgements');

  // the manager restarts 3 s after the task ran, and nobody watches the new one until 8 s later
  first.clock.advance(3000);
  let m = first.reopen();
  m.clock.advance(8000);
  watch(m.dispatcher, n1, [front.id]);
  watch(m.dispatcher, n2, [front.id]);
  const svc = (await m.control.inspectService('web')).id;
  await m.control.reconcileServices([svc]);
  t.same(await replacing(m.control), [2], 'running for 11 s: joined without acknowledgements, batch 2 starts');
  t.same(m.control.joinTracker.acknowledgedBy(fresh.networks[0]!.endpointId), []);

  await finishShutdowns(m, [n1, n2]);
  const [second] = await runAll(m.control);
  m = m.reopen();
  watch(m.dispatcher, n1, [front.id]);
  watch(m.dispatcher, n2, [front.id]);
  await m.control.reconcileServices([svc]);
  t.same(await replacing(m.control), [], 'running for less than the timeout: waits afresh');
  const ep = second!.networks[0]!.endpointId;
  // the agents resend what joined recently after their sessions reconnect
  await m.dispatcher.report(n1, report({ joinedEndpointIds: [fresh.networks[0]!.endpointId, ep] }));
  await m.dispatcher.report(n2, report({ joinedEndpointIds: [ep] }));
  t.same(await replacing(m.control), [3], 'completed by the resent acknowledgements');
});
