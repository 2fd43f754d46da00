/**
 * Workloads as the user sees them, on one 3-host testbed cluster (a manager in h1, an agent
 * in every host, all started by `shoal testbed up`). The subtests share the cluster and run
 * in order, the destructive ones last:
 *
 * - logs: `shoal service logs` prints a task's stdout and stderr lines after Docker's task
 *   prefix; `shoal logs TASK --tail 1` prints only the last line;
 * - exit codes and the restart policy: a task that exits 7 under on-failure ends Failed with
 *   `task: non-zero exit (7)` and is replaced; `--restart-max-attempts 2` means two restarts
 *   (Docker's count), then none; under none a task that exits 0 ends Complete and stays so;
 * - health: a check that passes while a file exists goes healthy, unhealthy once `shoal
 *   exec` removes the file, healthy again once it is back, and the process never changes;
 * - a standalone container on an attachable overlay: it and a service task on another host
 *   ping each other, `shoal exec` runs in it, `container rm -f` ends its process and removes
 *   its sandbox namespace;
 * - the manager killed with SIGKILL: tasks keep running with their PIDs, cross-host traffic
 *   flows, every agent's `shoal doctor` is clean; `shoal testbed up` starts a new manager
 *   and the agents reconnect with the same task PIDs;
 * - SIGTERM to an agent: it stops its tasks and removes every kernel object with its prefix
 *   (namespaces, host links, its nft table), and the manager reschedules its tasks;
 * - an agent stopped with SIGTERM under `--keep-state`: tasks and kernel objects stay, and
 *   the next agent adopts the tasks with their PIDs and finds nothing to change.
 *
 * When a subtest fails, the testbed's logs are copied to /tmp before teardown removes them.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../../../src/api/api-types.ts';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { alive } from '../../../src/testbed/processes.ts';
import { readState, testbedPaths } from '../../../src/testbed/state.ts';
import { type Cluster, exec, inNs, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';

interface AgentStatusJson {
  nodeId: string;
  connected: boolean;
  workloads: Array<{ id: string; name: string; kind: string; phase: string; pid: number; health: string }>;
  overlay: { syncs: number; failures: number };
}

async function agentStatus(c: Cluster, host: number): Promise<AgentStatusJson> {
  const r = await localApiRequest(join(testbedPaths(c.prefix).dataDir(host), 'agent.sock'), 'GET', '/status');
  if (r.status !== 200) throw new Error(`h${host}'s agent answered /status with ${r.status}`);
  return r.body as AgentStatusJson;
}

/** Running workloads of a host's agent: id -> pid. */
async function runningPids(c: Cluster, host: number): Promise<Map<string, number>> {
  const s = await agentStatus(c, host);
  return new Map(s.workloads.filter((w) => w.phase === 'running').map((w) => [w.id, w.pid]));
}

/** The named network namespaces of this machine (all testbed hosts share /run/netns). */
function namespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** The row of `service ps` (or `container ls`) output that names `id` (truncated or not). */
function rowOf(text: string, id: string): string {
  return text.split('\n').find((l) => l.includes(id.slice(0, 12))) ?? '';
}

function ipOf(x: { networks: Array<{ addresses: string[] }> }): string {
  return x.networks[0]?.addresses[0]?.split('/')[0] ?? '';
}

if (requireKernel(t)) {
  t.test('workloads: logs, exits, health, containers, the manager and the agent gone', async (t) => {
    const c = await startCluster(t, 3);
    const paths = testbedPaths(c.prefix);
    const sh = c.sh;
    const tasksOf = (service: string): Promise<Task[]> => c.client.listTasks({ services: [service] });

    await sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    // one task per host (the scheduler spreads a service's tasks): the cross-host pairs of
    // the later subtests
    await sh(['service', 'create', '--name', 'base', '--replicas', '3', '--network', 'front', '--', 'sleep', 'infinity']);
    const base = await c.waitRunning('base', 3);
    t.same([...new Set(base.map((x) => x.host))].sort(), [1, 2, 3], 'base runs one task per host');

    await t.test('logs: service logs with the task prefix, logs --tail', async (t) => {
      await sh(['service', 'create', '--name', 'chatty', '--', 'sh', '-c', 'echo line1; echo line2 >&2; sleep infinity']);
      const [task] = await c.waitRunning('chatty', 1);
      const prefix = `chatty.1.${task!.id.slice(0, 12)}@h${task!.host}    | `;
      const logs = await waitUntil(
        async () => {
          const r = await c.shoal(['service', 'logs', 'chatty']);
          return r.code === 0 && r.stdout.includes('line2') ? r : undefined;
        },
        30_000,
        'both lines in service logs',
      );
      t.equal(logs.stdout, `${prefix}line1\n${prefix}line2\n`, 'stdout and stderr lines, each after the task prefix');
      const all = await c.shoal(['logs', task!.id]);
      t.equal(all.code, 0, `logs exits 0 ${all.stderr}`);
      t.equal(all.stdout, 'line1\nline2\n', 'logs TASK prints the output as stored');
      const tail = await c.shoal(['logs', task!.id, '--tail', '1']);
      t.equal(tail.code, 0, `logs --tail 1 exits 0 ${tail.stderr}`);
      t.equal(tail.stdout, 'line2\n', 'logs --tail 1 prints only the last line');
      const bySlot = await c.shoal(['logs', '--tail', '1', 'chatty.1']);
      t.equal(bySlot.stdout, 'line2\n', 'a task is also found as SERVICE.SLOT');
    });

    await t.test('exit codes and the restart policy', async (t) => {
      // restart delay 0: a replacement, if the policy wants one, is created in the very
      // transaction that records the end, so one listing shows both or neither
      await sh(['service', 'create', '--name', 'once', '--restart-condition', 'none', '--restart-delay', '0s', '--', 'sh', '-c', 'exit 0']);
      await sh([
        'service',
        'create',
        '--name',
        'crash',
        '--restart-condition',
        'on-failure',
        '--restart-delay',
        '0s',
        '--restart-max-attempts',
        '2',
        '--',
        'sh',
        '-c',
        'exit 7',
      ]);

      const crashed = await waitUntil(
        async () => {
          const ts = await tasksOf('crash');
          const failed = ts.filter((x) => x.status.state === 'failed').sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
          const later = failed && ts.find((x) => x.id !== failed.id && x.slot === failed.slot && x.createdAt >= failed.createdAt);
          return failed && later ? { failed, later } : undefined;
        },
        60_000,
        'a failed crash task and its replacement',
        { retryErrors: true },
      );
      t.equal(crashed.failed.status.exitCode, 7, 'the failed task carries its exit code');
      t.equal(crashed.failed.status.err, 'task: non-zero exit (7)', 'and Docker error text');
      t.equal(crashed.failed.desiredState, 'shutdown', 'a failed task is not wanted running any more');
      t.ok(crashed.later, `on-failure created a replacement (${crashed.later.id}) in the same slot`);
      const ps = await sh(['service', 'ps', '--no-trunc', 'crash']);
      if (
        !t.match(
          rowOf(ps, crashed.failed.id),
          /Shutdown\s+Failed .* ago\s+"task: non-zero exit \(7\)"/,
          'service ps shows it Failed with the error',
        )
      )
        t.comment(ps);

      const done = await waitUntil(
        async () => {
          const ts = await tasksOf('once');
          return ts.length > 0 && ts.every((x) => x.status.state === 'complete') ? ts : undefined;
        },
        60_000,
        'the once task to complete',
        { retryErrors: true },
      );
      t.equal(done.length, 1, 'under restart condition none, a task that exited 0 is not replaced');
      t.equal(done[0]!.status.exitCode, 0, 'exit code 0');
      t.equal(done[0]!.status.err, '', 'no error');
      const psOnce = await sh(['service', 'ps', 'once']);
      if (!t.match(rowOf(psOnce, done[0]!.id), /Shutdown\s+Complete .* ago\s*$/, 'service ps shows it Complete')) t.comment(psOnce);
    });

    await t.test('--restart-max-attempts 2: two restarts, then none (Docker counts restarts)', async (t) => {
      const ended = await waitUntil(
        async () => {
          const ts = await tasksOf('crash');
          return ts.length > 0 && ts.every((x) => x.desiredState === 'shutdown' && x.status.state === 'failed') ? ts : undefined;
        },
        60_000,
        'every crash task to have failed with none wanted running',
        { retryErrors: true },
      );
      t.equal(ended.length, 3, `the first task and 2 restarts (${ended.length} task(s) ran)`);
      t.ok(
        ended.every((x) => x.status.exitCode === 7),
        'each ended with exit code 7',
      );
      t.equal((await tasksOf('once')).length, 1, 'the none task is still not replaced');
    });

    await t.test('scenario 7: health: healthy, unhealthy after the file goes, healthy again; same process', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'shoal-e2e-health-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const flag = join(dir, 'ok');
      writeFileSync(flag, '');
      await sh([
        'service',
        'create',
        '--name',
        'checked',
        '--health-cmd',
        `test -f ${flag}`,
        '--health-interval',
        '300ms',
        '--health-timeout',
        '10s',
        '--health-retries',
        '2',
        '--',
        'sleep',
        'infinity',
      ]);
      const [task] = await c.waitRunning('checked', 1);
      const id = task!.id;
      const health = async (want: string): Promise<Task | undefined> => {
        const [x] = await c.client.listTasks({ ids: [id] });
        return x && x.status.health === want ? x : undefined;
      };
      const pidNow = async (): Promise<number> => (await runningPids(c, task!.host)).get(id) ?? 0;

      await waitUntil(() => health('healthy'), 30_000, 'the task to be healthy', { retryErrors: true });
      const pid = await pidNow();
      t.ok(pid > 0 && alive(pid), `healthy, running as pid ${pid}`);

      const rm = await c.shoal(['exec', id, '--', 'rm', flag]);
      t.equal(rm.code, 0, `shoal exec rm exits 0 ${rm.stderr}`);
      t.notOk(existsSync(flag), 'the file is gone');
      const sick = await waitUntil(() => health('unhealthy'), 30_000, 'the task to be unhealthy', { retryErrors: true });
      t.equal(sick.status.state, 'running', 'an unhealthy task keeps running');
      const st = (await agentStatus(c, task!.host)).workloads.find((w) => w.id === id);
      t.equal(st?.health, 'unhealthy', "the agent's status says unhealthy too");
      t.equal(await pidNow(), pid, 'same process');

      const touch = await c.shoal(['exec', id, '--', 'touch', flag]);
      t.equal(touch.code, 0, `shoal exec touch exits 0 ${touch.stderr}`);
      const well = await waitUntil(() => health('healthy'), 30_000, 'the task to be healthy again', { retryErrors: true });
      t.equal(well.status.state, 'running', 'still running');
      t.equal(await pidNow(), pid, 'same process throughout');
      t.ok(alive(pid), 'which still runs');
    });

    await t.test('scenario 12: a standalone container on an attachable overlay', async (t) => {
      await sh(['network', 'create', '-d', 'overlay', '--attachable', 'att']);
      const cid = (await sh(['container', 'run', '--name', 'probe', '--network', 'att', '--node', 'h2', '--', 'sleep', 'infinity'])).trim();
      t.match(cid, /^[a-z0-9]{25}$/, 'container run prints the new ID');
      await sh(['service', 'create', '--name', 'peer', '--replicas', '3', '--network', 'att', '--', 'sleep', 'infinity']);
      const peers = await c.waitRunning('peer', 3);
      const other = peers.find((x) => x.host !== 2)!;
      t.ok(other, `a peer task runs on h${other.host}`);
      const ctr = await waitUntil(
        async () => {
          const x = await c.client.inspectContainer('probe');
          return x.state === 'running' ? x : undefined;
        },
        30_000,
        'the container to run',
        { retryErrors: true },
      );
      t.equal(ctr.id, cid, 'inspect finds it by name');
      t.equal(c.hostOf(ctr.nodeId), 2, 'it runs on h2 as asked');
      const ls = await sh(['container', 'ls']);
      if (!t.match(rowOf(ls, cid), /Up .*h2\s+att\s+probe/, 'container ls shows it up on h2 on att')) t.comment(ls);
      const ctrNs = c.sandboxNs(cid, ctr.nodeId);
      const pid = await waitUntil(async () => (await runningPids(c, 2)).get(cid), 30_000, "the container's process on h2", {
        retryErrors: true,
      });
      t.ok(alive(pid), `its process runs (pid ${pid})`);

      const ctrIp = ipOf(ctr);
      const taskNs = c.sandboxNs(other.id, other.nodeId);
      const there = await inNs(ctrNs, ['ping', '-c', '1', '-W', '2', other.ip]);
      t.equal(there.code, 0, `the container pings the task on h${other.host} (${other.ip}) ${there.stdout}`);
      const back = await inNs(taskNs, ['ping', '-c', '1', '-W', '2', ctrIp]);
      t.equal(back.code, 0, `the task pings the container (${ctrIp}) ${back.stdout}`);

      const host = await c.shoal(['exec', 'probe', '--', 'hostname']);
      t.equal(host.code, 0, `exec hostname exits 0 ${host.stderr}`);
      t.equal(host.stdout, `${cid.slice(0, 12)}\n`, "the container's host name is its short ID, as Docker's");

      const refused = await c.shoal(['container', 'rm', 'probe']);
      t.not(refused.code, 0, 'rm without -f refuses a running container');
      t.match(refused.stderr, /SHOAL_ERR_CONTAINER_RUNNING/, 'with its code');
      t.ok(alive(pid), 'and leaves it running');
      const rm = await c.shoal(['container', 'rm', '-f', 'probe']);
      t.equal(rm.code, 0, `container rm -f exits 0 ${rm.stderr}`);
      await waitUntil(() => !alive(pid) && !namespaces().includes(ctrNs), 30_000, "the container's process and sandbox namespace to go");
      t.pass(`its process and ${ctrNs} are gone`);
      const lsAll = await sh(['container', 'ls', '-a', '-q']);
      t.notMatch(lsAll, cid.slice(0, 12), 'it is no longer listed');
    });

    await t.test('scenario 9: the manager killed: the data plane keeps serving; a new manager takes the agents back', async (t) => {
      const state = readState(paths.stateFile);
      const manager = state?.manager;
      t.ok(manager && alive(manager.pid), 'the testbed records a running manager');
      if (!manager) return;
      const before = new Map<number, Map<string, number>>();
      for (let h = 1; h <= 3; h++) before.set(h, await runningPids(c, h));
      const [a, b] = [base.find((x) => x.host === 2)!, base.find((x) => x.host === 3)!];

      process.kill(manager.pid, 'SIGKILL');
      await waitUntil(() => !alive(manager.pid), 10_000, 'the manager to die');
      await waitUntil(
        async () => {
          for (let h = 1; h <= 3; h++) if ((await agentStatus(c, h)).connected) return false;
          return true;
        },
        30_000,
        'every agent to notice its session is gone',
        { retryErrors: true },
      );
      for (let h = 1; h <= 3; h++) {
        t.same(await runningPids(c, h), before.get(h), `h${h}: the same tasks run with the same PIDs`);
        for (const pid of before.get(h)!.values()) t.ok(alive(pid), `h${h}: pid ${pid} runs`);
      }
      const ping = await inNs(c.sandboxNs(a.id, a.nodeId), ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip]);
      t.equal(ping.code, 0, `a task on h2 still pings a task on h3 ${ping.stdout}`);
      for (let h = 1; h <= 3; h++) {
        const d = await c.shoal(['doctor', '--data-dir', paths.dataDir(h)]);
        t.equal(d.code, 0, `h${h}: doctor answers and finds nothing to change ${d.stdout}${d.stderr}`);
      }

      const up = await c.up();
      t.equal(up.code, 0, `testbed up ${up.stderr}`);
      if (!t.match(up.stdout, /^manager\s+h1\s+\d+\s+started/m, 'up started a manager')) t.comment(up.stdout);
      const again = readState(paths.stateFile)?.manager;
      t.ok(again && again.pid !== manager.pid && alive(again.pid), `a new manager runs (pid ${again?.pid})`);
      await waitUntil(
        async () => {
          for (let h = 1; h <= 3; h++) if (!(await agentStatus(c, h)).connected) return false;
          return true;
        },
        60_000,
        'every agent to reconnect',
        { retryErrors: true },
      );
      const nodes = await waitUntil(
        async () => {
          const r = await c.shoal(['node', 'ls']);
          const rows = r.stdout.split('\n').filter((l) => /\bh[123]\b/.test(l));
          return r.code === 0 && rows.length === 3 && rows.every((l) => /\sReady\s/.test(l)) ? r.stdout : undefined;
        },
        60_000,
        'node ls to list three Ready nodes',
      );
      t.pass(`node ls:\n${nodes}`);
      for (let h = 1; h <= 3; h++) t.same(await runningPids(c, h), before.get(h), `h${h}: still the same PIDs after the reconnect`);
      const ids = [...before.values()].flatMap((m) => [...m.keys()]);
      const tasks = await c.client.listTasks({ ids });
      t.ok(
        tasks.length === ids.length && tasks.every((x) => x.status.state === 'running' && x.desiredState === 'running'),
        `the new manager sees every task still running, none replaced (${tasks.map((x) => `${x.name}:${x.status.state}`).join(', ')})`,
      );
    });

    await t.test('scenario 8: SIGTERM to an agent: its tasks stop, its kernel objects go, its tasks move', async (t) => {
      const agent = c.agents().find((x) => x.host === 'h3')!;
      const prefix = c.agentPrefix(3);
      const pids = await runningPids(c, 3);
      t.ok(pids.size > 0, `h3 runs ${pids.size} workload(s)`);
      t.ok(
        namespaces().some((n) => n.startsWith(prefix)),
        `namespaces with ${prefix} exist before`,
      );
      const started = Date.now();
      process.kill(agent.pid, 'SIGTERM');
      await waitUntil(() => !alive(agent.pid), 30_000, 'the agent to exit');
      const ms = Date.now() - started;
      t.ok(ms < 10_000, `the agent exited within the 10 s stop grace (${ms} ms)`);
      for (const [id, pid] of pids) t.notOk(alive(pid), `task ${id.slice(0, 12)}'s process (pid ${pid}) is gone`);
      t.same(
        namespaces().filter((n) => n.startsWith(prefix)),
        [],
        `no namespace named ${prefix}* is left`,
      );
      const links = JSON.parse((await exec('ip', ['-j', '-n', c.hostNs(3), 'link', 'show'])).stdout || '[]') as Array<{ ifname: string }>;
      t.same(
        links.map((l) => l.ifname).filter((n) => n.startsWith(prefix)),
        [],
        `no link named ${prefix}* is left in h3 (${links.map((l) => l.ifname).join(' ')})`,
      );
      const nft = await inNs(c.hostNs(3), ['nft', '-j', 'list', 'tables']);
      t.equal(nft.code, 0, `nft lists h3's tables ${nft.stderr}`);
      const tables = (
        JSON.parse(nft.stdout || '{"nftables":[]}') as { nftables: Array<{ table?: { family: string; name: string } }> }
      ).nftables.flatMap((x) => (x.table ? [`${x.table.family} ${x.table.name}`] : []));
      t.notOk(tables.includes(`ip ${prefix}egress`), `no table ip ${prefix}egress (tables: ${tables.join(', ') || 'none'})`);
      t.same(
        tables.filter((n) => n.split(' ')[1]!.startsWith(prefix)),
        [],
        `no table named ${prefix}* at all`,
      );

      const ended = await waitUntil(
        async () => {
          const ts = await c.client.listTasks({ ids: [...pids.keys()] });
          return ts.length === pids.size && ts.every((x) => x.status.state === 'shutdown' && x.desiredState === 'shutdown')
            ? ts
            : undefined;
        },
        30_000,
        "the manager to show h3's tasks shut down",
        { retryErrors: true },
      );
      t.equal(ended.length, pids.size, "the manager shows every one of h3's tasks shut down");
      const moved = await waitUntil(
        async () => {
          const r = await c.running('base');
          const all = await c.client.listTasks({ services: ['base'], desiredState: 'running' });
          return r.length === 3 && all.length === 3 && r.every((x) => x.host !== 3) ? r : undefined;
        },
        90_000,
        'base to run its 3 tasks on h1 and h2',
        { retryErrors: true },
      );
      t.pass(`h3's base task was rescheduled: base runs on hosts ${moved.map((x) => `h${x.host}`).join(', ')}`);
    });

    await t.test('scenario 10: --keep-state: tasks and kernel objects outlive the agent, the next agent adopts them', async (t) => {
      const rec = readState(paths.stateFile)?.agents.find((a) => a.host === 'h2');
      t.ok(rec && alive(rec.pid), "the testbed records h2's running agent");
      if (!rec) return;
      const pids = await runningPids(c, 2);
      t.ok(pids.size > 0, `h2 runs ${pids.size} workload(s)`);
      const sandboxes = [...pids.keys()].map((id) => `${c.agentPrefix(2)}sb-${id.slice(0, 12)}`);
      const ovNs = c.overlayNs(front.id, 2);
      t.ok(namespaces().includes(ovNs), `${ovNs} exists`);

      process.kill(rec.pid, 'SIGKILL');
      await waitUntil(() => !alive(rec.pid), 10_000, "the testbed's h2 agent to die");
      const log = join(paths.logDir, 'agent-h2-keep-state.log');
      const fd = openSync(log, 'a', 0o600);
      const child = spawn('nsenter', [`--net=/run/netns/${rec.netns}`, '--', ...rec.argv, '--keep-state'], {
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env['HOME'] ?? '/root' },
      });
      closeSync(fd);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      t.teardown(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const adopted = await waitUntil(
        async () => {
          if (child.exitCode !== null) throw new Error(`the --keep-state agent exited with ${child.exitCode}`);
          const s = await agentStatus(c, 2);
          const running = new Map(s.workloads.filter((w) => w.phase === 'running').map((w) => [w.id, w.pid]));
          return s.connected && s.overlay.syncs >= 1 && [...pids].every(([id, pid]) => running.get(id) === pid) ? running : undefined;
        },
        60_000,
        'the --keep-state agent to adopt the tasks and sync',
        { retryErrors: true },
      );
      // (the manager may assign h2 a new task meanwhile, one rescheduled from h3 above: the
      // agent starts it; what counts here is that none of the running ones was restarted)
      const only = (m: Map<string, number>, keys: Map<string, number>): Map<string, number> =>
        new Map([...m].filter(([id]) => keys.has(id)));
      t.same(only(adopted, pids), pids, 'the --keep-state agent adopted every task with its PID');

      child.kill('SIGTERM');
      const end = await waitUntil(
        () => (child.exitCode !== null || child.signalCode !== null ? { code: child.exitCode, signal: child.signalCode } : undefined),
        30_000,
        'the --keep-state agent to exit',
      );
      await exited;
      t.same(end, { code: 0, signal: null }, 'it exits 0 on SIGTERM');
      for (const [id, pid] of pids) t.ok(alive(pid), `task ${id.slice(0, 12)} still runs as pid ${pid}`);
      const left = namespaces();
      for (const ns of sandboxes) t.ok(left.includes(ns), `${ns} is still there`);
      t.ok(left.includes(ovNs), `${ovNs} is still there`);

      // the next agent at once, as an upgrade would start it (not through `testbed up`, whose
      // own start-up on a loaded machine can outlast the manager's heartbeat timeout: the
      // node would be marked Down and its tasks replaced, which is another test)
      const nextLog = openSync(join(paths.logDir, 'agent-h2-next.log'), 'a', 0o600);
      const next = spawn('nsenter', [`--net=/run/netns/${rec.netns}`, '--', ...rec.argv], {
        stdio: ['ignore', nextLog, nextLog],
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env['HOME'] ?? '/root' },
      });
      closeSync(nextLog);
      t.teardown(() => {
        if (next.exitCode === null && next.signalCode === null) next.kill('SIGTERM');
      });
      const after = await waitUntil(
        async () => {
          const s = await agentStatus(c, 2);
          return s.connected && s.overlay.syncs >= 1 ? s : undefined;
        },
        60_000,
        "the new h2 agent's first sync",
        { retryErrors: true },
      );
      const afterPids = new Map(after.workloads.filter((w) => w.phase === 'running').map((w) => [w.id, w.pid]));
      t.same(only(afterPids, adopted), adopted, 'the new agent adopted every task with the same PID');
      const d = await waitUntil(
        async () => {
          const r = await c.shoal(['doctor', '--data-dir', paths.dataDir(2)]);
          return r.code === 0 ? r : undefined;
        },
        30_000,
        "h2's doctor to be clean",
      ).catch(async (err: Error) => {
        const r = await c.shoal(['doctor', '--data-dir', paths.dataDir(2)]);
        t.fail(`${err.message}\n${r.stdout}${r.stderr}`);
        return r;
      });
      t.equal(d.code, 0, `doctor on h2 is clean ${d.stdout.trim()}`);
      const tasks = await c.client.listTasks({ ids: [...pids.keys()] });
      t.ok(
        tasks.length === pids.size && tasks.every((x) => x.status.state === 'running' && x.desiredState === 'running'),
        `the manager still sees them running, none replaced (${tasks.map((x) => `${x.name}:${x.status.state}`).join(', ')})`,
      );
    });

    if (!t.passing()) {
      const keep = join(tmpdir(), `shoal-e2e-workloads-${c.prefix}logs`);
      try {
        cpSync(paths.logDir, keep, { recursive: true });
        t.comment(`testbed logs copied to ${keep}`);
      } catch (err) {
        t.comment(`cannot copy the testbed logs: ${(err as Error).message}`);
      }
    }
  });
}
