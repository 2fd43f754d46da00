// `shoal exec`, `shoal logs` and `shoal service logs` against a real manager process and
// two agents, as a user types them: output bytes and exit status of the command, Docker's
// log prefixes and flags, one Error line per failure; and a task that failed with an exit
// status in `service ps`. The agents are scripted (test/support/scripted-agent.ts: the real
// session client, answering exec and logs from canned data), as in service-node.test.ts.
import t from 'tap';
import type { Test } from 'tap';
import type { Task } from '../../../src/api/api-types.ts';
import { startAgent, startManager } from '../../support/cli-e2e.ts';
import type { RunningManager, ShoalResult } from '../../support/cli-e2e.ts';
import { waitFor } from '../../support/kernel.ts';

function ok(t: Test, r: ShoalResult, what: string): string {
  t.equal(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr.trim()})`);
  t.equal(r.stderr, '', `${what}: nothing on stderr`);
  return r.stdout;
}

async function running(m: RunningManager, service: string, count: number): Promise<Task[]> {
  let tasks: Task[] = [];
  await waitFor(
    async () => {
      tasks = (await m.client.listTasks({ services: [service] })).filter((x) => x.status.state === 'running');
      return tasks.length === count;
    },
    60_000,
    `${count} running tasks of ${service}`,
  );
  return tasks.sort((a, b) => a.slot - b.slot);
}

t.test('exec, logs and service logs through the CLI', async (t) => {
  const m = await startManager(t);
  const h2 = await startAgent(t, m, 'h2');
  const h3 = await startAgent(t, m, 'h3');
  ok(t, await m.shoal(['service', 'create', '--name', 'web', '--replicas', '2', '--', 'sleep', '1000']), 'create web');
  const [w1, w2] = (await running(m, 'web', 2)) as [Task, Task];
  const hostOf = async (x: Task): Promise<string> => (await m.client.inspectNode(x.nodeId)).description.hostname;

  await t.test('exec prints the output as it is and exits with the status', async (t) => {
    const echo = await m.shoal(['exec', 'web.1', 'echo', 'hello', 'world']);
    t.equal(echo.stdout, 'hello world\n');
    t.equal(echo.code, 0);
    t.equal(echo.stderr, '');
    t.equal((await m.shoal(['exec', w1.id, '--', 'echo', '-n', 'x'])).stdout, '-n x\n', 'options after TASK are the command');
    const seven = await m.shoal(['exec', 'web.2', 'exit', '7']);
    t.equal(seven.code, 7, "the command's exit status");
    t.equal(seven.stdout + seven.stderr, '');
    const err = await m.shoal(['exec', w1.name, 'stderr', 'oops']);
    t.same([err.code, err.stdout, err.stderr], [1, '', 'oops\n'], 'stderr to stderr');
    const notFound = await m.shoal(['exec', 'web.1', 'frobnicate']);
    t.same([notFound.code, notFound.stderr], [127, 'frobnicate: command not found\n']);
    const bytes = await m.shoal(['exec', 'web.1', 'bytes', '00ff0a80fe0d']);
    t.same([...bytes.stdoutBytes], [0x00, 0xff, 0x0a, 0x80, 0xfe, 0x0d], 'binary output unchanged');
    t.equal(ok(t, await m.shoal(['exec', '-e', 'A=1', '-e', 'B=two words', '-w', '/srv', 'web.1', 'env']), 'env'), 'A=1\nB=two words\n');
    t.equal(ok(t, await m.shoal(['exec', '--workdir', '/srv', 'web.1', 'pwd']), 'pwd'), '/srv\n');
    t.equal(ok(t, await m.shoal(['exec', 'web.2', 'hostname']), 'hostname'), `${w2.name}\n`, 'ran in slot 2');
  });

  await t.test('logs prints the log unchanged; --tail keeps the last lines', async (t) => {
    const full = `${w1.name} started\n${w1.name} is serving\n${w1.name} line 3\n`;
    t.equal(ok(t, await m.shoal(['logs', 'web.1']), 'logs'), full);
    t.equal(ok(t, await m.shoal(['logs', '--tail', '1', w1.id]), 'logs --tail 1'), `${w1.name} line 3\n`);
    t.equal(ok(t, await m.shoal(['logs', '-n', 'all', w1.name]), 'logs -n all'), full);
    t.equal(ok(t, await m.shoal(['logs', '--tail', '0', 'web.1']), 'logs --tail 0'), '');
  });

  await t.test("service logs: Docker's task prefixes and flags", async (t) => {
    const [n1, n2] = [await hostOf(w1), await hostOf(w2)];
    const lines = (x: Task, node: string, prefix: string): string[] =>
      [`${x.name} started`, `${x.name} is serving`, `${x.name} line 3`].map((l) => `${prefix}@${node}    | ${l}`);
    t.same(
      ok(t, await m.shoal(['service', 'logs', 'web']), 'service logs')
        .trimEnd()
        .split('\n'),
      [...lines(w1, n1, `web.1.${w1.id.slice(0, 12)}`), ...lines(w2, n2, `web.2.${w2.id.slice(0, 12)}`)],
    );
    t.same(
      ok(t, await m.shoal(['service', 'logs', '--tail', '1', '--no-task-ids', 'web']), '--no-task-ids')
        .trimEnd()
        .split('\n'),
      [`web.1@${n1}    | ${w1.name} line 3`, `web.2@${n2}    | ${w2.name} line 3`],
    );
    t.same(
      ok(t, await m.shoal(['service', 'logs', '--tail', '1', '--no-trunc', 'web']), '--no-trunc')
        .trimEnd()
        .split('\n'),
      [`web.1.${w1.id}@${n1}    | ${w1.name} line 3`, `web.2.${w2.id}@${n2}    | ${w2.name} line 3`],
    );
    t.same(
      ok(t, await m.shoal(['service', 'logs', '--tail', '1', '--no-resolve', 'web']), '--no-resolve')
        .trimEnd()
        .split('\n'),
      [
        `web.1.${w1.id.slice(0, 12)}@${w1.nodeId}    | ${w1.name} line 3`,
        `web.2.${w2.id.slice(0, 12)}@${w2.nodeId}    | ${w2.name} line 3`,
      ],
    );
    t.equal(ok(t, await m.shoal(['service', 'logs', '--raw', '--tail', '1', 'web']), '--raw'), `${w1.name} line 3\n${w2.name} line 3\n`);
    t.same(
      ok(t, await m.shoal(['service', 'logs', '--tail', '1', w2.id]), 'service logs TASK')
        .trimEnd()
        .split('\n'),
      [`web.2.${w2.id.slice(0, 12)}@${n2}    | ${w2.name} line 3`],
      'a task instead of a service',
    );
  });

  await t.test('a failed task in service ps, with its exit status', async (t) => {
    ok(t, await m.shoal(['service', 'create', '--name', 'bad', '--restart-condition', 'none', '--', 'exit', '7']), 'create bad');
    await waitFor(async () => (await m.client.listTasks({ services: ['bad'] }))[0]?.status.state === 'failed', 60_000, 'the task to fail');
    const ps = ok(t, await m.shoal(['service', 'ps', 'bad']), 'ps')
      .trimEnd()
      .split('\n');
    t.equal(ps.length, 2);
    t.match(ps[1], /^\w{12} {3}bad\.1 +h[23] +Shutdown +Failed (less than a second|\d+ seconds?) ago +"task: non-zero exit \(7\)" *$/);
    const exec = await m.shoal(['exec', 'bad.1', 'echo']);
    t.equal(exec.code, 1);
    t.match(exec.stderr, /^Error: task bad\.1\.\w+ is not running \(it is failed\) \(SHOAL_ERR_NOT_RUNNING\)\n$/);
  });

  await t.test('an agent that is gone: one Error line per task, the other tasks still print', async (t) => {
    t.not(w1.nodeId, w2.nodeId, 'one task on each agent');
    await ((await hostOf(w1)) === 'h2' ? h2 : h3).stop();
    const r = await m.shoal(['service', 'logs', '--tail', '1', 'web']);
    t.equal(r.code, 1, 'exit status 1');
    t.match(r.stderr, /^Error: web\.1\.\w+: the agent of node \w+ is not connected to the manager \(SHOAL_ERR_AGENT_UNAVAILABLE\)\n$/);
    t.equal(r.stdout, `web.2.${w2.id.slice(0, 12)}@${await hostOf(w2)}    | ${w2.name} line 3\n`, 'the other task still prints');
    const exec = await m.shoal(['exec', w1.id, 'echo']);
    t.equal(exec.code, 1);
    t.match(exec.stderr, /^Error: the agent of node \w+ is not connected to the manager \(SHOAL_ERR_AGENT_UNAVAILABLE\)\n$/);
    t.equal(exec.stdout, '');
  });
});
