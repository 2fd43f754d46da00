/**
 * The task runtime on the real kernel: processes in a throwaway sandbox namespace, with
 * their own resolv.conf, hosts and hostname, environment, logs, exit codes, stop with
 * escalation, health checks, and adoption after an agent restart (a separate agent process
 * killed with SIGKILL). Every process started is killed by pid and every namespace removed
 * in teardown. Needs root; in CI it must not skip.
 */
import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CODE_UNKNOWN, type ProcessSpec, type RuntimeEvent, TaskRuntime } from '../../../src/agent/tasks/runtime.ts';
import { parseRecord } from '../../../src/agent/tasks/record.ts';
import { readProcStat } from '../../../src/agent/tasks/proc.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { requireKernel, run, throwawayNamespaces } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';

const AGENT_CHILD = fileURLToPath(new URL('./agent-child.ts', import.meta.url));

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** Live members of process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readProcStat(Number(name));
    if (s && s.pgrp === pgid && s.state !== 'Z') out.push(Number(name));
  }
  return out;
}

function nsInode(path: string): number {
  return statSync(path).ino;
}

/** Kills what a runtime directory's records name (the command's group, the supervisor) and removes the directory. */
function killRecorded(dir: string): void {
  if (!existsSync(dir)) return;
  for (const id of readdirSync(dir)) {
    const path = join(dir, id, 'record.json');
    if (!existsSync(path)) continue;
    try {
      const r = parseRecord(readFileSync(path, 'utf8'), path);
      // The command's group outlives the command (its children); the pid is reused only
      // once the group is gone.
      if (r.main) {
        try {
          process.kill(-r.main.pid, 'SIGKILL');
        } catch {}
      }
      if (readProcStat(r.supervisor.pid)?.startTime === r.supervisor.startTime) {
        try {
          process.kill(r.supervisor.pid, 'SIGKILL');
        } catch {}
      }
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
}

interface Harness {
  dir: string;
  events: RuntimeEvent[];
  runtime: (opts?: { pollIntervalMs?: number }) => TaskRuntime;
  waitEvent: (pred: (e: RuntimeEvent) => boolean, what: string, timeoutMs?: number) => Promise<RuntimeEvent>;
}

function harness(t: Test): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-trt-'));
  const events: RuntimeEvent[] = [];
  const runtimes: TaskRuntime[] = [];
  t.teardown(() => {
    for (const r of runtimes) r.close();
    killRecorded(dir);
  });
  return {
    dir,
    events,
    runtime: (opts = {}) => {
      const r = new TaskRuntime({ dir, onEvent: (e) => events.push(e), pollIntervalMs: opts.pollIntervalMs ?? 2000 });
      runtimes.push(r);
      return r;
    },
    waitEvent: (pred, what, timeoutMs = 10_000) => waitUntil(() => events.find(pred), timeoutMs, what),
  };
}

/** Writes a line into a FIFO whose reader is (or soon will be) waiting, without blocking on a missing one. */
async function feedFifo(path: string): Promise<void> {
  const fd = await waitUntil(
    () => {
      try {
        return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENXIO') return undefined;
        throw err;
      }
    },
    10_000,
    `a reader on ${path}`,
  );
  writeSync(fd, 'go\n');
  closeSync(fd);
}

if (requireKernel(t)) {
  const { sb } = await throwawayNamespaces(t, 'sb');
  const spec = (over: Partial<ProcessSpec> & { id: string }): ProcessSpec => ({
    name: `task.${over.id}`,
    netns: sb,
    argv: ['sleep', '300'],
    env: [],
    hostname: '',
    resolvConf: 'nameserver 127.0.0.11\noptions ndots:0\n',
    hosts: '127.0.0.1\tlocalhost\n10.0.0.5\tweb-1\n',
    ...over,
  });

  t.test('a task runs in its sandbox with its own resolv.conf, hosts, hostname, environment and log', async (t) => {
    const h = harness(t);
    const rt = h.runtime();
    t.same(await rt.adopt(), [], 'nothing to adopt in a new directory');
    const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    const s = spec({
      id: 'web1',
      hostname: 'web-1',
      env: ['FOO=bar baz', 'EMPTY='],
      argv: [
        'sh',
        '-c',
        'echo out; echo err >&2; echo "FOO=$FOO HOSTNAME=$HOSTNAME PATH=$PATH"; grep ^SigIgn /proc/self/status; exec sleep 300',
      ],
    });
    const { pid } = await rt.start(s);
    t.same(h.events[0], { kind: 'started', id: 'web1', pid });
    t.same(rt.running(), [{ id: 'web1', pid }]);

    t.equal(nsInode(`/proc/${pid}/ns/net`), nsInode(netnsPath(sb)), 'the process is in the sandbox network namespace');
    t.not(nsInode(`/proc/${pid}/ns/mnt`), nsInode('/proc/self/ns/mnt'), 'in a mount namespace of its own');
    t.not(nsInode(`/proc/${pid}/ns/uts`), nsInode('/proc/self/ns/uts'), 'and a UTS namespace of its own');

    const text = async (argv: string[], opts = {}) => {
      const r = await rt.exec('web1', argv, opts);
      t.equal(r.exitCode, 0, `${argv.join(' ')} exits 0`);
      return r.stdout.toString();
    };
    t.equal(await text(['cat', '/etc/resolv.conf']), s.resolvConf, 'exec sees the resolv.conf given');
    t.equal(await text(['cat', '/etc/hosts']), s.hosts, 'and the hosts file');
    t.equal(await text(['hostname']), 'web-1\n', 'and the hostname');
    t.equal(
      await text(['sh', '-c', 'echo "$FOO|$EMPTY|$EXTRA"'], { env: ['EXTRA=1'] }),
      'bar baz||1\n',
      "exec gets the task's environment plus its own",
    );
    t.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv, "the host's resolv.conf is untouched");
    t.equal(run('hostname', []).trim(), readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(), "the host's hostname is untouched");

    const stdinRun = await rt.exec('web1', ['sh', '-c', 'cat; echo oops >&2; exit 4'], { stdin: Buffer.from('hello\n') });
    t.same(
      { code: stdinRun.exitCode, out: stdinRun.stdout.toString(), err: stdinRun.stderr.toString() },
      { code: 4, out: 'hello\n', err: 'oops\n' },
    );
    const t0 = Date.now();
    await t.rejects(rt.exec('web1', ['sleep', '30'], { timeoutMs: 200 }), { code: 'SHOAL_ERR_TASK_EXEC_TIMEOUT' });
    t.ok(Date.now() - t0 < 5000, 'the timed-out command was killed');

    const log = await waitUntil(
      async () => {
        const b = (await rt.readLogs('web1')).toString();
        return b.includes('SigIgn') ? b : undefined;
      },
      5000,
      'the log',
    );
    t.equal(
      log,
      `out\nerr\nFOO=bar baz HOSTNAME=web-1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nSigIgn:\t0000000000000000\n`,
      'stdout and stderr in order in one log; exactly the env plus PATH and HOSTNAME; no signal ignored',
    );
    t.equal(
      (await rt.readLogs('web1', { tail: 2 })).toString(),
      'FOO=bar baz HOSTNAME=web-1 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nSigIgn:\t0000000000000000\n',
    );

    t.same(await rt.start(s), { pid }, 'starting a running task again is a no-op');
    t.equal(h.events.filter((e) => e.kind === 'started').length, 1, 'and reports no second start');

    t.same(await rt.stop('web1', 5000), { exitCode: 143 }, 'SIGTERM ends sleep: 143');
    const exited = await h.waitEvent((e) => e.kind === 'exited', 'exited');
    t.same(exited, { kind: 'exited', id: 'web1', exitCode: 143, signal: 'SIGTERM', message: 'killed by SIGTERM (exit code 143)' });
    t.notOk(alive(pid), 'the process is gone');
    t.same(rt.running(), []);
    t.same(await rt.stop('web1', 5000), { exitCode: 143 }, 'stopping an ended task answers its exit code');
    await t.rejects(rt.exec('web1', ['true']), { code: 'SHOAL_ERR_TASK_NOT_RUNNING' });
    await t.rejects(rt.exec('nope', ['true']), { code: 'SHOAL_ERR_TASK_NO_RECORD' });
    t.match((await rt.readLogs('web1')).toString(), /^out\n/, 'the log stays readable after the end');
    await rt.remove('web1');
    await rt.remove('web1');
    await t.rejects(rt.readLogs('web1'), { code: 'SHOAL_ERR_TASK_NO_RECORD' }, 'removed: record and log are gone');
    t.notOk(existsSync(join(h.dir, 'web1')));
  });

  t.test('exit codes: the command own, a missing program, and leftovers of its group are killed', async (t) => {
    const h = harness(t);
    const rt = h.runtime();
    await rt.adopt();
    await rt.start(spec({ id: 'seven', argv: ['sh', '-c', 'exit 7'] }));
    t.same(await h.waitEvent((e) => e.kind === 'exited' && e.id === 'seven', 'exit 7'), {
      kind: 'exited',
      id: 'seven',
      exitCode: 7,
      message: 'exited with code 7',
    });

    await rt.start(spec({ id: 'missing', argv: ['no-such-program-shoal'] }));
    const missing = await h.waitEvent((e) => e.kind === 'exited' && e.id === 'missing', 'missing program');
    t.equal((missing as { exitCode: number }).exitCode, 127, 'a program not found exits 127');
    t.match((await rt.readLogs('missing')).toString(), /no-such-program-shoal: No such file or directory/, 'and says so in the log');

    await rt.start(spec({ id: 'bg', argv: ['sh', '-c', 'sleep 300 & echo "bg=$!"; exit 3'] }));
    await h.waitEvent((e) => e.kind === 'exited' && e.id === 'bg', 'exit 3');
    const bg = Number(/bg=(\d+)/.exec((await rt.readLogs('bg')).toString())?.[1]);
    t.ok(bg > 0, 'the background child logged its pid');
    await waitUntil(() => !alive(bg), 5000, 'the background child to be gone');
    t.pass('a child left in the ended command group is killed');

    await rt.start(spec({ id: 'env', hostname: 'envhost', env: ['B=2', 'A=1', 'A=3'], argv: ['env', '-0'] }));
    await h.waitEvent((e) => e.kind === 'exited' && e.id === 'env', 'env');
    // tap's process-info hook adds its own variables to every child this test process
    // spawns (NODE_OPTIONS naming @tapjs, _TAPJS_*): the runtime's environment is the rest.
    const fromTap = (line: string): boolean => line.startsWith('_TAPJS_') || (line.startsWith('NODE_OPTIONS=') && line.includes('@tapjs'));
    t.same(
      (await rt.readLogs('env'))
        .toString()
        .split('\0')
        .filter((l) => l !== '' && !fromTap(l))
        .sort(),
      ['A=3', 'B=2', 'HOSTNAME=envhost', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'PWD=/'],
      "exactly the spec's environment, PATH, HOSTNAME and PWD: nothing of the agent's",
    );

    await t.rejects(rt.start(spec({ id: 'empty', argv: [] })), { code: 'SHOAL_ERR_TASK_EMPTY_COMMAND' });
    await t.rejects(rt.start(spec({ id: 'nons', netns: `${sb}-missing` })), { code: 'SHOAL_ERR_NETNS_NOT_FOUND' });
    await t.rejects(rt.stop('unknown', 100), { code: 'SHOAL_ERR_TASK_NO_RECORD' });
    await rt.start(spec({ id: 'busy' }));
    await t.rejects(rt.remove('busy'), { code: 'SHOAL_ERR_TASK_RUNNING' });
    await rt.stop('busy', 1000);
  });

  t.test('a supervisor killed behind the runtime: the unknown code is reported and the command ended', async (t) => {
    const h = harness(t);
    const rt = h.runtime({ pollIntervalMs: 200 });
    await rt.adopt();
    const { pid } = await rt.start(spec({ id: 'victim' }));
    const record = parseRecord(readFileSync(join(h.dir, 'victim', 'record.json'), 'utf8'), 'victim');
    t.equal(record.main?.pid, pid, 'the record names the command');
    t.not(record.supervisor.pid, pid, 'and its supervisor apart');
    process.kill(record.supervisor.pid, 'SIGKILL');
    const exited = (await h.waitEvent((e) => e.kind === 'exited', 'the lost task', 5000)) as { exitCode: number; message: string };
    t.equal(exited.exitCode, EXIT_CODE_UNKNOWN);
    t.match(exited.message, /could not be recorded/);
    await waitUntil(() => !alive(pid), 5000, 'the unsupervised command to be killed');
    t.pass('the command left without its supervisor is killed');
  });

  t.test('stop escalates to SIGKILL after the grace when the command ignores SIGTERM, and ends its whole group', async (t) => {
    const h = harness(t);
    const rt = h.runtime();
    await rt.adopt();
    const { pid } = await rt.start(
      spec({ id: 'stubborn', argv: ['sh', '-c', 'trap "" TERM; sleep 300 & echo ready; while :; do sleep 0.2; done'] }),
    );
    await waitUntil(async () => (await rt.readLogs('stubborn')).toString().includes('ready'), 5000, 'the trap');
    t.ok(groupMembers(pid).length >= 2, 'the command and its children share a group');
    const t0 = Date.now();
    const { exitCode } = await rt.stop('stubborn', 700);
    const took = Date.now() - t0;
    t.equal(exitCode, 137, 'killed: 137');
    t.ok(took >= 700, `SIGKILL came after the grace (${took} ms)`);
    t.ok(took < 5000, 'and promptly');
    const exited = await h.waitEvent((e) => e.kind === 'exited', 'exited');
    t.equal((exited as { signal?: string }).signal, 'SIGKILL');
    await waitUntil(() => groupMembers(pid).length === 0, 2000, 'the group to be empty');
    t.pass('nothing of the group is left');
  });

  t.test('an agent killed with SIGKILL: tasks keep running and are adopted with their pids; exit codes still arrive', async (t) => {
    const h = harness(t);
    const fifoA = join(h.dir, 'fifo-a');
    const fifoB = join(h.dir, 'fifo-b');
    run('mkfifo', [fifoA, fifoB]);
    const specs = [
      spec({ id: 'later', hostname: 'later', argv: ['sh', '-c', `read x < ${fifoA}; exit 5`] }),
      spec({ id: 'away', argv: ['sh', '-c', `read x < ${fifoB}; exit 6`] }),
      spec({ id: 'orphan', argv: ['sleep', '300'] }),
    ];
    const agent: ChildProcess = spawn(process.execPath, ['--import', 'tsx', AGENT_CHILD, h.dir, JSON.stringify(specs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => {
      if (agent.exitCode === null && agent.signalCode === null && agent.pid) process.kill(agent.pid, 'SIGKILL');
    });
    let out = '';
    agent.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const started = await waitUntil(
      () => {
        if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}`);
        return out.includes('\n') ? (JSON.parse(out) as Array<{ id: string; pid: number }>) : undefined;
      },
      30_000,
      'the agent to start its tasks',
    );
    const pidOf = Object.fromEntries(started.map((s) => [s.id, s.pid]));

    const gone = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    process.kill(agent.pid!, 'SIGKILL');
    await gone;
    for (const s of started) t.ok(alive(s.pid), `${s.id} survives the agent's SIGKILL`);

    // While no agent runs: one task ends on its own, and one's supervisor is killed.
    await feedFifo(fifoB);
    await waitUntil(() => existsSync(join(h.dir, 'away', 'exit')), 5000, 'the exit status of a task that ended with no agent');
    const orphanRecord = parseRecord(readFileSync(join(h.dir, 'orphan', 'record.json'), 'utf8'), 'orphan');
    process.kill(orphanRecord.supervisor.pid, 'SIGKILL');
    await waitUntil(() => !alive(orphanRecord.supervisor.pid), 5000, 'the supervisor to be gone');

    // No poll to speak of: what follows is noticed through the event directory's watch.
    const rt = h.runtime({ pollIntervalMs: 600_000 });
    const adopted = await rt.adopt();
    t.same(h.events, [], "adopt()'s events come after it has resolved");
    t.same(
      adopted.map((a) => ({ id: a.id, pid: a.pid, argv: a.spec.argv })),
      [{ id: 'later', pid: pidOf['later'], argv: specs[0]!.argv }],
      'the running task is adopted with the same pid and its spec',
    );
    t.same(
      await h.waitEvent((e) => e.kind === 'exited' && e.id === 'away', 'the exit of away'),
      { kind: 'exited', id: 'away', exitCode: 6, message: 'exited with code 6' },
      'a task that ended while no agent ran reports its real exit code',
    );
    const orphan = (await h.waitEvent((e) => e.kind === 'exited' && e.id === 'orphan', 'the exit of orphan')) as { exitCode: number };
    t.equal(orphan.exitCode, EXIT_CODE_UNKNOWN, 'a task whose supervisor was killed reports the unknown code');
    await waitUntil(() => !alive(pidOf['orphan']!), 5000, 'the unsupervised process to be killed');

    t.equal((await rt.exec('later', ['hostname'])).stdout.toString(), 'later\n', 'exec into the adopted task');
    await feedFifo(fifoA);
    t.same(
      await h.waitEvent((e) => e.kind === 'exited' && e.id === 'later', 'the adopted task to exit'),
      { kind: 'exited', id: 'later', exitCode: 5, message: 'exited with code 5' },
      'the exit code of an adopted process (not our child) arrives',
    );
    t.same(rt.running(), []);
  });

  t.test('a health check that fails, then recovers: starting -> unhealthy -> healthy; an adopted task resumes it', async (t) => {
    const h = harness(t);
    const flag = join(h.dir, 'healthy-flag');
    const rt = h.runtime();
    await rt.adopt();
    await rt.start(
      spec({
        id: 'hc',
        health: {
          cmd: ['CMD-SHELL', `test -e ${flag} || { echo not yet; exit 1; }`],
          intervalMs: 100,
          timeoutMs: 2000,
          retries: 2,
          startPeriodMs: 0,
        },
      }),
    );
    const healthOf = () => h.events.filter((e) => e.kind === 'health').map((e) => (e as { health: string }).health);
    await waitUntil(() => healthOf().includes('unhealthy'), 10_000, 'unhealthy');
    const unhealthy = h.events.find((e) => e.kind === 'health' && e.health === 'unhealthy') as { output: string };
    t.equal(unhealthy.output, 'not yet\n', "the failing probe's output");
    run('touch', [flag]);
    await waitUntil(() => healthOf().includes('healthy'), 10_000, 'healthy');
    await new Promise((r) => setTimeout(r, 350)); // a few more healthy probes, which must report nothing
    t.same(healthOf(), ['starting', 'unhealthy', 'healthy'], 'each change once, in order');

    rt.close();
    const rt2 = h.runtime({ pollIntervalMs: 200 });
    const before = h.events.length;
    t.same(
      (await rt2.adopt()).map((a) => a.id),
      ['hc'],
    );
    await waitUntil(() => h.events.length > before, 5000, 'the resumed health');
    t.same(
      h.events.slice(before).map((e) => e.kind === 'health' && e.health),
      ['healthy'],
      'the adopted task resumes its last health',
    );
    rmSync(flag);
    await waitUntil(() => h.events.slice(before).some((e) => e.kind === 'health' && e.health === 'unhealthy'), 10_000, 'unhealthy again');
    t.pass('health checks run again after adoption');

    // The supervisor of an adopted task (not this runtime's child) killed: only the poll can tell.
    const record = parseRecord(readFileSync(join(h.dir, 'hc', 'record.json'), 'utf8'), 'hc');
    process.kill(record.supervisor.pid, 'SIGKILL');
    const lost = (await h.waitEvent((e) => e.kind === 'exited' && e.id === 'hc', 'the poll to notice', 5000)) as { exitCode: number };
    t.equal(lost.exitCode, EXIT_CODE_UNKNOWN, 'the poll reports a lost supervisor of an adopted task');
    await waitUntil(() => !alive(record.main!.pid), 5000, 'its command to be killed');
    const after = h.events.length;
    await new Promise((r) => setTimeout(r, 300));
    t.equal(h.events.length, after, 'no health event after the end');
  });
}
