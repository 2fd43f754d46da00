/**
 * The agent's local API on its unix socket, against a stand-in agent: status, the doctor
 * report and its repair, exec with its validation and errors, unknown paths; and `shoal
 * doctor` itself on that socket (clean: one line, exit 0; drift: grouped by kind, the count
 * and exit 1; JSON; a repair with what it did and did not apply; no agent:
 * SHOAL_ERR_AGENT_UNREACHABLE).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent } from '../../../src/agent/agent.ts';
import { LocalApi, agentSocketPath } from '../../../src/agent/local-api.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { DoctorDifference } from '../../../src/api/api-types.ts';
import { doctorReport, repairReport } from '../../../src/agent/doctor.ts';
import { runShoal } from '../../support/cli-e2e.ts';

function standIn(differences: DoctorDifference[], afterRepair: DoctorDifference[] = []) {
  const execs: Array<{ id: string; argv: string[] }> = [];
  const agent = {
    nodeId: 'N1',
    status: () => ({ nodeId: 'N1', workloads: [{ id: 'task1', phase: 'running', pid: 7 }] }),
    doctor: async () => doctorReport(differences),
    repair: async () =>
      repairReport(
        differences,
        afterRepair,
        afterRepair.length > 0 ? [{ where: 'overlay', code: 'SHOAL_ERR_SYNC_FAILED', message: 'EPERM' }] : [],
      ),
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

async function serve(t: Test, differences: DoctorDifference[], afterRepair: DoctorDifference[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-local-api-'));
  const s = standIn(differences, afterRepair);
  const api = new LocalApi(s.agent, agentSocketPath(dir), silentLogger);
  await api.listen();
  t.teardown(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socket: agentSocketPath(dir), ...s };
}

const neigh: DoctorDifference = {
  kind: 'neigh',
  change: 'add',
  netns: 'p-ov-x',
  text: 'neigh p-ov-x 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent',
};
const element: DoctorDifference = { kind: 'nft', change: 'delete', netns: 'p-sb-t1', text: 'nft p-sb-t1 ip p-lb: element vips: 10.0.0.2' };

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

t.test('shoal doctor on the local socket: clean, drift, JSON, repair, no agent', async (t) => {
  const clean = await serve(t, []);
  const a = await runShoal(['doctor', '--data-dir', clean.dir], {});
  t.equal(a.code, 0);
  t.equal(a.stdout, 'clean: no differences on 1 node\n', 'one line and nothing else');
  const drifted = await serve(t, [element, neigh]);
  const b = await runShoal(['doctor', '--data-dir', drifted.dir], {});
  t.equal(b.code, 1, 'drift: exit 1');
  t.equal(
    b.stdout,
    [
      'this node (N1)',
      '  neigh',
      '    + neigh p-ov-x 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx4097 permanent',
      '  nft',
      '    - nft p-sb-t1 ip p-lb: element vips: 10.0.0.2',
      '2 differences on 1 node',
      '',
    ].join('\n'),
    'grouped by kind, in the apply order of kinds, then the count',
  );
  const j = await runShoal(['doctor', '--data-dir', drifted.dir, '--format', 'json'], {});
  t.equal(j.code, 1);
  t.match(JSON.parse(j.stdout), {
    clean: false,
    differences: 2,
    notChecked: 0,
    repair: false,
    nodes: [{ nodeId: 'N1', nodeName: '', checked: true, clean: false, differences: [neigh, element], repaired: [], notRepaired: [] }],
  });
  const fixed = await runShoal(['doctor', '--data-dir', drifted.dir, '--repair'], {});
  t.equal(fixed.code, 0, 'a repair that leaves nothing: exit 0');
  t.equal(fixed.stdout, 'clean: repaired 2 differences, no differences on 1 node\n');
  const stuck = await serve(t, [neigh, element], [element]);
  const r = await runShoal(['doctor', '--data-dir', stuck.dir, '--repair'], {});
  t.equal(r.code, 1, 'something left after the repair: exit 1');
  t.match(r.stdout, / {2}repaired\n {4}neigh\n {6}\+ neigh p-ov-x/);
  t.match(r.stdout, / {2}not repaired\n {4}overlay: EPERM \(SHOAL_ERR_SYNC_FAILED\)/);
  t.match(r.stdout, / {2}still different\n {4}nft\n {6}- nft p-sb-t1/);
  t.match(r.stdout, /1 difference left on 1 node; 1 difference repaired; 1 change not applied\n$/);
  const bad = await runShoal(['doctor', '--data-dir', clean.dir, '--all', '--node', 'h1'], {});
  t.equal(bad.code, 2, 'both --all and --node: a usage error');
  t.match(bad.stderr, /takes --node or --all, not both/);
  const empty = mkdtempSync(join(tmpdir(), 'shoal-no-agent-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const c = await runShoal(['doctor', '--data-dir', empty], {});
  t.equal(c.code, 1);
  t.match(c.stderr, /SHOAL_ERR_AGENT_UNREACHABLE/);
});
