/**
 * Acceptance: `shoal testbed up --hosts 3`; the outside client pings every host; hosts
 * ping each other; `up` again changes nothing; `down` leaves nothing, also after the
 * process running in a host was killed with SIGKILL mid-run.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createNetnsManager } from '../../../src/kernel/netns.ts';
import { requireKernel, run, testPrefix, waitFor } from '../../support/kernel.ts';

const SHOAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/shoal.js');

function shoal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [SHOAL, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

if (requireKernel(t)) {
  t.test('three hosts reach each other and the outside client reaches them', async (t) => {
    const prefix = `${testPrefix()}-`;
    const netns = createNetnsManager();
    const ours = async (): Promise<string[]> => (await netns.list()).filter((n) => n.startsWith(prefix));
    t.teardown(async () => {
      await shoal('testbed', 'down', '--prefix', prefix);
      for (const n of await ours()) await netns.delete(n);
    });

    const up = await shoal('testbed', 'up', '--hosts', '3', '--prefix', prefix);
    t.equal(up.code, 0, `up exits 0 ${up.stderr}`);
    t.match(up.stdout, /testbed is up/);
    t.same((await ours()).sort(), [`${prefix}h1`, `${prefix}h2`, `${prefix}h3`, `${prefix}ul`], 'underlay and three hosts');

    for (const i of [1, 2, 3]) {
      const ping = await shoal('testbed', 'exec', 'client', '--prefix', prefix, '--', 'ping', '-c', '1', '-W', '2', `192.0.2.${10 + i}`);
      t.equal(ping.code, 0, `client pings h${i} ${ping.stderr}`);
    }
    const hostToHost = run('nsenter', [`--net=/run/netns/${prefix}h1`, '--', 'ping', '-c', '1', '-W', '2', '192.0.2.13']);
    t.match(hostToHost, /1 received/, 'h1 pings h3');
    t.equal(run('nsenter', [`--net=/run/netns/${prefix}h2`, '--', 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1', 'hosts forward');

    const again = await shoal('testbed', 'up', '--hosts', '3', '--prefix', prefix);
    t.equal(again.code, 0, 'up is idempotent');
    const status = JSON.parse((await shoal('testbed', 'status', '--format', 'json', '--prefix', prefix)).stdout) as {
      up: boolean;
      hosts: Array<{ name: string; address: string; up: boolean }>;
    };
    t.equal(status.up, true);
    t.same(
      status.hosts.map((h) => `${h.name} ${h.address} ${h.up}`),
      ['h1 192.0.2.11 true', 'h2 192.0.2.12 true', 'h3 192.0.2.13 true'],
    );

    const bad = await shoal('testbed', 'exec', 'h9', '--prefix', prefix, '--', 'true');
    t.not(bad.code, 0, 'exec on a missing host fails');
    t.match(bad.stderr, /SHOAL_ERR_TESTBED_NOT_UP/);

    // a process left running inside a host (as if its parent died with kill -9)
    const child = execFile('nsenter', [`--net=/run/netns/${prefix}h2`, '--', 'sleep', '300']);
    const h2 = `net:[${statSync(`/run/netns/${prefix}h2`).ino}]`;
    await waitFor(() => readlinkSync(`/proc/${child.pid}/ns/net`) === h2, 30_000, 'the process to run inside h2');

    const down = await shoal('testbed', 'down', '--prefix', prefix);
    t.equal(down.code, 0, `down exits 0 ${down.stderr}`);
    t.same(await ours(), [], 'down leaves no namespace');
    const exited = await new Promise<boolean>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
      const deadline = setTimeout(() => resolve(false), 30_000);
      child.on('exit', () => {
        clearTimeout(deadline);
        resolve(true);
      });
    });
    t.ok(exited, 'the process inside the testbed was ended');
    t.equal((await shoal('testbed', 'down', '--prefix', prefix)).code, 0, 'down again is a no-op');
  });
}
