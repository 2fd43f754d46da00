// Requests the manager relays to agents over their sessions (exec, logs), in virtual time:
// the request message on the session, the answer by Respond, the deadline as a timer (the
// clock is advanced to just before and just after it), a session that ends failing what
// waits at once, answers from the wrong node refused, late answers dropped. And the task
// states agents report: exit statuses and Docker's error text.
import t from 'tap';
import type { Test } from 'tap';
import { defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import type { AgentResponse, SessionMessage, TaskStatus } from '../../../src/api/api-types.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import type { ShoalError } from '../../../src/common/errors.ts';
import { applySessionMessage, emptyState } from '../../../src/agent/session-client.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

async function join(control: ManagerControl, hostname: string): Promise<string> {
  const swarm = await control.inspectSwarm();
  return (
    await control.issueNodeCertificate({
      token: swarm.joinTokens.worker,
      csrPem: createNodeCsr().csrPem,
      hostname,
      advertiseAddr: '192.0.2.20',
    })
  ).nodeId;
}

const running: TaskStatus = { state: 'running', message: '', err: '', timestamp: '', exitCode: 0, health: '' };
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

function answer(requestId: string, fields: Partial<AgentResponse> = {}): AgentResponse {
  return {
    requestId,
    exitCode: 0,
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    logs: new Uint8Array(),
    errorCode: '',
    errorMessage: '',
    ...fields,
  };
}

/** One node with a session (n1), one ready without (n2), and a service with a running task on each. */
async function setup(t: Test) {
  const m = await inProcessManager(t, { agentRequestTimeoutMs: 500, sessionMinIntervalMs: 0 });
  const { control, dispatcher } = m;
  const n1 = await join(control, 'n1');
  const n2 = await join(control, 'n2');
  const messages: SessionMessage[] = [];
  const failures: ShoalError[] = [];
  const sessionId = await dispatcher.open(
    n1,
    { description: { hostname: 'n1', platformOs: '', platformArch: '', version: '' }, advertiseAddr: '192.0.2.21', gossipPort: 0 },
    { write: (msg) => messages.push(structuredClone(msg)), fail: (e) => failures.push(e) },
  );
  await control.nodeReady(n2, { hostname: 'n2', platformOs: '', platformArch: '', version: '', addr: '192.0.2.22' });
  await control.createService({ ...defaultServiceSpec('web'), mode: { replicated: { replicas: 2 } } });
  const tasks = (await control.listTasks({ services: ['web'] })).sort((a, b) => a.slot - b.slot);
  for (const x of tasks) await control.reportTaskStates(x.nodeId, [{ taskId: x.id, status: running }]);
  const onN1 = tasks.find((x) => x.nodeId === n1)!;
  const onN2 = tasks.find((x) => x.nodeId === n2)!;
  const requests = () => messages.filter((msg) => msg.kind === 'requests');
  return { ...m, n1, n2, sessionId, messages, failures, onN1, onN2, requests };
}

t.test('exec: the request rides on the session, the answer comes back by Respond', async (t) => {
  const { control, dispatcher, n1, onN1, messages, requests } = await setup(t);
  const before = messages.at(-1)!;
  const pending = control.exec({ target: onN1.id, argv: ['ls', '-l'], env: ['A=1'], workdir: '/srv' });
  const [msg] = requests();
  t.ok(msg, 'a requests message');
  t.equal(msg!.version, before.version, 'the assignment version is unchanged');
  t.equal(msg!.fromVersion, before.version);
  t.match(msg!.requests, [
    { kind: 'exec', taskId: onN1.id, containerId: '', argv: ['ls', '-l'], env: ['A=1'], workdir: '/srv', timeoutMs: 60_000 },
  ]);
  const state = messages.filter((x) => x.kind !== 'requests').reduce(applySessionMessage, emptyState());
  t.equal(applySessionMessage(state, msg!), state, 'the agent applies nothing from it');
  t.equal(dispatcher.pendingRequests, 1);
  dispatcher.respond(n1, answer(msg!.requests[0]!.id, { exitCode: 3, stdout: bytes('out'), stderr: bytes('err') }));
  const res = await pending;
  t.same([res.exitCode, Buffer.from(res.stdout).toString(), Buffer.from(res.stderr).toString()], [3, 'out', 'err']);
  t.same([res.taskId, res.nodeId, res.containerId], [onN1.id, n1, '']);
  t.equal(dispatcher.pendingRequests, 0);
  // answered twice: the second finds nobody waiting and changes nothing
  t.doesNotThrow(() => dispatcher.respond(n1, answer(msg!.requests[0]!.id)));
});

t.test('exec: the deadline is a timer (the command limit plus agentRequestTimeoutMs); late answers are dropped', async (t) => {
  const { control, dispatcher, clock, n1, onN1, requests } = await setup(t);
  let outcome: unknown;
  const pending = control.exec({ target: onN1.id, argv: ['sleep', '1'], timeoutMs: 100 }).then(
    (v) => (outcome = v),
    (e: unknown) => (outcome = e),
  );
  t.equal(requests()[0]!.requests[0]!.timeoutMs, 100, 'the limit travels to the agent');
  await clock.advanceAsync(599);
  t.equal(outcome, undefined, 'still waiting 1 ms before the deadline');
  await clock.advanceAsync(1);
  await pending;
  t.match(outcome, { code: 'SHOAL_ERR_TIMEOUT', message: /did not answer the exec request within 600 ms/ });
  t.equal(dispatcher.pendingRequests, 0);
  t.doesNotThrow(() => dispatcher.respond(n1, answer(requests()[0]!.requests[0]!.id)), 'a late answer is dropped');
});

t.test('exec: answers only from the node asked; a session that ends fails what waits at once', async (t) => {
  const { control, dispatcher, n1, n2, sessionId, onN1, onN2, requests } = await setup(t);
  const pending = control.exec({ target: onN1.id, argv: ['echo'] });
  const id = requests()[0]!.requests[0]!.id;
  t.throws(() => dispatcher.respond(n2, answer(id)), { code: 'SHOAL_ERR_PERMISSION_DENIED' });
  t.equal(dispatcher.pendingRequests, 1, 'still waiting for n1');
  dispatcher.closeSession(n1, sessionId);
  await t.rejects(pending, { code: 'SHOAL_ERR_AGENT_UNAVAILABLE', message: /disconnected before answering the exec request/ });
  t.equal(dispatcher.pendingRequests, 0);
  // no session at all
  await t.rejects(control.exec({ target: onN2.id, argv: ['echo'] }), { code: 'SHOAL_ERR_AGENT_UNAVAILABLE', message: /not connected/ });
  await t.rejects(control.exec({ target: onN1.id, argv: ['echo'] }), { code: 'SHOAL_ERR_AGENT_UNAVAILABLE' });
});

t.test("exec: the agent's error passes with its code; a detached relay refuses", async (t) => {
  const { control, dispatcher, n1, onN1, requests } = await setup(t);
  const pending = control.exec({ target: onN1.name, argv: ['echo'] });
  dispatcher.respond(n1, answer(requests()[0]!.requests[0]!.id, { errorCode: 'SHOAL_ERR_NOT_RUNNING', errorMessage: 'exited just now' }));
  await t.rejects(pending, { code: 'SHOAL_ERR_NOT_RUNNING', message: 'exited just now' });
  const odd = control.exec({ target: onN1.id, argv: ['echo'] });
  dispatcher.respond(n1, answer(requests()[1]!.requests[0]!.id, { errorCode: 'SHOAL_ERR_FROM_A_NEWER_AGENT', errorMessage: 'new' }));
  await t.rejects(odd, { code: 'SHOAL_ERR_FROM_A_NEWER_AGENT' }, 'a code this build does not declare is kept as sent');
  control.attachAgentRelay(undefined);
  await t.rejects(control.exec({ target: onN1.id, argv: ['echo'] }), {
    code: 'SHOAL_ERR_AGENT_UNAVAILABLE',
    message: /relays no requests/,
  });
  control.attachAgentRelay(dispatcher);
});

t.test('logs: one chunk per task of a service, the unreachable ones with their error', async (t) => {
  const { control, dispatcher, n1, onN1, onN2, requests } = await setup(t);
  const pending = control.logs({ service: 'web', tail: 5 });
  const [req] = requests().flatMap((x) => x.requests);
  t.match(req, { kind: 'logs', taskId: onN1.id, tail: 5 });
  dispatcher.respond(n1, answer(req!.id, { logs: bytes('a\nb\n') }));
  const chunks = await pending;
  t.same(
    chunks.map((c) => [c.slot, c.taskId, Buffer.from(c.data).toString(), c.errorCode]),
    [onN1, onN2]
      .sort((a, b) => a.slot - b.slot)
      .map((x) => [x.slot, x.id, x.id === onN1.id ? 'a\nb\n' : '', x.id === onN1.id ? '' : 'SHOAL_ERR_AGENT_UNAVAILABLE']),
  );
  // a single target whose agent is not connected: the error itself
  await t.rejects(control.logs({ target: onN2.id }), { code: 'SHOAL_ERR_AGENT_UNAVAILABLE' });
  // without tail the request says "all" by leaving it out
  const all = control.logs({ target: onN1.id });
  const last = requests().at(-1)!.requests[0]!;
  t.equal(last.tail, undefined);
  dispatcher.respond(n1, answer(last.id, { logs: bytes('x\n') }));
  t.equal(Buffer.from((await all)[0]!.data).toString(), 'x\n');
});

t.test('reported exit statuses: Docker error text for a failure, none for success, the agent text kept', async (t) => {
  const { control, n1, onN1, onN2, n2 } = await setup(t);
  await control.reportTaskStates(n1, [{ taskId: onN1.id, status: { ...running, state: 'failed', exitCode: 7 } }]);
  const failed = (await control.listTasks({ ids: [onN1.id] }))[0]!;
  t.same([failed.status.state, failed.status.exitCode, failed.status.err], ['failed', 7, 'task: non-zero exit (7)']);
  t.equal(failed.desiredState, 'shutdown');
  await control.reportTaskStates(n2, [
    { taskId: onN2.id, status: { ...running, state: 'failed', exitCode: 137, err: 'killed by signal 9' } },
  ]);
  t.equal((await control.listTasks({ ids: [onN2.id] }))[0]!.status.err, 'killed by signal 9');
  // restart policy "any" (the default) replaces both after its delay
  t.equal((await control.listTasks({ services: ['web'], desiredState: 'running' })).length, 0, 'waiting for the 5 s delay');
});

t.test('health changes of a running task are recorded', async (t) => {
  const { control, n1, onN1 } = await setup(t);
  await control.reportTaskStates(n1, [{ taskId: onN1.id, status: { ...running, health: 'starting' } }]);
  t.equal((await control.listTasks({ ids: [onN1.id] }))[0]!.status.health, 'starting');
  await control.reportTaskStates(n1, [{ taskId: onN1.id, status: { ...running, health: 'healthy' } }]);
  t.equal((await control.listTasks({ ids: [onN1.id] }))[0]!.status.health, 'healthy');
});
