/**
 * Soak: an idle connection through the routing mesh and one through a VIP still work after
 * SHOAL_SOAK_IDLE_S seconds (default 1200: past IPVS's 900 s idle cut that Swarm's users
 * hit). Not in CI (`npm run soak`).
 *
 * A 3-host testbed, an overlay `front`, `echo` (2 replicas of test/fixtures/soak/echo.mjs,
 * publishing 9000 -> 80) and `client` (`sleep infinity`). From the outside client, one TCP
 * connection to h2's published 9000; from the client task's sandbox, one to echo's VIP on
 * port 80 (test/fixtures/soak/idle-client.mjs: a line, silence, a line). A minute into the
 * silence, the connections' conntrack entries (in h2's namespace for the mesh, in the client
 * sandbox for the VIP) are ESTABLISHED with more than 900 s left; at the end both
 * connections answer again.
 */
import t from 'tap';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inNs, spawnInNs, startCluster } from '../support/dataplane.ts';
import { requireKernel } from '../support/kernel.ts';
import { waitUntil } from '../support/wait.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'soak');
const IDLE_S = Number(process.env['SHOAL_SOAK_IDLE_S'] ?? 1200);
/** IPVS's idle timeout for established TCP (what cut Swarm's idle connections). */
const IPVS_IDLE_S = 900;

interface ClientResult {
  first: string;
  second: string;
  error: string;
}

/** The seconds left of the ESTABLISHED conntrack entries `conntrack -L` prints with these filters. */
async function establishedTimeouts(ns: string, filter: string[]): Promise<number[]> {
  const r = await inNs(ns, ['conntrack', '-L', '-p', 'tcp', ...filter]);
  return r.stdout
    .split('\n')
    .map((l) => /^tcp\s+\d+\s+(\d+)\s+ESTABLISHED\b/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

if (requireKernel(t)) {
  t.test(`idle connections through the mesh and a VIP answer after ${IDLE_S} s`, { timeout: (IDLE_S + 600) * 1000 }, async (t) => {
    const c = await startCluster(t, 3);
    await c.sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    await c.sh([
      'service',
      'create',
      '--name',
      'echo',
      '--replicas',
      '2',
      '--network',
      'front',
      '--publish',
      '9000:80',
      '--',
      process.execPath,
      join(FIXTURES, 'echo.mjs'),
      '80',
    ]);
    await c.sh(['service', 'create', '--name', 'client', '--network', 'front', '--', 'sleep', 'infinity']);
    await c.waitRunning('echo', 2);
    const [client] = await c.waitRunning('client', 1);
    const clientNs = c.sandboxNs(client!.id, client!.nodeId);
    const vip = (await c.client.inspectService('echo')).endpoint.virtualIps.find((v) => v.networkId === front.id)?.addr.split('/')[0];
    t.ok(vip, `echo has a VIP on front (${vip})`);

    const idleClient = join(FIXTURES, 'idle-client.mjs');
    const runs = [
      { name: 'mesh (192.0.2.12:9000)', ns: c.underlayNs, target: ['192.0.2.12', '9000'] },
      { name: `VIP (${vip}:80)`, ns: clientNs, target: [vip!, '80'] },
    ].map((r) => {
      const child = spawnInNs(r.ns, [process.execPath, idleClient, ...r.target, String(IDLE_S)]);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
      t.teardown(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      return { ...r, out: () => out, exited };
    });
    for (const r of runs) await waitUntil(() => /connected, answered by/.test(r.out()), 60_000, `${r.name}: the first answer`);

    // a minute into the silence: the kernel's established timeout, not an idle cut
    await new Promise((resolve) => setTimeout(resolve, Math.min(60, IDLE_S / 2) * 1000));
    const meshLeft = await establishedTimeouts(c.hostNs(2), ['--dport', '9000']);
    const vipLeft = await establishedTimeouts(clientNs, ['-d', vip!]);
    t.ok(
      meshLeft.length > 0 && meshLeft.every((s) => s > IPVS_IDLE_S),
      `mesh: h2's conntrack entry has ${meshLeft.join(', ')} s left (more than ${IPVS_IDLE_S})`,
    );
    t.ok(
      vipLeft.length > 0 && vipLeft.every((s) => s > IPVS_IDLE_S),
      `VIP: the client sandbox's entry has ${vipLeft.join(', ')} s left (more than ${IPVS_IDLE_S})`,
    );

    for (const r of runs) {
      const code = await r.exited;
      const last = r.out().trim().split('\n').at(-1) ?? '';
      let result: ClientResult | undefined;
      try {
        result = JSON.parse(last) as ClientResult;
      } catch {
        result = undefined;
      }
      t.equal(code, 0, `${r.name}: the connection answered after ${IDLE_S} s idle (${last})`);
      t.match(result?.second ?? '', / after$/, `${r.name}: the answer came on the same connection`);
    }
  });
}
