/**
 * The agent's workload lifecycle against a scripted runtime: nothing starts before its
 * sandbox is built; a start is reported running; an exit is reported complete or failed
 * with its code; a shutdown asked by the manager is reported shutdown; an adopted process
 * is not restarted; an exit that happened while no agent ran is reported once the
 * assignment names the task; a workload the manager drops is stopped and forgotten.
 */
import t from 'tap';
import type { ContainerStatusUpdate, Task, TaskStatusUpdate } from '../../../src/api/api-types.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { emptyState, type AssignmentState } from '../../../src/agent/session-client.ts';
import type { ProcessSpec, RuntimeEvent, TaskRuntime } from '../../../src/agent/tasks/runtime.ts';
import { RETAINED_ENDED, Workloads } from '../../../src/agent/workloads.ts';

class ScriptedRuntime {
  started: ProcessSpec[] = [];
  stopped: string[] = [];
  removed: string[] = [];
  adoptList: Array<{ id: string; pid: number; spec: ProcessSpec }> = [];
  exitCodeOnStop = 143;
  onEvent: (e: RuntimeEvent) => void = () => {};
  private nextPid = 100;
  async adopt() {
    return this.adoptList;
  }
  async start(spec: ProcessSpec) {
    this.started.push(spec);
    return { pid: this.nextPid++ };
  }
  async stop(id: string) {
    this.stopped.push(id);
    return { exitCode: this.exitCodeOnStop };
  }
  async remove(id: string) {
    this.removed.push(id);
  }
}

function task(id: string, desiredState: 'running' | 'shutdown', extra: Partial<Task> = {}): Task {
  return {
    id,
    version: 1,
    createdAt: '',
    updatedAt: '',
    serviceId: 's',
    serviceName: 'web',
    slot: 1,
    nodeId: 'N',
    desiredState,
    status: { state: 'assigned', message: '', err: '', timestamp: '', exitCode: 0, health: '' },
    spec: {
      command: ['sleep'],
      args: ['infinity'],
      env: ['A=1'],
      hostname: '',
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 },
      stopGracePeriodMs: 1000,
      labels: {},
    },
    networks: [
      { networkId: 'n1', networkName: 'front', addresses: ['10.0.0.3/24'], mac: '02:42:0a:00:00:03', aliases: [], endpointId: 'e1' },
    ],
    specVersion: 1,
    name: `web.1.${id}`,
    hostPorts: [],
    // a task the manager shut down and whose drain ended (unless a test says otherwise)
    drained: desiredState === 'shutdown',
    ...extra,
  } as Task;
}

function state(tasks: Task[]): AssignmentState {
  const s = emptyState();
  s.node = { id: 'N' } as AssignmentState['node'];
  for (const x of tasks) s.tasks.set(x.id, x);
  return s;
}

function setup(opts: { openConnections?: () => Promise<number>; letGoHere?: () => boolean } = {}) {
  const rt = new ScriptedRuntime();
  let changes = 0;
  const reports: TaskStatusUpdate[] = [];
  const containers: ContainerStatusUpdate[] = [];
  let sandboxChanges = 0;
  const w = new Workloads({
    runtime: rt as unknown as TaskRuntime,
    reporter: { reportTasks: (u) => reports.push(...u), reportContainers: (u) => containers.push(...u) },
    sandboxNetns: (id) => `p-sb-${id.slice(0, 12)}`,
    files: () => ({ resolvConf: 'nameserver 127.0.0.11\n', hosts: '127.0.0.1 localhost\n' }),
    onSandboxesChanged: () => sandboxChanges++,
    onWorkloadChanged: () => {
      changes++;
    },
    ...(opts.openConnections ? { openConnections: opts.openConnections } : {}),
    ...(opts.letGoHere ? { letGoHere: opts.letGoHere } : {}),
    logger: silentLogger,
  });
  rt.onEvent = (e) => w.onRuntimeEvent(e);
  const settle = async (): Promise<void> => {
    // the runner coalesces; wait until it has nothing left to do
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 30));
      await w.runner.whenIdle();
    }
  };
  return { rt, w, reports, containers, settle, sandboxChanges: () => sandboxChanges, changes: () => changes };
}

t.test('a task starts only once its sandbox is built, and is reported running', async (t) => {
  const { rt, w, reports, settle } = setup();
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('aaaaaaaaaaaaaaaa', 'running')]));
  await settle();
  t.equal(rt.started.length, 0, 'not started before the overlay built the sandbox');
  t.same(
    w.sandboxes().map((s) => s.id),
    ['aaaaaaaaaaaaaaaa'],
    'but its sandbox is asked for',
  );
  w.overlayApplied(new Set(['aaaaaaaaaaaaaaaa']));
  await settle();
  t.equal(rt.started.length, 1);
  const spec = rt.started[0]!;
  t.same(spec.argv, ['sleep', 'infinity'], 'command + args');
  t.equal(spec.netns, 'p-sb-aaaaaaaaaaaa');
  t.equal(spec.hostname, 'aaaaaaaaaaaa', 'default hostname: the first 12 characters of the ID');
  t.same(
    reports.map((r) => r.status.state),
    ['running'],
  );
});

t.test('exit codes: 0 is complete, others failed with the code; a shutdown is shutdown', async (t) => {
  const { rt, w, reports, settle } = setup();
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('a1', 'running'), task('b2', 'running'), task('c3', 'running')]));
  w.overlayApplied(new Set(['a1', 'b2', 'c3']));
  await settle();
  t.equal(rt.started.length, 3);
  w.onRuntimeEvent({ kind: 'exited', id: 'a1', exitCode: 0, message: 'exited' });
  w.onRuntimeEvent({ kind: 'exited', id: 'b2', exitCode: 7, message: 'exited' });
  w.setAssignment(state([task('a1', 'running'), task('b2', 'running'), task('c3', 'shutdown')]));
  await settle();
  const last = (id: string) => reports.filter((r) => r.taskId === id).at(-1)?.status;
  t.equal(last('a1')?.state, 'complete');
  t.equal(last('b2')?.state, 'failed');
  t.equal(last('b2')?.exitCode, 7);
  t.equal(last('b2')?.err, 'task: non-zero exit (7)');
  t.equal(last('c3')?.state, 'shutdown', 'asked down by the manager');
  t.same(rt.stopped, ['c3']);
  t.equal(rt.started.length, 3, 'nothing restarted by the agent (the manager applies the restart policy)');
});

t.test(
  'a task that exits on its own keeps its sandbox a moment (connections to it are refused, not lost); one asked down does not',
  async (t) => {
    const { rt, w, settle, sandboxChanges } = setup();
    t.teardown(() => w.runner.stop());
    w.runner.start();
    w.setAssignment(state([task('k1', 'running'), task('s1', 'running')]));
    w.overlayApplied(new Set(['k1', 's1']));
    await settle();
    t.equal(rt.started.length, 2);
    const ids = () =>
      w
        .sandboxes()
        .map((o) => o.id)
        .sort();
    w.onRuntimeEvent({ kind: 'exited', id: 'k1', exitCode: 137, message: 'killed' });
    t.same(ids(), ['k1', 's1'], 'the killed task keeps its sandbox for now');
    const before = sandboxChanges();
    const deadline = Date.now() + 10_000;
    while (ids().includes('k1') && Date.now() < deadline) await settle();
    t.same(ids(), ['s1'], 'and leaves after the linger');
    t.ok(sandboxChanges() > before, 'the overlay was told to remove it');
    w.setAssignment(state([task('k1', 'running'), task('s1', 'shutdown')]));
    const deadline2 = Date.now() + 10_000;
    while (rt.stopped.length === 0 && Date.now() < deadline2) await settle();
    t.same(ids(), [], 'a task asked down leaves with its stop');
  },
);

t.test('adopted processes are not restarted; an exit while no agent ran is reported', async (t) => {
  const { rt, w, reports, settle } = setup();
  t.teardown(() => w.runner.stop());
  rt.adoptList = [
    {
      id: 'live',
      pid: 42,
      spec: { id: 'live', name: 'web.1.live', netns: 'p-sb-live', argv: ['sleep'], env: [], hostname: 'x', resolvConf: '', hosts: '' },
    },
  ];
  const adopted = await w.adopt();
  t.same(adopted, ['live']);
  w.runner.start();
  // the runtime reports, after adopt, a task that ended while the agent was away
  w.onRuntimeEvent({ kind: 'exited', id: 'gone', exitCode: 3, message: 'exited' });
  await settle();
  t.same(reports, [], 'nothing is reported before the first assignment');
  w.setAssignment(state([task('live', 'running'), task('gone', 'running')]));
  w.overlayApplied(new Set(['live']));
  await settle();
  t.equal(rt.started.length, 0, 'the adopted task is not started again, the ended one neither');
  t.equal(w.get('live')?.pid, 42);
  const gone = reports.find((r) => r.taskId === 'gone')?.status;
  t.equal(gone?.state, 'failed', 'the exit that happened while no agent ran reaches the manager');
  t.equal(gone?.exitCode, 3);
  t.equal(reports.find((r) => r.taskId === 'live')?.status.state, 'running');
});

t.test('a workload the manager drops is stopped, then forgotten', async (t) => {
  const { rt, w, settle } = setup();
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('a1', 'running')]));
  w.overlayApplied(new Set(['a1']));
  await settle();
  w.setAssignment(state([]));
  await settle();
  t.same(rt.stopped, ['a1'], 'stopped');
  await settle();
  t.same(rt.removed, [], 'its record and log are kept for a while');
  t.same(w.sandboxes(), [], 'its sandbox leaves the model');
  t.equal(w.get('a1'), undefined, 'and the workload is forgotten');
  // many more come and go: the oldest records go
  const many = Array.from({ length: RETAINED_ENDED + 2 }, (_, i) => `t${i}`);
  w.setAssignment(state(many.map((id) => task(id, 'running'))));
  w.overlayApplied(new Set(many));
  await settle();
  w.setAssignment(state([]));
  await settle();
  await settle();
  t.same(rt.removed, ['a1', 't0', 't1'], `at most ${RETAINED_ENDED} ended records are kept, the oldest removed first`);
});

t.test('a task the manager already sees ended is not started again', async (t) => {
  const { rt, w, settle } = setup();
  t.teardown(() => w.runner.stop());
  w.runner.start();
  const ended = task('old', 'running', { status: { state: 'failed', message: '', err: '', timestamp: '', exitCode: 1, health: '' } });
  w.setAssignment(state([ended]));
  w.overlayApplied(new Set(['old']));
  await settle();
  t.equal(rt.started.length, 0);
});

t.test('a task asked down before this agent ever ran it is reported shutdown, not left assigned', async (t) => {
  const { rt, w, reports, settle } = setup();
  t.teardown(() => w.runner.stop());
  w.runner.start();
  const assigned = { state: 'assigned', message: '', err: '', timestamp: '', exitCode: 0, health: '' };
  const ended = { state: 'shutdown', message: '', err: '', timestamp: '', exitCode: 0, health: '' };
  w.setAssignment(state([task('never', 'shutdown', { status: assigned }), task('gone', 'shutdown', { status: ended })]));
  await settle();
  t.equal(rt.started.length, 0, 'nothing started');
  t.same(
    reports.map((r) => [r.taskId, r.status.state]),
    [['never', 'shutdown']],
    'the assigned one is reported shutdown; the one already ended is not reported again',
  );
});

t.test('a task asked down drains first: it runs until drained, then waits for its open connections, then stops', async (t) => {
  let open = 2;
  const { rt, w, reports, settle, changes } = setup({ openConnections: async () => open });
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('d1', 'running')]));
  w.overlayApplied(new Set(['d1']));
  await settle();
  t.equal(rt.started.length, 1);
  const before = changes();
  w.setAssignment(state([task('d1', 'shutdown', { drained: false })]));
  await settle();
  t.same(rt.stopped, [], 'not stopped while the load balancers still let it go');
  t.equal(w.get('d1')?.phase, 'running', 'still running');
  t.equal(w.get('d1')?.draining, true, 'marked draining');
  t.ok(changes() > before, 'the change is published (gossip and load balancers follow)');
  w.setAssignment(state([task('d1', 'shutdown', { drained: true })]));
  await settle();
  t.same(rt.stopped, [], 'drained, but two connections are still open');
  t.equal(w.get('d1')?.phase, 'stopping');
  open = 0;
  // it stops after a second look a moment later finds none open either
  const deadline = Date.now() + 10_000;
  while (rt.stopped.length === 0 && Date.now() < deadline) await settle();
  t.same(rt.stopped, ['d1'], 'stopped once its connections ended');
  t.equal(reports.filter((r) => r.taskId === 'd1').at(-1)?.status.state, 'shutdown');
});

t.test('a drained task with none open looks again a moment later, and waits for a connection that arrived meanwhile', async (t) => {
  const answers = [0, 1, 0, 0];
  let calls = 0;
  const { rt, w, settle } = setup({ openConnections: async () => answers[Math.min(calls++, answers.length - 1)]! });
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('q1', 'running')]));
  w.overlayApplied(new Set(['q1']));
  await settle();
  w.setAssignment(state([task('q1', 'shutdown', { drained: true })]));
  const deadline = Date.now() + 10_000;
  while (rt.stopped.length === 0 && Date.now() < deadline) await settle();
  t.same(rt.stopped, ['q1']);
  t.equal(calls, 4, 'none, then one that arrived, then none twice: stopped after the fourth look');
});

t.test("a drained task runs on until this node's own load balancers let it go too", async (t) => {
  let here = false;
  const { rt, w, settle } = setup({ letGoHere: () => here });
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('h1', 'running')]));
  w.overlayApplied(new Set(['h1']));
  await settle();
  w.setAssignment(state([task('h1', 'shutdown', { drained: true })]));
  await settle();
  t.same(rt.stopped, [], 'the manager says drained, but this node still balances to it');
  t.equal(w.get('h1')?.draining, true, 'it drains here');
  here = true;
  w.loadBalancersApplied();
  const deadline = Date.now() + 10_000;
  while (rt.stopped.length === 0 && Date.now() < deadline) await settle();
  t.same(rt.stopped, ['h1'], 'stopped once let go here');
});

t.test("a drained task that this node's load balancers never let go is stopped after 5 s", async (t) => {
  const { rt, w, settle } = setup({ letGoHere: () => false });
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('h2', 'running')]));
  w.overlayApplied(new Set(['h2']));
  await settle();
  const started = Date.now();
  w.setAssignment(state([task('h2', 'shutdown', { drained: true })]));
  while (rt.stopped.length === 0 && Date.now() - started < 15_000) await settle();
  t.same(rt.stopped, ['h2']);
  t.ok(Date.now() - started >= 4_900, `after the bound (${Date.now() - started} ms)`);
});

t.test('a drained task whose connections never end is stopped at the end of its stop grace period', async (t) => {
  const { rt, w, settle } = setup({ openConnections: async () => 1 });
  t.teardown(() => w.runner.stop());
  w.runner.start();
  w.setAssignment(state([task('g1', 'running', { spec: { ...task('x', 'running').spec, stopGracePeriodMs: 300 } })]));
  w.overlayApplied(new Set(['g1']));
  await settle();
  w.setAssignment(state([task('g1', 'shutdown', { drained: true, spec: { ...task('x', 'running').spec, stopGracePeriodMs: 300 } })]));
  const started = Date.now();
  while (rt.stopped.length === 0 && Date.now() - started < 10_000) await settle();
  t.same(rt.stopped, ['g1'], 'stopped although a connection stayed open');
  t.ok(Date.now() - started >= 250, 'after (about) the grace period');
});
