/**
 * processAlive and the /proc/PID/stat state it reads (a zombie counts as gone: the manager's
 * data-directory lock meets one after SIGKILL; test/e2e/manager/data-dir-lock.test.ts makes
 * a real one).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { processAlive, procState } from '../../../src/common/process-alive.ts';

t.test('the state is read after the last parenthesis of the command name', async (t) => {
  t.equal(procState('4242 (sleep) S 1 4242 4242 0 -1'), 'S');
  t.equal(procState('4242 (a) Z (b)) Z 1 4242 4242 0 -1'), 'Z', 'a name holding ") Z (" does not mislead');
  t.equal(procState('4242 (my prog) R 1'), 'R', 'a name with a space');
});

t.test('this process is alive; a child that exited and was reaped is not', async (t) => {
  t.ok(processAlive(process.pid));
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  t.ok(pid > 0);
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.notOk(processAlive(pid), `pid ${pid} is gone once its parent reaped it`);
});
