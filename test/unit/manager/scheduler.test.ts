import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/api-defaults.ts';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../src/manager/objects.ts';
import { canKeep, canPlace, isLive, planService } from '../../../src/manager/scheduler.ts';
import type { SchedulePlan } from '../../../src/manager/scheduler.ts';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number): string => new Date(ms).toISOString();

function node(id: string, state = 'ready', availability = 'active'): NodeRecord {
  return {
    id,
    version: 1,
    createdAt: iso(T0),
    updatedAt: iso(T0),
    spec: { name: id, labels: {}, role: 'worker', availability },
    description: { hostname: id, platformOs: 'linux', platformArch: 'x64', version: '0' },
    status: { state, message: '', addr: '192.0.2.1', gossipPort: 7946 },
    certFingerprint: '',
  };
}

function service(replicas: number | 'global', patch: Partial<ServiceRecord['spec']> = {}): ServiceRecord {
  const spec = { ...defaultServiceSpec('web'), ...patch };
  spec.mode = replicas === 'global' ? { global: {} } : { replicated: { replicas } };
  return {
    id: 'svc',
    version: 10,
    createdAt: iso(T0),
    updatedAt: iso(T0),
    spec,
    endpoint: { spec: spec.endpointSpec, ports: [], virtualIps: [] },
    updateStatus: { state: '', startedAt: '', completedAt: '', message: '' },
    specVersion: 10,
  };
}

let seq = 0;
function task(slot: number, nodeId: string, state = 'running', desired = 'running', specVersion = 10, at = T0): TaskRecord {
  seq++;
  const id = `t${String(seq).padStart(4, '0')}`;
  return {
    id,
    version: 1,
    createdAt: iso(at + seq),
    updatedAt: iso(at + seq),
    serviceId: 'svc',
    serviceName: 'web',
    slot,
    nodeId,
    desiredState: desired,
    status: { state, message: '', err: '', timestamp: iso(at), exitCode: 0, health: '' },
    spec: defaultServiceSpec('web').taskTemplate,
    networks: [],
    specVersion,
    name: `web.${slot}.${id}`,
    hostPorts: [],
    drained: false,
  };
}

function plan(
  svc: ServiceRecord,
  tasks: TaskRecord[],
  nodes: NodeRecord[],
  extra: {
    nowMs?: number;
    updateBatchAllowed?: boolean;
    load?: Map<string, number>;
    hostPortsInUse?: Map<string, Set<string>>;
    joined?: (t: TaskRecord) => boolean;
  } = {},
): SchedulePlan {
  return planService({
    service: svc,
    tasks,
    nodes,
    nodeLoad: extra.load ?? new Map(),
    nowMs: extra.nowMs ?? T0,
    historyRetention: 2,
    updateBatchAllowed: extra.updateBatchAllowed ?? true,
    ...(extra.hostPortsInUse ? { hostPortsInUse: extra.hostPortsInUse } : {}),
    ...(extra.joined ? { joined: extra.joined } : {}),
  });
}

t.test('replicated tasks spread over active ready nodes, fewest first', async (t) => {
  const p = plan(service(5), [], [node('a'), node('b'), node('c', 'down'), node('d', 'ready', 'drain'), node('e', 'ready', 'pause')]);
  t.same(
    p.create.map((c) => c.slot),
    [1, 2, 3, 4, 5],
  );
  t.same(
    p.create.map((c) => c.nodeId),
    ['a', 'b', 'a', 'b', 'a'],
  );
  const q = plan(service(3), [task(1, 'a'), task(2, 'a')], [node('a'), node('b')]);
  t.same(q.create, [{ slot: 3, nodeId: 'b' }], 'the new replica goes to the node with fewer tasks of the service');
  const r = plan(service(2), [], [node('a'), node('b')], { load: new Map([['a', 10]]) });
  t.same(
    r.create.map((c) => c.nodeId),
    ['b', 'a'],
    'ties broken by overall load',
  );
});

t.test('no eligible node: tasks are created pending, assigned when a node appears', async (t) => {
  const p = plan(service(2), [], [node('a', 'unknown')]);
  t.same(p.create, [
    { slot: 1, nodeId: '' },
    { slot: 2, nodeId: '' },
  ]);
  const pending = [task(1, '', 'pending'), task(2, '', 'pending')];
  const q = plan(service(2), pending, [node('a')]);
  t.same(q.create, []);
  t.same(
    q.assign.map((a) => a.nodeId),
    ['a', 'a'],
  );
});

t.test('scale down shuts down the highest slots', async (t) => {
  const ts = [task(1, 'a'), task(2, 'b'), task(3, 'a')];
  const p = plan(service(1), ts, [node('a'), node('b')]);
  t.same(p.shutdown.map((s) => s.taskId).sort(), [ts[1]!.id, ts[2]!.id].sort());
  t.match(p.shutdown[0]!.message, /scaled down/);
  t.same(p.create, []);
});

t.test('tasks on a down or drained node are replaced elsewhere; paused nodes keep theirs', async (t) => {
  const ts = [task(1, 'a'), task(2, 'b'), task(3, 'c')];
  const p = plan(service(3), ts, [node('a', 'down'), node('b', 'ready', 'drain'), node('c', 'ready', 'pause'), node('d')]);
  t.same(p.shutdown.map((s) => s.message).sort(), ['node down', 'node drained']);
  t.same(
    p.create.sort((x, y) => x.slot - y.slot),
    [
      { slot: 1, nodeId: 'd' },
      { slot: 2, nodeId: 'd' },
    ],
  );
  const q = plan(service(2), [task(1, 'gone'), task(2, 'd')], [node('d'), node('e')]);
  t.match(q.shutdown, [{ message: 'node removed' }]);
  t.same(q.create, [{ slot: 1, nodeId: 'e' }]);
});

t.test('global services: one task per active ready node', async (t) => {
  const p = plan(service('global'), [task(0, 'a')], [node('a'), node('b'), node('c', 'down'), node('d', 'ready', 'pause')]);
  t.same(p.create, [{ slot: 0, nodeId: 'b' }]);
  const q = plan(service('global'), [task(0, 'a'), task(0, 'b')], [node('a', 'ready', 'drain'), node('b', 'down')]);
  t.equal(q.shutdown.length, 2);
  t.same(q.create, []);
  const r = plan(service('global'), [task(0, 'a')], [node('a', 'ready', 'pause')]);
  t.same(r, { ...r, shutdown: [], create: [] }, 'a paused node keeps its global task');
});

t.test('restart policy: condition, delay and max attempts', async (t) => {
  const failed = (at: number): TaskRecord => task(1, 'a', 'failed', 'shutdown', 10, at);
  const complete = task(1, 'a', 'complete', 'shutdown');
  const nodes = [node('a')];
  const any = service(1);
  t.same(plan(any, [failed(T0)], nodes, { nowMs: T0 + 1000 }).create, [], 'waits for the 5 s delay');
  t.equal(plan(any, [failed(T0)], nodes, { nowMs: T0 + 1000 }).wakeAtMs, T0 + 5000);
  t.same(plan(any, [failed(T0)], nodes, { nowMs: T0 + 5000 }).create, [{ slot: 1, nodeId: 'a' }]);
  t.same(plan(any, [complete], nodes, { nowMs: T0 + 6000 }).create.length, 1, 'any restarts after a clean exit');
  const onFailure = service(1, {
    taskTemplate: { ...any.spec.taskTemplate, restartPolicy: { condition: 'on-failure', delayMs: 0, maxAttempts: 2 } },
  });
  t.same(plan(onFailure, [complete], nodes).create, [], 'on-failure does not restart a clean exit');
  t.same(plan(onFailure, [failed(T0)], nodes).create.length, 1);
  t.same(plan(onFailure, [failed(T0), failed(T0 - 10)], nodes).create.length, 1, 'two runs ended: the second of two restarts');
  t.same(plan(onFailure, [failed(T0), failed(T0 - 10), failed(T0 - 20)], nodes).create, [], 'max attempts (2 restarts) reached');
  // history retention (2 here) must not hide attempts: a maximum of 4 keeps 5 ended tasks
  const four = service(1, {
    taskTemplate: { ...any.spec.taskTemplate, restartPolicy: { condition: 'on-failure', delayMs: 0, maxAttempts: 4 } },
  });
  const fourFailed = [failed(T0), failed(T0 - 10), failed(T0 - 20), failed(T0 - 30)];
  const p4 = plan(four, fourFailed, nodes);
  t.same(p4.remove, [], 'ended tasks the restart maximum still counts are kept beyond the retention');
  t.equal(p4.create.length, 1, 'the fourth restart');
  t.same(plan(four, [...fourFailed, failed(T0 - 40)], nodes).create, [], 'then no fifth');
  const none = service(1, { taskTemplate: { ...any.spec.taskTemplate, restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0 } } });
  t.same(plan(none, [failed(T0)], nodes, { nowMs: T0 + 1e6 }).create, []);
  t.same(
    plan(none, [task(1, 'a', 'running', 'shutdown')], nodes).create.length,
    1,
    'a slot emptied by the manager is refilled whatever the policy',
  );
});

t.test('rolling update replaces `parallelism` outdated tasks per batch', async (t) => {
  const svc = service(3, { updateConfig: { ...defaultUpdateConfig(), parallelism: 2, delayMs: 1000 } });
  svc.specVersion = 20;
  const ts = [task(1, 'a', 'running', 'running', 10), task(2, 'b', 'running', 'running', 10), task(3, 'a', 'running', 'running', 10)];
  const p = plan(svc, ts, [node('a'), node('b')]);
  t.equal(p.shutdown.length, 2);
  t.same(p.create, [], 'stop-first: no new task while the old ones still run');
  t.equal(p.outdatedRemaining, 3, 'the two being replaced and the third');
  t.ok(p.updateBatchStarted);
  const stopping = ts.map((x, i) => (i < 2 ? { ...x, desiredState: 'shutdown' } : x));
  t.same(plan(svc, stopping, [node('a'), node('b')]).create, [], 'draining, not stopped yet: still no new task');
  const stopped = stopping.map((x, i) => (i < 2 ? { ...x, status: { ...x.status, state: 'shutdown' } } : x));
  const r = plan(svc, stopped, [node('a'), node('b')]);
  t.same(
    r.create.map((c) => c.slot),
    [1, 2],
    'the old tasks ended: their slots get their new tasks',
  );
  t.notOk(r.updateBatchStarted, 'and no next batch before they settle');
  const q = plan(svc, ts, [node('a'), node('b')], { updateBatchAllowed: false });
  t.same([q.shutdown.length, q.create.length, q.outdatedRemaining], [0, 0, 3], 'no batch while the delay runs');
  const all = service(3, { updateConfig: { ...defaultUpdateConfig(), parallelism: 0, delayMs: 0 } });
  all.specVersion = 20;
  t.equal(plan(all, ts, [node('a'), node('b')]).shutdown.length, 3, 'parallelism 0 replaces all at once');
});

t.test('history beyond the retention is removed, oldest first', async (t) => {
  const ended = [
    task(1, 'a', 'failed', 'shutdown', 10, T0 - 3000),
    task(1, 'a', 'failed', 'shutdown', 10, T0 - 2000),
    task(1, 'a', 'shutdown', 'shutdown', 10, T0 - 1000),
  ];
  const live = task(1, 'a');
  const p = plan(service(1), [...ended, live], [node('a')]);
  t.same(p.remove, [ended[0]!.id]);
});

t.test('random node and task churn always converges to one live task per slot on an eligible node', async (t) => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 2 ** 31);
  t.comment(`seed ${seed} (rerun with SEED=${seed})`);
  const rng = createRng(seed);
  for (let round = 0; round < 200; round++) {
    const nodes = Array.from({ length: 1 + rng.int(5) }, (_, i) =>
      node(`n${i}`, ['ready', 'ready', 'ready', 'down', 'unknown'][rng.int(5)]!, ['active', 'active', 'pause', 'drain'][rng.int(4)]!),
    );
    const replicas = rng.int(8);
    let tasks: TaskRecord[] = [];
    for (let i = 0; i < rng.int(10); i++) {
      const n = rng.int(nodes.length + 1);
      tasks.push(
        task(
          1 + rng.int(8),
          n === nodes.length ? '' : nodes[n]!.id,
          ['running', 'assigned', 'pending', 'failed'][rng.int(4)]!,
          rng.int(3) === 0 ? 'shutdown' : 'running',
        ),
      );
    }
    const svc = service(replicas, {
      taskTemplate: { ...defaultServiceSpec('x').taskTemplate, restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 } },
    });
    // apply plans until nothing changes (at most a few rounds)
    for (let i = 0; i < 5; i++) {
      const p = plan(svc, tasks, nodes, { nowMs: T0 + 1e9 });
      const byId = new Map(tasks.map((x) => [x.id, x]));
      for (const s of p.shutdown) byId.get(s.taskId)!.desiredState = 'shutdown';
      for (const a of p.assign)
        Object.assign(byId.get(a.taskId)!, { nodeId: a.nodeId, status: { ...byId.get(a.taskId)!.status, state: 'assigned' } });
      for (const c of p.create) tasks.push(task(c.slot, c.nodeId, c.nodeId === '' ? 'pending' : 'assigned'));
      tasks = tasks.filter((x) => !p.remove.includes(x.id));
    }
    const placeable = nodes.some(canPlace);
    for (let slot = 1; slot <= replicas; slot++) {
      const live = tasks.filter((x) => x.slot === slot && isLive(x));
      t.equal(live.length, 1, `round ${round} slot ${slot}: one live task`);
      const n = nodes.find((x) => x.id === live[0]?.nodeId);
      if (live[0]?.nodeId === '') t.notOk(placeable, `round ${round} slot ${slot}: pending only when no node can take it`);
      else t.ok(canKeep(n), `round ${round} slot ${slot}: on a node that may keep it`);
    }
    t.equal(tasks.filter((x) => isLive(x) && x.slot > replicas).length, 0, `round ${round}: nothing live above the replica count`);
  }
});

t.test('rolling update: the next batch waits until the previous one runs and passes its health check', async (t) => {
  const svc = service(3, { updateConfig: { ...defaultUpdateConfig(), parallelism: 1, delayMs: 0 } });
  svc.specVersion = 20;
  const old2 = task(2, 'b', 'running', 'running', 10);
  const old3 = task(3, 'a', 'running', 'running', 10);
  const starting = task(1, 'a', 'assigned', 'running', 20);
  const nodes = [node('a'), node('b')];
  const p = plan(svc, [starting, old2, old3], nodes);
  t.same([p.shutdown.length, p.create.length, p.outdatedRemaining], [0, 0, 2], 'the new task of slot 1 is not running yet: no batch');
  starting.status = { ...starting.status, state: 'running', health: 'starting' };
  t.equal(plan(svc, [starting, old2, old3], nodes).shutdown.length, 0, 'running but its health check has not passed: no batch');
  starting.status = { ...starting.status, health: 'unhealthy' };
  t.equal(plan(svc, [starting, old2, old3], nodes).shutdown.length, 0, 'unhealthy: no batch');
  starting.status = { ...starting.status, health: 'healthy' };
  const q = plan(svc, [starting, old2, old3], nodes);
  t.same(
    q.shutdown.map((s) => s.taskId),
    [old2.id],
    'healthy: the next batch replaces slot 2',
  );
  t.equal(q.outdatedRemaining, 2, 'slot 2 being replaced, slot 3 still outdated');
});

t.test('rolling update: the next batch waits until the previous one is in every load balancer too', async (t) => {
  const svc = service(3, { updateConfig: { ...defaultUpdateConfig(), parallelism: 1, delayMs: 0 } });
  svc.specVersion = 20;
  const fresh = task(1, 'a', 'running', 'running', 20);
  fresh.status.health = 'healthy';
  const old2 = task(2, 'b', 'running', 'running', 10);
  const old3 = task(3, 'a', 'running', 'running', 10);
  const nodes = [node('a'), node('b')];
  const joinedNow = new Set<string>();
  const asked: string[] = [];
  const joined = (x: TaskRecord): boolean => {
    asked.push(x.id);
    return joinedNow.has(x.id);
  };
  const p = plan(svc, [fresh, old2, old3], nodes, { joined });
  t.same([p.shutdown.length, p.create.length, p.outdatedRemaining], [0, 0, 2], 'settled but not in every load balancer: no batch');
  t.same(asked, [fresh.id], 'the settled task of the current spec is asked about');
  joinedNow.add(fresh.id);
  t.same(
    plan(svc, [fresh, old2, old3], nodes, { joined }).shutdown.map((s) => s.taskId),
    [old2.id],
    'joined: the next batch replaces slot 2',
  );

  // only settled tasks are asked, and only when an update waits for them
  asked.length = 0;
  const starting = { ...fresh, id: 'starting', status: { ...fresh.status, health: 'starting' } };
  t.equal(plan(svc, [starting, old2, old3], nodes, { joined }).shutdown.length, 0);
  t.same(asked, [], 'a task whose health check has not passed is not asked');
  const done = service(1);
  plan(done, [task(1, 'a', 'running', 'running', 10)], nodes, { joined });
  t.same(asked, [], 'no update, no question');
});

t.test('mode=host ports: two tasks publishing one host port never share a node', async (t) => {
  const hp = { name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' };
  const svc = service(3);
  svc.endpoint.ports = [hp];
  const nodes = [node('a'), node('b')];
  const p = plan(svc, [], nodes);
  t.same(p.create.map((c) => c.nodeId).sort(), ['', 'a', 'b'], 'three replicas on two nodes: one per node, the third pending');
  const other = plan(svc, [], nodes, { hostPortsInUse: new Map([['a', new Set(['tcp/8080'])]]) });
  t.same(other.create.map((c) => c.nodeId).sort(), ['', '', 'b'], 'a node where another service holds the port takes none');
  const udp = plan(svc, [], nodes, { hostPortsInUse: new Map([['a', new Set(['udp/8080'])]]) });
  t.same(udp.create.map((c) => c.nodeId).sort(), ['', 'a', 'b'], 'the same number over UDP is another port');
  // a rolling update replaces the task on its node: the old one gives the port up as it drains
  const upd = service(1, { updateConfig: { ...defaultUpdateConfig(), parallelism: 1, delayMs: 0 } });
  upd.endpoint.ports = [hp];
  upd.specVersion = 20;
  const old = task(1, 'a', 'running', 'running', 10);
  const q = plan(upd, [old], [node('a')]);
  t.same(
    q.shutdown.map((s) => s.taskId),
    [old.id],
  );
  const ended = { ...old, desiredState: 'shutdown', status: { ...old.status, state: 'shutdown' } };
  t.same(
    plan(upd, [ended], [node('a')]).create.map((c) => c.nodeId),
    ['a'],
    'the replacement takes the port the stopped task gave up',
  );
});

t.test('start-first: the new task starts beside the old one, which stops once the new one is settled', async (t) => {
  const svc = service(2, { updateConfig: { ...defaultUpdateConfig(), order: 'start-first' } });
  svc.specVersion = 20;
  svc.updateStatus = { state: 'updating', startedAt: iso(T0), completedAt: '', message: '' };
  const old1 = task(1, 'a', 'running', 'running', 10);
  const old2 = task(2, 'b', 'running', 'running', 10);
  const nodes = [node('a'), node('b')];
  const p = plan(svc, [old1, old2], nodes);
  t.same(p.shutdown, [], 'nothing stops first');
  t.same(
    p.create.map((c) => c.slot),
    [1],
    'slot 1 gets its new task',
  );
  const fresh = task(1, 'b', 'running', 'running', 20);
  fresh.status.health = 'starting';
  const q = plan(svc, [old1, fresh, old2], nodes);
  t.same([q.shutdown.length, q.create.length, q.outdatedRemaining], [0, 0, 2], 'the new task is not healthy yet: both run');
  fresh.status.health = 'healthy';
  const notJoined = plan(svc, [old1, fresh, old2], nodes, { joined: () => false });
  t.same(
    [notJoined.shutdown.length, notJoined.create.length, notJoined.outdatedRemaining],
    [0, 0, 2],
    'healthy but not in every load balancer yet: both run',
  );
  const r = plan(svc, [old1, fresh, old2], nodes, { joined: (x) => x.id === fresh.id });
  t.same(
    r.shutdown.map((s) => [s.taskId, s.message]),
    [[old1.id, 'replaced by a service update']],
    'settled: the old task of slot 1 is shut down',
  );
  t.same(
    r.create.map((c) => c.slot),
    [2],
    'no second new task for slot 1; the next batch starts slot 2',
  );
});

t.test('failures within the monitor window count against the max failure ratio', async (t) => {
  const svc = service(4, { updateConfig: { ...defaultUpdateConfig(), monitorMs: 5000, maxFailureRatio: 0.5 } });
  svc.specVersion = 20;
  svc.updateStatus = { state: 'updating', startedAt: iso(T0), completedAt: '', message: '' };
  const nodes = [node('a')];
  const ok = task(1, 'a', 'running', 'running', 20);
  const early = task(2, 'a', 'failed', 'shutdown', 20, T0 + 2000); // ended 2 s after it was created
  early.createdAt = iso(T0);
  const late = task(3, 'a', 'failed', 'shutdown', 20, T0 + 60_000); // ended after the window
  late.createdAt = iso(T0);
  const olds = [task(4, 'a', 'running', 'running', 10)];
  const p = plan(svc, [ok, early, late, ...olds], nodes, { nowMs: T0 + 60_000 });
  t.same([p.updateFailures, p.updatedTasks, p.updateFailed], [1, 3, false], '1 of 3 is within a 0.5 ratio');
  const sick = task(1, 'a', 'running', 'running', 20, T0 + 1000);
  sick.createdAt = iso(T0);
  sick.status.health = 'unhealthy';
  const q = plan(svc, [sick, early, late, ...olds], nodes, { nowMs: T0 + 60_000 });
  t.same([q.updateFailures, q.updatedTasks, q.updateFailed], [2, 3, true], 'unhealthy within the window is a failure too: 2/3 > 0.5');
  t.equal(q.shutdown.filter((s) => s.message === 'replaced by a service update').length, 0, 'pause: no further batch');
  const cont = { ...svc, spec: { ...svc.spec, updateConfig: { ...svc.spec.updateConfig, failureAction: 'continue' } } };
  const c = plan(cont, [sick, early, late, ...olds], nodes, { nowMs: T0 + 60_000 });
  t.ok(c.updateFailed, 'continue: the failure is still reported');
  const zero = { ...svc, spec: { ...svc.spec, updateConfig: { ...svc.spec.updateConfig, maxFailureRatio: 0 } } };
  t.ok(plan(zero, [ok, early, ...olds], nodes).updateFailed, 'ratio 0: one failure is too many');
  const done = { ...zero, updateStatus: { ...zero.updateStatus, state: 'completed' } };
  t.notOk(plan(done, [ok, early, ...olds], nodes).updateFailed, 'no update in progress: nothing fails');
});

t.test('a paused update starts no batch; a rollback is paced by rollbackConfig', async (t) => {
  const nodes = [node('a')];
  const olds = (): TaskRecord[] => [
    task(1, 'a', 'running', 'running', 10),
    task(2, 'a', 'running', 'running', 10),
    task(3, 'a', 'running', 'running', 10),
  ];
  const paused = service(3, { updateConfig: { ...defaultUpdateConfig(), parallelism: 0 } });
  paused.specVersion = 20;
  paused.updateStatus = { state: 'paused', startedAt: iso(T0), completedAt: '', message: '' };
  const p = plan(paused, olds(), nodes);
  t.same([p.shutdown.length, p.outdatedRemaining], [0, 3], 'paused: nothing replaced');
  const rb = service(3, {
    updateConfig: { ...defaultUpdateConfig(), parallelism: 0 },
    rollbackConfig: { ...defaultUpdateConfig(), parallelism: 2 },
  });
  rb.specVersion = 20;
  rb.updateStatus = { state: 'rollback_started', startedAt: iso(T0), completedAt: '', message: '' };
  t.equal(plan(rb, olds(), nodes).shutdown.length, 2, 'rollback: rollback parallelism 2');
  rb.updateStatus.state = 'updating';
  t.equal(plan(rb, olds(), nodes).shutdown.length, 3, 'update: update parallelism 0 (all)');
});

t.test("an update with nothing outdated left waits out its newest task's monitor window", async (t) => {
  const svc = service(2, { updateConfig: { ...defaultUpdateConfig(), monitorMs: 5000 } });
  svc.specVersion = 20;
  svc.updateStatus = { state: 'updating', startedAt: iso(T0), completedAt: '', message: '' };
  const a = task(1, 'a', 'running', 'running', 20);
  const b = task(2, 'a', 'running', 'running', 20);
  a.createdAt = iso(T0);
  b.createdAt = iso(T0 + 3000);
  const within = plan(svc, [a, b], [node('a')], { nowMs: T0 + 4000 });
  t.equal(within.outdatedRemaining, 0);
  t.equal(within.monitorUntilMs, T0 + 8000, 'the newest task is watched until 5 s after it was created');
  t.equal(within.wakeAtMs, T0 + 8000, 'and the service is woken then');
  const after = plan(svc, [a, b], [node('a')], { nowMs: T0 + 8001 });
  t.equal(after.monitorUntilMs, undefined, 'past it: the update may complete');
  const idle = { ...svc, updateStatus: { ...svc.updateStatus, state: 'completed' } };
  t.equal(plan(idle, [a, b], [node('a')], { nowMs: T0 + 4000 }).monitorUntilMs, undefined, 'no update in progress: nothing to wait for');
  const outdated = plan(svc, [a, task(2, 'a', 'running', 'running', 10)], [node('a')], { nowMs: T0 + 4000 });
  t.equal(outdated.monitorUntilMs, undefined, 'outdated tasks left: the batches go on first');
});
