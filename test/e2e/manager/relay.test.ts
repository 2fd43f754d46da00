/**
 * exec and logs relayed by the manager to the task's agent over its session, with the
 * manager's real servers (mTLS on loopback) and scripted agents (test/support/
 * scripted-agent.ts: the real AgentSession answering from canned data). The subject is the
 * manager and the session client: output and exit status arrive unchanged, every failure
 * has its stable code (unknown task, not running, node down, agent not connected or gone
 * mid-request, no answer in time) and arrives within its deadline. Also: exit codes
 * reported by an agent reach `service ps` and the restart policy, and reports made while
 * the manager was away arrive after the reconnect.
 */
import t from 'tap';
import { defaultContainerSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { Task } from '../../../src/api/api-types.ts';
import { AgentSession } from '../../../src/agent/session-client.ts';
import { startManager } from '../../../src/manager/manager.ts';
import { joinNode, startScriptedAgent, startServerInProcess, tempDir, until } from '../../support/manager-harness.ts';
import { ScriptedAgent } from '../../support/scripted-agent.ts';
import { connectManager } from '../../../src/api/client.ts';
import { freePort } from '../../support/net.ts';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

async function runningTasks(client: { listTasks(f: object): Promise<Task[]> }, service: string, count: number): Promise<Task[]> {
  return until(
    async () => {
      const tasks = (await client.listTasks({ services: [service] })).filter((x) => x.status.state === 'running');
      return tasks.length === count ? tasks.sort((a, b) => a.slot - b.slot) : undefined;
    },
    30_000,
    `${count} running tasks of ${service}`,
  );
}

t.test('exec through the manager: output, exit status, environment, and every failure with its code', async (t) => {
  const m = await startServerInProcess(t, { agentRequestTimeoutMs: 1000 });
  const h1 = await startScriptedAgent(t, m, 'h1');
  const h2 = await startScriptedAgent(t, m, 'h2');
  await m.client.createService({ ...defaultServiceSpec('web'), mode: { replicated: { replicas: 2 } } });
  const [w1, w2] = (await runningTasks(m.client, 'web', 2)) as [Task, Task];
  t.not(w1.nodeId, w2.nodeId, 'spread over both agents');

  const echo = await m.client.exec({ target: w1.id, argv: ['echo', 'hello', 'world'] });
  t.equal(text(echo.stdout), 'hello world\n');
  t.equal(echo.exitCode, 0);
  t.equal(echo.taskId, w1.id);
  t.equal(echo.nodeId, w1.nodeId, 'ran on the node of the task');
  const onNode = w1.nodeId === h1.nodeId ? h1 : h2;
  t.same(
    onNode.requests.map((r) => [r.kind, r.taskId, r.argv]),
    [['exec', w1.id, ['echo', 'hello', 'world']]],
    'the request reached that agent only',
  );

  const failed = await m.client.exec({ target: 'web.2', argv: ['exit', '7'] });
  t.equal(failed.exitCode, 7, 'the exit status, by slot name');
  t.equal(failed.taskId, w2.id);
  const missing = await m.client.exec({ target: w1.name, argv: ['nope'] });
  t.equal(missing.exitCode, 127, 'by full task name');
  t.equal(text(missing.stderr), 'nope: command not found\n');
  const bytes = await m.client.exec({ target: w1.id.slice(0, 8), argv: ['bytes', '00ff0a80fe'] });
  t.same([...bytes.stdout], [0x00, 0xff, 0x0a, 0x80, 0xfe], 'binary output unchanged, by ID prefix');
  const env = await m.client.exec({ target: w1.id, argv: ['env'], env: ['A=1', 'B=two words'], workdir: '/srv' });
  t.equal(text(env.stdout), 'A=1\nB=two words\n');
  t.equal(text((await m.client.exec({ target: w1.id, argv: ['pwd'], workdir: '/srv' })).stdout), '/srv\n');
  t.equal(onNode.requests.at(-1)?.timeoutMs, 60_000, 'the default time limit travels with the request');

  await t.rejects(m.client.exec({ target: 'nosuchtask', argv: ['echo'] }), {
    code: 'SHOAL_ERR_TASK_NOT_FOUND',
    message: 'no such task or container: nosuchtask',
  });
  await t.rejects(m.client.exec({ target: w1.id, argv: [] }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  await t.rejects(m.client.exec({ target: w1.id, argv: ['echo'], timeoutMs: 7_200_000 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });

  // no answer: the manager's deadline (the command's limit plus agentRequestTimeoutMs)
  let started = Date.now();
  await t.rejects(m.client.exec({ target: w1.id, argv: ['hang'], timeoutMs: 300 }), {
    code: 'SHOAL_ERR_TIMEOUT',
    message: /did not answer/,
  });
  const took = Date.now() - started;
  t.ok(took >= 1200 && took < 5000, `timed out after the deadline, not long after (${took} ms)`);
  t.equal(m.dispatcher.pendingRequests, 0, 'nothing left waiting');

  // the agent goes away while a request waits: the error comes at once, not at the deadline
  const hangOn = w2.nodeId === h1.nodeId ? h1 : h2;
  started = Date.now();
  const gone = m.client.exec({ target: w2.id, argv: ['hang'], timeoutMs: 20_000 });
  await until(() => hangOn.requests.some((r) => r.argv[0] === 'hang') || undefined, 10_000, 'the hang request to reach the agent');
  hangOn.close();
  await t.rejects(gone, { code: 'SHOAL_ERR_AGENT_UNAVAILABLE', message: /disconnected before answering/ });
  t.ok(Date.now() - started < 10_000, 'well before the 20 s deadline');
  // and while it stays away
  await t.rejects(m.client.exec({ target: w2.id, argv: ['echo'] }), { code: 'SHOAL_ERR_AGENT_UNAVAILABLE', message: /not connected/ });
  await m.control.nodeDown(hangOn.nodeId, 'heartbeat failure');
  await t.rejects(m.client.exec({ target: w2.id, argv: ['echo'] }), {
    code: 'SHOAL_ERR_AGENT_UNAVAILABLE',
    message: /node h\d of task web\.2\.\w+ is down/,
  });
  // its task is shut down by the manager now; exec into a task that is not running
  const ended = await until(
    async () => (await m.client.listTasks({ services: ['web'] })).find((x) => x.id === w2.id && x.desiredState === 'shutdown'),
    10_000,
    'the task on the down node to be shut down',
  );
  t.equal(ended.status.state, 'running', 'its agent has not said it stopped');
});

t.test('exec into a task that is not running, and a failed task in service ps with its exit status', async (t) => {
  const m = await startServerInProcess(t);
  await startScriptedAgent(t, m, 'h1');
  // the scripted agent runs `exit N` as a task that exits at once with status N
  const spec = defaultServiceSpec('bad');
  spec.taskTemplate.command = ['exit', '7'];
  spec.taskTemplate.restartPolicy = { condition: 'on-failure', delayMs: 0, maxAttempts: 2 };
  await m.client.createService(spec);
  const tasks = await until(
    async () => {
      const all = await m.client.listTasks({ services: ['bad'] });
      return all.length === 3 && all.every((x) => x.status.state === 'failed') ? all : undefined;
    },
    30_000,
    'three failed runs (max attempts 2: two restarts, as Docker counts them)',
  );
  for (const x of tasks) {
    t.equal(x.status.exitCode, 7);
    t.equal(x.status.err, 'task: non-zero exit (7)', "Docker's error text");
    t.equal(x.desiredState, 'shutdown');
  }
  await t.rejects(m.client.exec({ target: tasks[0]!.id, argv: ['echo'] }), {
    code: 'SHOAL_ERR_NOT_RUNNING',
    message: /is not running \(it is failed\)/,
  });
  // a service whose tasks end well: condition on-failure does not restart them
  const ok = defaultServiceSpec('once');
  ok.taskTemplate.command = ['exit', '0'];
  ok.taskTemplate.restartPolicy = { condition: 'on-failure', delayMs: 0, maxAttempts: 0 };
  await m.client.createService(ok);
  const done = await until(
    async () => (await m.client.listTasks({ services: ['once'] })).find((x) => x.status.state === 'complete'),
    30_000,
    'the task to complete',
  );
  t.equal(done.status.err, '');
  t.equal((await m.client.listTasks({ services: ['once'] })).length, 1, 'not restarted');
});

t.test('logs of a task, of a container and of a service, with --tail, and a task whose node is down', async (t) => {
  const m = await startServerInProcess(t, { agentRequestTimeoutMs: 1000 });
  const h1 = await startScriptedAgent(t, m, 'h1');
  const h2 = await startScriptedAgent(t, m, 'h2');
  await m.client.createService({ ...defaultServiceSpec('web'), mode: { replicated: { replicas: 3 } } });
  const tasks = await runningTasks(m.client, 'web', 3);
  const [one] = await m.client.logs({ target: tasks[0]!.id });
  t.equal(text(one!.data), `${tasks[0]!.name} started\n${tasks[0]!.name} is serving\n${tasks[0]!.name} line 3\n`);
  t.match(one, { taskId: tasks[0]!.id, taskName: tasks[0]!.name, serviceName: 'web', slot: 1, nodeId: tasks[0]!.nodeId, errorCode: '' });
  const [last] = await m.client.logs({ target: 'web.2', tail: 1 });
  t.equal(text(last!.data), `${tasks[1]!.name} line 3\n`, 'the last line only');
  t.equal(text((await m.client.logs({ target: 'web.2', tail: 0 }))[0]!.data), '', 'tail 0: nothing');
  await t.rejects(m.client.logs({ target: 'web.9' }), { code: 'SHOAL_ERR_TASK_NOT_FOUND' });
  await t.rejects(m.client.logs({ target: 'web.1', service: 'web' }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
  await t.rejects(m.client.logs({ target: 'web.1', tail: -1 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });

  const chunks = await m.client.logs({ service: 'web', tail: 2 });
  t.same(
    chunks.map((c) => [c.slot, c.nodeId, text(c.data)]),
    tasks.map((x) => [x.slot, x.nodeId, `${x.name} is serving\n${x.name} line 3\n`]),
    'one chunk per task, by slot',
  );
  await t.rejects(m.client.logs({ service: 'nosuch' }), { code: 'SHOAL_ERR_SERVICE_NOT_FOUND' });

  // a standalone container on h2
  await m.client.runContainer({ ...defaultContainerSpec('box'), node: 'h2' });
  await until(async () => (await m.client.inspectContainer('box')).state === 'running', 30_000, 'the container to run');
  const [box] = await m.client.logs({ target: 'box' });
  t.equal(text(box!.data).split('\n')[0], 'box started');
  t.equal(box!.nodeId, h2.nodeId);
  t.equal(text((await m.client.exec({ target: 'box', argv: ['hostname'] })).stdout), 'box\n', 'exec into a container');

  // h1 down: its tasks' chunks carry the error, the others still come
  await m.control.nodeDown(h1.nodeId, 'heartbeat failure');
  const after = await m.client.logs({ service: 'web' });
  const onH1 = after.filter((c) => c.nodeId === h1.nodeId);
  t.ok(onH1.length > 0, 'h1 had tasks of web');
  for (const c of onH1) {
    t.equal(c.errorCode, 'SHOAL_ERR_AGENT_UNAVAILABLE');
    t.match(c.errorMessage, /is down/);
    t.equal(c.data.length, 0);
  }
  for (const c of after.filter((c) => c.nodeId !== h1.nodeId)) t.equal(c.errorCode, '', `${c.taskName}: read`);
  await t.rejects(m.client.logs({ target: onH1[0]!.taskId }), { code: 'SHOAL_ERR_AGENT_UNAVAILABLE' });
  t.ok(h2.session.connected);
});

t.test('an agent without a request handler answers SHOAL_ERR_UNSUPPORTED; an agent error keeps its code', async (t) => {
  const m = await startServerInProcess(t);
  const agent = await startScriptedAgent(t, m, 'h1', {
    answer: (req) => (req.argv[0] === 'boom' ? { errorCode: 'SHOAL_ERR_NOT_RUNNING', errorMessage: 'it stopped just now' } : undefined),
  });
  await m.client.createService(defaultServiceSpec('web'));
  const [task] = await runningTasks(m.client, 'web', 1);
  await t.rejects(m.client.exec({ target: task!.id, argv: ['boom'] }), { code: 'SHOAL_ERR_NOT_RUNNING', message: 'it stopped just now' });
  t.equal(agent.requests.length, 1);
  // the bare session (no onRequest): unsupported
  const { identity } = await joinNode(t, m, 'bare');
  const bare = new AgentSession({ identity, advertiseAddr: '127.0.0.1', hostname: 'bare' });
  t.teardown(() => bare.close());
  bare.start();
  await until(async () => (await m.client.inspectNode('bare')).status.state === 'ready', 30_000, 'the bare node to be ready');
  await m.client.runContainer({ ...defaultContainerSpec('c1'), node: 'bare' });
  bare.reportContainers([{ containerId: (await m.client.inspectContainer('c1')).id, state: 'running' }]);
  await until(async () => (await m.client.inspectContainer('c1')).state === 'running', 30_000, 'the reported container state');
  await t.rejects(m.client.exec({ target: 'c1', argv: ['echo'] }), { code: 'SHOAL_ERR_UNSUPPORTED' });
});

t.test('reports made while the manager is away arrive after the reconnect; every latest state is resent', async (t) => {
  const dataDir = tempDir(t, 'shoal-resend-');
  const port = await freePort();
  const input = { dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' };
  let m = await startManager(input, { noSweep: true });
  t.teardown(() => m.destroy());
  const client = () => connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  const c1 = client();
  const { identity, dataDir: agentDir } = await joinNode(t, { client: c1, managerAddr: m.managerAddr }, 'h1');
  const agent = new ScriptedAgent({
    identity,
    hostname: 'h1',
    dataDir: agentDir,
    autoReport: false,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
  });
  t.teardown(() => agent.close());
  agent.start();
  await until(async () => (await c1.inspectNode('h1')).status.state === 'ready', 30_000, 'h1 ready');
  await c1.createService({ ...defaultServiceSpec('web'), mode: { replicated: { replicas: 2 } } });
  const [a, b] = await until(
    () => (agent.session.state.tasks.size === 2 ? [...agent.session.state.tasks.values()] : undefined),
    30_000,
    'two tasks assigned',
  );
  const running = { state: 'running', message: 'started', err: '', timestamp: '', exitCode: 0, health: 'healthy' };
  agent.report([{ taskId: a!.id, status: running }]);
  await until(async () => (await c1.listTasks({ ids: [a!.id] }))[0]?.status.state === 'running', 30_000, 'a running');
  c1.close();

  // the manager goes away; the agent keeps reporting
  m.destroy();
  await until(() => !agent.session.connected || undefined, 30_000, 'the agent to notice');
  agent.report([{ taskId: b!.id, status: { ...running, health: 'starting' } }]);
  agent.exit(a!.id, 3);
  m = await startManager(input, { noSweep: true });
  const c2 = client();
  t.teardown(() => c2.close());
  const tasks = await until(
    async () => {
      const list = await c2.listTasks({ services: ['web'] });
      const ta = list.find((x) => x.id === a!.id);
      const tb = list.find((x) => x.id === b!.id);
      return ta?.status.state === 'failed' && tb?.status.state === 'running' ? { ta, tb } : undefined;
    },
    30_000,
    'both reports from the time the manager was away',
  );
  t.equal(tasks.ta.status.exitCode, 3);
  t.equal(tasks.ta.status.err, 'task: non-zero exit (3)');
  t.equal(tasks.tb.status.health, 'starting');
});
