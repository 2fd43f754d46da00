// A rolling update that fails: the manager watches the new spec's tasks for the monitor
// window and, when too many fail, pauses the update or rolls the service back to its
// previous spec (paced by the rollback config), as Docker's --update-failure-action says.
// `service update --rollback` does the same on request; without a previous spec it is
// refused. Agents are played by reportTaskStates; time is the harness's fake clock.
import t from 'tap';
import type { Test } from 'tap';
import { defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/api-defaults.ts';
import type { ServiceSpec, Task, TaskStatus } from '../../../src/api/api-types.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { inProcessManager, readyNode } from '../../support/manager-harness.ts';

const join = readyNode;

const status = (state: string, health = ''): TaskStatus => ({
  state,
  message: state,
  err: '',
  timestamp: '',
  exitCode: state === 'failed' ? 1 : 0,
  health,
});

async function live(control: ManagerControl): Promise<Task[]> {
  return control.listTasks({ services: ['web'], desiredState: 'running' });
}

/** Plays the agent: live tasks not yet running start; shut-down tasks stop. */
async function agent(control: ManagerControl, nodeId: string, fail: (t: Task) => boolean = () => false): Promise<void> {
  for (const x of await control.listTasks({ services: ['web'] })) {
    if (x.desiredState === 'running' && x.status.state === 'assigned')
      await control.reportTaskStates(nodeId, [{ taskId: x.id, status: status(fail(x) ? 'failed' : 'running') }]);
    else if (x.desiredState === 'shutdown' && x.status.state === 'running')
      await control.reportTaskStates(nodeId, [{ taskId: x.id, status: status('shutdown') }]);
  }
}

/** Lets the newest tasks' monitor window pass: an update completes only then. */
async function pastMonitor(m: { clock: { advanceAsync(ms: number): Promise<void> } }): Promise<void> {
  await m.clock.advanceAsync(defaultUpdateConfig().monitorMs + 1);
}

async function setup(t: Test, patch: Partial<ServiceSpec>) {
  const m = await inProcessManager(t);
  const n1 = await join(m.control, 'n1', '192.0.2.31');
  await m.control.createService({
    ...defaultServiceSpec('web'),
    mode: { replicated: { replicas: 2 } },
    taskTemplate: {
      ...defaultServiceSpec('web').taskTemplate,
      env: ['V=1'],
      restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0 },
    },
    ...patch,
  });
  await agent(m.control, n1);
  return { ...m, n1 };
}

const v2 = (spec: ServiceSpec): ServiceSpec => ({ ...spec, taskTemplate: { ...spec.taskTemplate, env: ['V=2'] } });
const envs = async (control: ManagerControl): Promise<string[]> => (await live(control)).map((x) => x.spec.env.join(',')).sort();

t.test('failure action pause: a task failing within the monitor window pauses the update', async (t) => {
  const { control, n1 } = await setup(t, {});
  const s = await control.inspectService('web');
  await control.updateService('web', v2(s.spec), s.version);
  await agent(control, n1); // stop-first: the first old task stops
  await agent(control, n1, () => true); // its replacement fails at once
  const after = await control.inspectService('web');
  t.equal(after.updateStatus.state, 'paused');
  t.match(after.updateStatus.message, /update paused: 1 of 1 updated tasks failed within the monitor window/);
  t.same(await envs(control), ['V=1'], 'no further batch: the other task still runs the old spec');
});

t.test('failure action rollback: the service goes back to its previous spec, paced by rollbackConfig', async (t) => {
  const m = await setup(t, {
    updateConfig: { ...defaultUpdateConfig(), failureAction: 'rollback' },
    rollbackConfig: { ...defaultUpdateConfig(), parallelism: 0 },
  });
  const { control, n1 } = m;
  const s = await control.inspectService('web');
  await control.updateService('web', v2(s.spec), s.version);
  await agent(control, n1);
  await agent(control, n1, () => true);
  const rb = await control.inspectService('web');
  t.equal(rb.updateStatus.state, 'rollback_started');
  t.same(rb.spec.taskTemplate.env, ['V=1'], 'the previous spec is back');
  t.same(rb.previousSpec?.taskTemplate.env, ['V=2'], 'and the failed one is the previous spec');
  for (let i = 0; i < 4; i++) await agent(control, n1);
  t.same(await envs(control), ['V=1', 'V=1']);
  t.equal((await control.inspectService('web')).updateStatus.state, 'rollback_started', 'within the monitor window: not complete yet');
  await pastMonitor(m);
  t.equal((await control.inspectService('web')).updateStatus.state, 'rollback_completed');
});

t.test('service update --rollback: previous spec with rollbackConfig pacing; none -> a clear error', async (t) => {
  const m = await setup(t, { rollbackConfig: { ...defaultUpdateConfig(), parallelism: 0 } });
  const { control, n1 } = m;
  const s = await control.inspectService('web');
  await t.rejects(control.updateService('web', s.spec, 0, { rollback: true }), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'service web does not have a previous spec',
  });
  await control.updateService('web', v2(s.spec), s.version);
  for (let i = 0; i < 6; i++) await agent(control, n1);
  t.same(await envs(control), ['V=2', 'V=2']);
  await pastMonitor(m);
  const u = await control.inspectService('web');
  t.equal(u.updateStatus.state, 'completed');
  const r = await control.updateService('web', u.spec, u.version, { rollback: true });
  t.equal(r.updateStatus.state, 'rollback_started');
  t.same(r.spec.taskTemplate.env, ['V=1']);
  t.equal(
    (await control.listTasks({ services: ['web'], desiredState: 'shutdown' })).filter((x) => x.status.state === 'running').length,
    2,
    'rollback parallelism 0: both old tasks stop at once',
  );
  for (let i = 0; i < 4; i++) await agent(control, n1);
  t.same(await envs(control), ['V=1', 'V=1']);
  await pastMonitor(m);
  t.equal((await control.inspectService('web')).updateStatus.state, 'rollback_completed');
});

const published = (p: number) => ({ name: '', protocol: 'tcp', targetPort: 80, publishedPort: p, publishMode: 'ingress' });

t.test("an automatic rollback allocates the previous spec's ports again and frees the failed one's", async (t) => {
  const m = await setup(t, {
    updateConfig: { ...defaultUpdateConfig(), failureAction: 'rollback' },
    rollbackConfig: { ...defaultUpdateConfig(), parallelism: 0 },
    endpointSpec: { mode: 'vip', ports: [published(8080)] },
  });
  const { control, n1 } = m;
  const s = await control.inspectService('web');
  const moved = { ...v2(s.spec), endpointSpec: { mode: 'vip', ports: [published(8081)] } };
  await control.updateService('web', moved, s.version);
  t.same(
    (await control.inspectService('web')).endpoint.ports.map((p) => p.publishedPort),
    [8081],
    'the update publishes 8081',
  );
  await agent(control, n1);
  await agent(control, n1, () => true);
  const rb = await control.inspectService('web');
  t.equal(rb.updateStatus.state, 'rollback_started');
  t.match(rb.updateStatus.message, /update rolled back: 1 of 1 updated tasks failed/);
  t.same(
    rb.endpoint.ports.map((p) => p.publishedPort),
    [8080],
    'the rollback publishes 8080 again',
  );
  // 8081 is free again: another service can take it
  const other = await control.createService({ ...defaultServiceSpec('other'), endpointSpec: { mode: 'vip', ports: [published(8081)] } });
  t.same(
    other.endpoint.ports.map((p) => p.publishedPort),
    [8081],
  );
});

t.test('an automatic rollback that can no longer apply pauses the update and says why', async (t) => {
  const m = await setup(t, {
    updateConfig: { ...defaultUpdateConfig(), failureAction: 'rollback' },
    endpointSpec: { mode: 'vip', ports: [published(8080)] },
  });
  const { control, n1 } = m;
  const s = await control.inspectService('web');
  await control.updateService('web', { ...v2(s.spec), endpointSpec: { mode: 'vip', ports: [published(8081)] } }, s.version);
  // meanwhile another service takes the port the previous spec published
  await control.createService({ ...defaultServiceSpec('other'), endpointSpec: { mode: 'vip', ports: [published(8080)] } });
  await agent(control, n1);
  await agent(control, n1, () => true);
  const after = await control.inspectService('web');
  t.equal(after.updateStatus.state, 'paused');
  t.match(
    after.updateStatus.message,
    /update paused: 1 of 1 updated tasks failed within the monitor window; it cannot be rolled back: .*8080/,
  );
  t.same(
    after.spec.endpointSpec.ports.map((p) => p.publishedPort),
    [8081],
    'nothing half-changed: the failed spec stays',
  );
});
