/**
 * The agent's local API on its unix socket, against a stand-in agent: status, the doctor
 * diff, exec with its validation and errors, unknown paths; and `shoal doctor` itself
 * (clean: exit 0; drift: the changes and exit 1; no agent: SHOAL_ERR_AGENT_UNREACHABLE).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../../../src/agent/agent.ts';
import { LocalApi, agentSocketPath } from '../../../src/agent/local-api.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { OverlayChange } from '../../../src/overlay/apply.ts';
import { runShoal } from '../../support/cli-e2e.ts';

function standIn(drift: OverlayChange[], lb: string[] = []) {
  const execs: Array<{ id: string; argv: string[] }> = [];
  const agent = {
    status: () => ({ nodeId: 'N1', workloads: [{ id: 'task1', phase: 'running', pid: 7 }] }),
    doctor: async () => ({ overlay: drift, lb }),
    workloads: { find: (ref: string) => (ref === 'task1' || ref === 'web.1' ? { id: 'task1', phase: 'running' } : undefined) },
    exec: async (id: string, argv: string[]) => {
      execs.push({ id, argv });
      return argv[0] === 'boom'
        ? { exitCode: -1, errorCode: 'SHOAL_ERR_TASK_EXEC_FAILED', errorMessage: 'cannot enter' }
        : { exitCode: 3, stdout: Buffer.from('out'), stderr: Buffer.from('err') };
    },
  };
  return { agent: agent as unknown as Agent, execs };
}

async function serve(t: Test, drift: OverlayChange[], lb: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-local-api-'));
  const s = standIn(drift, lb);
  const api = new LocalApi(s.agent, agentSocketPath(dir), silentLogger);
  await api.listen();
  t.teardown(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socket: agentSocketPath(dir), ...s };
}

const change = {
  kind: 'add',
  type: 'neigh',
  netns: 'p-ov-x',
  key: 'k',
  text: 'neigh 10.0.0.5 lladdr 02:42:0a:00:00:05 permanent',
} as unknown as OverlayChange;

t.test('status, exec and errors', async (t) => {
  const { socket, execs } = await serve(t, []);
  const st = await localApiRequest(socket, 'GET', '/status');
  t.equal(st.status, 200);
  t.match(st.body, { nodeId: 'N1' });
  const ok = await localApiRequest(socket, 'POST', '/exec', { target: 'web.1', argv: ['sh', '-c', 'x'] });
  t.equal(ok.status, 200);
  const b = ok.body as { exitCode: number; stdout: string; stderr: string };
  t.equal(b.exitCode, 3);
  t.equal(Buffer.from(b.stdout, 'base64').toString(), 'out');
  t.equal(Buffer.from(b.stderr, 'base64').toString(), 'err');
  t.same(execs, [{ id: 'task1', argv: ['sh', '-c', 'x'] }], 'a name resolves to the task');
  const bad = await localApiRequest(socket, 'POST', '/exec', { target: 'task1', argv: [] });
  t.equal(bad.status, 400);
  t.match(bad.body, { code: 'SHOAL_ERR_AGENT_BAD_REQUEST' });
  const none = await localApiRequest(socket, 'POST', '/exec', { target: 'nope', argv: ['true'] });
  t.equal(none.status, 404);
  t.match(none.body, { code: 'SHOAL_ERR_AGENT_NO_TASK' });
  const failed = await localApiRequest(socket, 'POST', '/exec', { target: 'task1', argv: ['boom'] });
  t.equal(failed.status, 500);
  t.match(failed.body, { code: 'SHOAL_ERR_TASK_EXEC_FAILED' });
  const lost = await localApiRequest(socket, 'GET', '/nothing');
  t.equal(lost.status, 404);
});

t.test('shoal doctor: clean, drift, no agent', async (t) => {
  const clean = await serve(t, []);
  const a = await runShoal(['doctor', '--data-dir', clean.dir], {});
  t.equal(a.code, 0);
  t.match(a.stdout, /matches the desired state/);
  const drifted = await serve(t, [change]);
  const b = await runShoal(['doctor', '--data-dir', drifted.dir], {});
  t.equal(b.code, 1, 'drift: exit 1');
  t.match(b.stdout, /\+ neigh p-ov-x 10\.0\.0\.5/);
  t.match(b.stdout, /1 change\(s\) needed/);
  const j = await runShoal(['doctor', '--data-dir', drifted.dir, '--format', 'json'], {});
  t.match(JSON.parse(j.stdout), { clean: false, changes: 1 });
  const lbDrift = await serve(t, [], ['sandbox t1: + element 10.0.0.2 . tcp . 80 : goto pick-tcp-1']);
  const l = await runShoal(['doctor', '--data-dir', lbDrift.dir], {});
  t.equal(l.code, 1, 'load-balancer drift alone: exit 1');
  t.match(l.stdout, /sandbox t1: \+ element 10\.0\.0\.2/);
  t.match(l.stdout, /1 change\(s\) needed/);
  const empty = mkdtempSync(join(tmpdir(), 'shoal-no-agent-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const c = await runShoal(['doctor', '--data-dir', empty], {});
  t.equal(c.code, 1);
  t.match(c.stderr, /SHOAL_ERR_AGENT_UNREACHABLE/);
});
