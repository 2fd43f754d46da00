/**
 * `doctor` through the manager (Runtime.Doctor): the request relayed over each node's
 * session to its agent, here scripted agents (test/support/scripted-agent.ts) answering
 * canned reports, with the manager's real servers on loopback and the real CLI. The
 * subject is the relay: each node's report arrives unchanged, the repair flag reaches the
 * agent, nodes are chosen by name or ID or all of them, and a node that cannot answer
 * (agent gone, node down, no answer in time) is listed with its stable code while the
 * others are still checked; `shoal doctor --all` and `--node` print that and exit 1.
 */
import t from 'tap';
import type { AgentRequest, DoctorReport } from '../../../src/api/api-types.ts';
import { runShoal } from '../../support/cli-e2e.ts';
import { startScriptedAgent, startServerInProcess } from '../../support/manager-harness.ts';

const neigh = {
  kind: 'neigh',
  change: 'add',
  netns: 'p-ov-1',
  text: 'neigh p-ov-1 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent',
};

/** A canned report: h1 clean; h2 lacks a neighbour, which its repair puts back. */
function answer(drift: boolean) {
  return (req: AgentRequest): { doctor: DoctorReport } | { errorCode: string; errorMessage: string } | undefined => {
    if (req.kind !== 'doctor') return undefined;
    if (req.doctorRepair === true)
      return { doctor: { clean: true, differences: [], repair: true, repaired: drift ? [neigh] : [], failures: [] } };
    return { doctor: { clean: !drift, differences: drift ? [neigh] : [], repair: false, repaired: [], failures: [] } };
  };
}

t.test('doctor through the manager: reports per node, repair, nodes that cannot answer', async (t) => {
  const m = await startServerInProcess(t, { agentRequestTimeoutMs: 1000 });
  const h1 = await startScriptedAgent(t, m, 'h1', { answer: answer(false) });
  let hang = false;
  const drifting = answer(true);
  const h2 = await startScriptedAgent(t, m, 'h2', {
    answer: (req) => (hang && req.kind === 'doctor' ? new Promise(() => {}) : drifting(req)),
  });
  const env = { SHOAL_DATA_DIR: m.paths.root };

  const all = await m.client.doctor({ all: true });
  // the manager's own node runs no agent here: listed, not connected
  const own = all.filter((n) => n.nodeId !== h1.nodeId && n.nodeId !== h2.nodeId);
  t.equal(own.length, 1, "the manager's node is one of all");
  t.match(own[0], { errorCode: 'SHOAL_ERR_AGENT_UNAVAILABLE', errorMessage: /is not connected to the manager/ });
  t.notOk(own[0]?.report, 'and has no report');
  t.same(
    all.filter((n) => n !== own[0]).map((n) => [n.nodeName, n.nodeId, n.errorCode, n.report?.clean]),
    [
      ['h1', h1.nodeId, '', true],
      ['h2', h2.nodeId, '', false],
    ],
    'every node, by name',
  );
  t.same(all.find((n) => n.nodeName === 'h2')?.report?.differences, [neigh], "h2's difference, unchanged");
  t.same(
    h2.requests.map((r) => [r.kind, r.doctorRepair]),
    [['doctor', false]],
    'one doctor request, no repair',
  );
  const byId = await m.client.doctor({ nodes: [h2.nodeId.slice(0, 10)] });
  t.same(
    byId.map((n) => n.nodeName),
    ['h2'],
    'by ID prefix',
  );
  await t.rejects(m.client.doctor({ nodes: ['nosuchnode'] }), { code: 'SHOAL_ERR_NODE_NOT_FOUND' });
  await t.rejects(m.client.doctor({}), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });

  const both = ['--node', 'h1', '--node', h2.nodeId];
  const text = await runShoal(['doctor', ...both], env);
  t.equal(text.code, 1, 'a difference: exit 1');
  t.equal(
    text.stdout,
    `h2 (${h2.nodeId.slice(0, 12)})\n  neigh\n    + ${neigh.text}\n1 difference on 1 node\n`,
    'only the node that differs, its difference under its kind, the count',
  );
  const clean = await runShoal(['doctor', '--node', 'h1'], env);
  t.equal(clean.code, 0);
  t.equal(clean.stdout, 'clean: no differences on 1 node\n');
  const json = await runShoal(['doctor', '--node', 'h2', '--format', 'json'], env);
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), {
    clean: false,
    differences: 1,
    notChecked: 0,
    nodes: [{ nodeName: 'h2', nodeId: h2.nodeId, checked: true, clean: false, differences: [neigh] }],
  });
  const repair = await runShoal(['doctor', ...both, '--repair'], env);
  t.equal(repair.code, 0, 'clean after the repair: exit 0');
  t.equal(repair.stdout, 'clean: repaired 1 difference, no differences on 2 nodes\n');
  t.equal(h2.requests.at(-1)?.doctorRepair, true, 'the repair flag reached the agent');

  // no answer in time: that node's error, the other still checked
  hang = true;
  const slow = await m.client.doctor({ nodes: ['h1', 'h2'] });
  t.same(
    slow.map((n) => [n.nodeName, n.errorCode]),
    [
      ['h1', ''],
      ['h2', 'SHOAL_ERR_TIMEOUT'],
    ],
  );
  hang = false;

  // the agent gone: not connected; its node down: down
  h2.close();
  const gone = await runShoal(['doctor', ...both], env);
  t.equal(gone.code, 1, 'a node not checked: exit 1');
  t.match(
    gone.stdout,
    new RegExp(`^h2 \\(${h2.nodeId.slice(0, 12)}\\)\\n  not checked: .*not connected.* \\(SHOAL_ERR_AGENT_UNAVAILABLE\\)\\n`),
  );
  t.match(gone.stdout, /0 differences on 0 nodes; 1 node not checked\n$/);
  await m.control.nodeDown(h2.nodeId, 'heartbeat failure');
  const down = await m.client.doctor({ nodes: ['h1', 'h2'] });
  t.same(
    down.map((n) => [n.nodeName, n.errorCode, n.errorMessage]),
    [
      ['h1', '', ''],
      ['h2', 'SHOAL_ERR_AGENT_UNAVAILABLE', 'node h2 is down: its agent does not answer (heartbeat failure)'],
    ],
  );
  t.equal(down[0]?.report?.clean, true, 'h1 is checked all the same');
});
