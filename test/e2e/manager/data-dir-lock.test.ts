/**
 * The manager's data-directory lock (manager.pid) against what a restart after SIGKILL
 * meets: the killed manager may still be a zombie, not yet reaped by its parent, when the
 * next one starts. A zombie holds nothing, so the new manager starts; a running process
 * named in manager.pid still keeps the directory (SHOAL_ERR_DATA_DIR_LOCKED).
 *
 * The zombie is made on purpose: `sh -c 'sleep 0 & exec sleep 60'` leaves `sleep 0` as the
 * child of a `sleep 60` that never waits for it.
 */
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnShoal, startManagerProcess, tempDir, until } from '../../support/manager-harness.ts';

function state(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** A parent that never reaps, and its zombie child's PID. */
async function zombie(t: Test): Promise<{ parent: number; zombie: number }> {
  const holder = spawn('sh', ['-c', 'sleep 0 & exec sleep 60'], { stdio: 'ignore' });
  const parent = holder.pid!;
  t.teardown(() => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
  });
  const child = await until(
    () => {
      let text = '';
      try {
        text = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim();
      } catch {
        return undefined;
      }
      const pid = Number(text.split(' ')[0]);
      return pid > 0 && state(pid) === 'Z' ? pid : undefined;
    },
    10_000,
    'a zombie child of sleep 60',
  );
  return { parent, zombie: child };
}

t.test('a zombie in manager.pid does not keep the data directory; a running process does', async (t) => {
  const { parent, zombie: z } = await zombie(t);
  t.equal(state(z), 'Z', `pid ${z} is a zombie`);

  const root = tempDir(t, 'shoal-e2e-lock-');
  const free = join(root, 'after-zombie');
  mkdirSync(free, { recursive: true, mode: 0o700 });
  writeFileSync(join(free, 'manager.pid'), `${z}\n`);
  const m = await startManagerProcess(t, { dataDir: free, port: await freePort() });
  t.ok((await m.client.inspectSwarm()).id, 'the manager starts over a zombie in manager.pid');
  t.equal(readFileSync(join(free, 'manager.pid'), 'utf8').trim(), String(m.pid), 'and claims the directory');

  const held = join(root, 'held');
  mkdirSync(held, { recursive: true, mode: 0o700 });
  writeFileSync(join(held, 'manager.pid'), `${parent}\n`);
  const refused = spawnShoal(t, [
    'manager',
    '--data-dir',
    held,
    '--listen-addr',
    `127.0.0.1:${await freePort()}`,
    '--advertise-addr',
    '127.0.0.1',
  ]);
  t.equal(await refused.exited(), 1, 'a running process in manager.pid: the manager exits 1');
  t.match(
    refused.output(),
    new RegExp(`in use by another manager \\(pid ${parent}\\).*SHOAL_ERR_DATA_DIR_LOCKED`),
    'naming the pid and the code',
  );
});
