/**
 * The pure parts of launching a task: validation with stable codes, the environment, the
 * command lines, the health check as resolved from a spec, and the supervisor script run
 * by a real sh with stand-ins for nsenter, mount and setsid (no namespaces needed).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TASK_ERRORS } from '../../../../src/agent/tasks/errors.ts';
import {
  DEFAULT_TASK_PATH,
  EXIT_SETUP_FAILED,
  SUPERVISOR_SCRIPT,
  effectiveHostname,
  execArgv,
  launchArgv,
  resolveHealthCheck,
  type TaskTools,
  taskEnvironment,
  validateLaunch,
} from '../../../../src/agent/tasks/launch.ts';

const tools: TaskTools = {
  sh: '/bin/sh',
  nsenter: '/usr/bin/nsenter',
  unshare: '/usr/bin/unshare',
  setsid: '/usr/bin/setsid',
  mount: '/usr/bin/mount',
};
const base = { id: 'abc123', argv: ['sleep', '1'], env: ['A=1'], hostname: 'web-1' };

t.test('validateLaunch: stable codes for every bad field', async (t) => {
  t.doesNotThrow(() => validateLaunch(base));
  t.doesNotThrow(() => validateLaunch({ ...base, hostname: '' }), 'empty hostname = default');
  const code = (over: object): string | undefined => {
    try {
      validateLaunch({ ...base, ...over });
      return undefined;
    } catch (err) {
      t.ok(TASK_ERRORS.is(err), 'a task runtime error');
      return (err as { code: string }).code;
    }
  };
  t.equal(code({ argv: [] }), 'SHOAL_ERR_TASK_EMPTY_COMMAND');
  t.equal(code({ argv: [''] }), 'SHOAL_ERR_TASK_EMPTY_COMMAND');
  t.equal(code({ argv: ['a\0b'] }), 'SHOAL_ERR_TASK_BAD_SPEC');
  for (const id of ['', '.events', '../x', 'a/b', 'x'.repeat(129)])
    t.equal(code({ id }), 'SHOAL_ERR_TASK_BAD_SPEC', `id ${JSON.stringify(id)}`);
  for (const entry of ['NOEQUALS', '=value', 'A\0=1'])
    t.equal(code({ env: [entry] }), 'SHOAL_ERR_TASK_BAD_SPEC', `env ${JSON.stringify(entry)}`);
  for (const hostname of ['-x', 'a b', 'x'.repeat(65), 'a/b'])
    t.equal(code({ hostname }), 'SHOAL_ERR_TASK_BAD_SPEC', `hostname ${hostname}`);
});

t.test('effectiveHostname: the spec, else the first 12 characters of the id', async (t) => {
  t.equal(effectiveHostname({ id: 'abcdefghijklmnop', hostname: 'h' }), 'h');
  t.equal(effectiveHostname({ id: 'abcdefghijklmnop', hostname: '' }), 'abcdefghijkl');
  t.equal(effectiveHostname({ id: 'abcdefghijk-op', hostname: '' }), 'abcdefghijk', 'no trailing dash');
});

t.test('taskEnvironment: exactly the spec plus PATH and HOSTNAME when absent', async (t) => {
  t.same(taskEnvironment(['A=1', 'B=x=y'], 'h1'), { A: '1', B: 'x=y', PATH: DEFAULT_TASK_PATH, HOSTNAME: 'h1' });
  t.same(
    taskEnvironment(['PATH=/opt/bin', 'HOSTNAME=mine', 'A=1', 'A=2'], 'h1'),
    { PATH: '/opt/bin', HOSTNAME: 'mine', A: '2' },
    'a later entry wins',
  );
  t.same(taskEnvironment(['A=1'], 'h', ['A=3', 'E=']), { A: '3', E: '', PATH: DEFAULT_TASK_PATH, HOSTNAME: 'h' }, 'exec extras override');
  t.notOk('HOME' in taskEnvironment([], 'h'), "nothing of the agent's environment");
});

t.test('launchArgv and execArgv', async (t) => {
  const argv = launchArgv(tools, {
    netnsPath: '/run/netns/shoal-sb-abc',
    taskDir: '/data/tasks/abc',
    hostname: 'web-1',
    markerPrefix: '/data/tasks/.events/abc',
    name: 'web.1.abc',
    argv: ['nginx', '-g', 'daemon off;'],
  });
  t.same(argv, [
    '/usr/bin/nsenter',
    '--net=/run/netns/shoal-sb-abc',
    '--',
    '/usr/bin/unshare',
    '--mount',
    '--uts',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    '-c',
    SUPERVISOR_SCRIPT,
    'shoal-task:web.1.abc',
    '/data/tasks/abc',
    'web-1',
    '/data/tasks/.events/abc',
    '/usr/bin/mount',
    '/bin/sh',
    '/usr/bin/setsid',
    '--',
    'nginx',
    '-g',
    'daemon off;',
  ]);
  t.same(execArgv(tools, 42, ['cat', '/etc/hosts']), [
    '/usr/bin/nsenter',
    '--target=42',
    '--net',
    '--mount',
    '--uts',
    '--',
    'cat',
    '/etc/hosts',
  ]);
});

t.test('resolveHealthCheck: Docker test forms and defaults', async (t) => {
  const h = (cmd: string[], over: object = {}) =>
    resolveHealthCheck({ cmd, intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0, ...over }, 'x');
  t.equal(resolveHealthCheck(undefined, 'x'), undefined);
  t.equal(h([]), undefined, 'an empty test is none');
  t.equal(h(['NONE']), undefined);
  t.same(h(['CMD', 'curl', '-f', 'http://localhost/']), {
    argv: ['curl', '-f', 'http://localhost/'],
    intervalMs: 30_000,
    timeoutMs: 30_000,
    retries: 3,
    startPeriodMs: 0,
  });
  t.same(h(['CMD-SHELL', 'test -e /ok || exit 1'], { intervalMs: 100, timeoutMs: 50, retries: 1, startPeriodMs: 7 }), {
    argv: ['/bin/sh', '-c', 'test -e /ok || exit 1'],
    intervalMs: 100,
    timeoutMs: 50,
    retries: 1,
    startPeriodMs: 7,
  });
  for (const bad of [['CMD'], ['CMD-SHELL'], ['CMD-SHELL', ' '], ['CMD', ''], ['RUN', 'x']]) {
    t.throws(() => h(bad), { code: 'SHOAL_ERR_TASK_BAD_SPEC' }, JSON.stringify(bad));
  }
  t.throws(() => h(['CMD', 'x'], { intervalMs: -1 }), { code: 'SHOAL_ERR_TASK_BAD_SPEC' });
  t.throws(() => h(['CMD', 'x'], { retries: 1.5 }), { code: 'SHOAL_ERR_TASK_BAD_SPEC' });
});

/**
 * The supervisor script itself, run by sh with stand-ins: "mount" records its arguments,
 * "setsid" is `exec "$@"` after its `--`. Its hostname write goes to /proc, so the test runs
 * the script with that line's target swapped for a file.
 */
t.test('SUPERVISOR_SCRIPT: records pid and exit status, touches markers, keeps the environment', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'shoal-supervisor-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'task');
  const events = join(root, '.events');
  mkdirSync(dir);
  mkdirSync(events);
  const fakeMount = join(root, 'mount');
  writeFileSync(fakeMount, `#!/bin/sh\necho "$@" >> ${root}/mounts\n`);
  const fakeSetsid = join(root, 'setsid');
  writeFileSync(fakeSetsid, '#!/bin/sh\n[ "$1" = -- ] && shift\nexec "$@"\n');
  chmodSync(fakeMount, 0o755);
  chmodSync(fakeSetsid, 0o755);
  const script = SUPERVISOR_SCRIPT.replace('/proc/sys/kernel/hostname', `${root}/hostname`);
  t.not(script, SUPERVISOR_SCRIPT, 'the hostname target was swapped');

  const run = (argv: string[], env: Record<string, string>, failMount = false): string => {
    if (failMount) writeFileSync(fakeMount, '#!/bin/sh\necho "mount: permission denied" >&2; exit 32\n');
    try {
      return execFileSync(
        '/bin/sh',
        ['-c', script, 'shoal-task:t', dir, 'h1', join(events, 't'), fakeMount, '/bin/sh', fakeSetsid, '--', ...argv],
        {
          env,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    } catch (err) {
      return (err as { stdout: string; stderr: string }).stderr;
    }
  };

  const out = run(['/bin/sh', '-c', 'echo "d=$d s=$s p=$p A=$A"; exit 7'], {
    d: 'keep',
    s: 'keep',
    p: 'keep',
    A: '1',
    PATH: '/usr/bin:/bin',
  });
  t.equal(out, 'd=keep s=keep p=keep A=1\n', "the supervisor's variables do not leak into the command's environment");
  t.equal(readFileSync(join(dir, 'exit'), 'utf8'), '7\n', 'exit status recorded with its newline');
  t.match(readFileSync(join(dir, 'pid'), 'utf8'), /^\d+\n$/);
  t.equal(readFileSync(join(root, 'hostname'), 'utf8'), 'h1\n');
  t.equal(readFileSync(join(root, 'mounts'), 'utf8'), `--bind -- ${dir}/resolv.conf /etc/resolv.conf\n--bind -- ${dir}/hosts /etc/hosts\n`);
  t.ok(existsSync(join(events, 't.started')) && existsSync(join(events, 't.exited')), 'both markers touched');

  rmSync(join(dir, 'pid'));
  rmSync(join(events, 't.started'));
  const err = run(['/bin/true'], { PATH: '/usr/bin:/bin' }, true);
  t.match(err, /cannot set up the task's sandbox/);
  t.equal(readFileSync(join(dir, 'exit'), 'utf8'), `${EXIT_SETUP_FAILED}\n`, 'a failed setup is recorded as 125');
  t.notOk(existsSync(join(dir, 'pid')), 'and the command never ran');
});
