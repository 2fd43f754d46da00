/**
 * The data plane survives its agent, and follows a node that dies:
 *
 * - an agent killed with SIGKILL while a ping and an iperf3 run between two of its node's
 *   tasks and another node's, then restarted: neither is interrupted, the tasks keep their
 *   PIDs, and the restarted agent's resync deletes nothing (`ip monitor` and
 *   `bridge monitor` in the overlay and sandbox namespaces see no deletion);
 * - a host's agent killed and its underlay link cut: its tasks leave every other host's
 *   load balancers within 5 s (gossip's failure detector, while the manager still lists
 *   them), and its endpoints' neighbour entries once the manager marks the node down.
 */
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { localApiRequest } from '../../../src/agent/local-client.ts';
import { alive } from '../../../src/testbed/processes.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { requireKernel } from '../../support/kernel.ts';
import { inNs, permanentNeighbours, spawnInNs, startCluster } from '../../support/dataplane.ts';
import { waitUntil } from '../../support/wait.ts';

interface AgentStatusJson {
  workloads: Array<{ id: string; pid: number; phase: string }>;
  overlay: { syncs: number };
}

function collect(child: ChildProcess): { out: () => string; done: Promise<number>; child: ChildProcess } {
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return { out: () => text, done, child };
}

if (requireKernel(t)) {
  t.test('agent restart and node death', async (t) => {
    const c = await startCluster(t, 3);
    const sh = c.sh;
    await sh(['network', 'create', '-d', 'overlay', 'front']);
    const front = await c.client.inspectNetwork('front');
    await sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '--', 'sleep', 'infinity']);
    const tasks = await c.waitRunning('web', 3);
    const a = tasks.find((x) => x.host === 2)!;
    const b = tasks.find((x) => x.host === 3)!;
    t.ok(a && b, 'a task on h2 and one on h3');
    const aNs = c.sandboxNs(a.id, a.nodeId);
    const bNs = c.sandboxNs(b.id, b.nodeId);
    await waitUntil(async () => (await inNs(aNs, ['ping', '-c', '1', '-W', '1', b.ip])).code === 0, 15_000, 'h2 task to reach h3 task');

    await t.test('scenario 10: SIGKILL of an agent under a ping and an iperf3: nothing interrupted, nothing re-added', async (t) => {
      const dataDir = testbedPaths(c.prefix).dataDir(2);
      const socket = `${dataDir}/agent.sock`;
      const before = (await localApiRequest(socket, 'GET', '/status')).body as AgentStatusJson;
      const pidBefore = before.workloads.find((w) => w.id === a.id)?.pid ?? 0;
      t.ok(pidBefore > 0 && alive(pidBefore), `the task runs as pid ${pidBefore}`);

      // watch for deletions in the namespaces the restarted agent resyncs
      const ovNs = c.overlayNs(front.id, 2);
      const monitors = [
        collect(spawnInNs(ovNs, ['ip', 'monitor', 'neigh', 'link', 'address', 'route'])),
        collect(spawnInNs(ovNs, ['bridge', 'monitor', 'fdb'])),
        collect(spawnInNs(aNs, ['ip', 'monitor', 'link', 'address', 'route'])),
      ];
      t.teardown(() => {
        for (const m of monitors) if (m.child.exitCode === null) m.child.kill('SIGTERM');
      });
      const server = collect(spawnInNs(bNs, ['iperf3', '-s', '-1']));
      await waitUntil(async () => (await inNs(bNs, ['ss', '-ltn'])).stdout.includes(':5201'), 10_000, 'iperf3 to listen');
      const ping = collect(spawnInNs(aNs, ['ping', '-i', '0.1', '-c', '80', '-W', '1', b.ip]));
      const iperf = collect(spawnInNs(aNs, ['iperf3', '-c', b.ip, '-t', '8', '-b', '200M']));
      await waitUntil(() => /bits\/sec/.test(iperf.out()), 15_000, 'iperf3 to report its first interval');

      const agent = c.agents().find((x) => x.host === 'h2')!;
      process.kill(agent.pid, 'SIGKILL');
      await waitUntil(() => !alive(agent.pid), 10_000, 'the agent to die');
      const up = await c.up();
      t.equal(up.code, 0, `testbed up restarts the agent ${up.stderr}`);
      const after = await waitUntil(
        async () => {
          const s = (await localApiRequest(socket, 'GET', '/status')).body as AgentStatusJson;
          return s.overlay.syncs >= 1 ? s : undefined;
        },
        30_000,
        'the restarted agent to finish its first sync',
        { retryErrors: true },
      );
      t.equal(after.workloads.find((w) => w.id === a.id)?.pid, pidBefore, 'the task kept its PID (adopted, not restarted)');

      const pingCode = await ping.done;
      const iperfCode = await iperf.done;
      await server.done;
      t.equal(pingCode, 0, 'ping exits 0');
      t.match(ping.out(), / 0% packet loss/, 'not one ping was lost');
      t.equal(iperfCode, 0, `iperf3 completed ${iperfCode === 0 ? '' : iperf.out()}`);
      for (const m of monitors) {
        // the monitors run until killed; give the kernel's last events no grace: the resync is over
        const text = m.out();
        t.notMatch(text, /^Deleted/m, `no entry was deleted during the restart\n${text.slice(0, 2000)}`);
      }
      t.equal((await c.shoal(['doctor', '--data-dir', dataDir])).code, 0, 'doctor: nothing to change after the restart');
    });

    await t.test(
      "scenario 8: a dead node's backends leave every other host's load balancers within 5 s, its entries once the manager marks it down",
      async (t) => {
        const agent = c.agents().find((x) => x.host === 'h3')!;
        const h3ips = (await c.running('web')).filter((x) => x.host === 3).map((x) => x.ip);
        t.ok(h3ips.length > 0, 'h3 runs a task');
        const others = (await c.running('web')).filter((x) => x.host !== 3);
        /** The backends in the load-balancer maps of a task's sandbox (web's VIP, every port). */
        const mapped = async (task: (typeof others)[number]): Promise<string> => {
          const r = await inNs(c.sandboxNs(task.id, task.nodeId), ['nft', '-j', 'list', 'table', 'ip', `${c.agentPrefix(task.host)}lb`]);
          const items = r.code === 0 ? (JSON.parse(r.stdout) as { nftables: Array<{ map?: unknown }> }).nftables : [];
          return JSON.stringify(items.filter((x) => x.map !== undefined));
        };
        for (const task of others) {
          const m = await mapped(task);
          t.ok(
            h3ips.every((ip) => m.includes(`"${ip}"`)),
            `h${task.host}'s task balances to h3's tasks before`,
          );
        }
        process.kill(agent.pid, 'SIGKILL');
        const cut = await inNs(c.underlayNs, ['ip', 'link', 'set', 'h3', 'down']);
        t.equal(cut.code, 0, `h3's underlay link is cut ${cut.stderr}`);
        t.teardown(() => inNs(c.underlayNs, ['ip', 'link', 'set', 'h3', 'up']).then(() => undefined));
        const started = Date.now();
        await waitUntil(
          async () => {
            for (const task of others) {
              const m = await mapped(task);
              if (h3ips.some((ip) => m.includes(`"${ip}"`))) return false;
            }
            return true;
          },
          20_000,
          "h3's tasks to leave h1's and h2's load balancers",
          { intervalMs: 50 },
        );
        const ms = Date.now() - started;
        t.ok(ms <= 5000, `no new connection goes to h3 from h1 or h2 after ${ms} ms (at most 5000)`);

        // the neighbour entries stay while the manager lists the endpoints (only an agent may
        // be away), and go once it marks the node down
        for (const h of [1, 2]) {
          const n = await permanentNeighbours(c.overlayNs(front.id, h));
          t.ok(
            h3ips.every((ip) => n.has(ip)),
            `h${h} still has h3's endpoints' entries`,
          );
        }
        await waitUntil(
          async () => (await c.client.inspectNode(agent.nodeId)).status.state === 'down',
          60_000,
          'the manager to mark h3 down',
          {
            retryErrors: true,
          },
        );
        await waitUntil(
          async () => {
            for (const h of [1, 2]) {
              const n = await permanentNeighbours(c.overlayNs(front.id, h));
              if (h3ips.some((ip) => n.has(ip))) return false;
            }
            return true;
          },
          15_000,
          "h3's endpoints' entries to leave h1 and h2 once it is down",
          { intervalMs: 100 },
        );
        t.pass("h3's entries left h1 and h2 once the manager marked it down");
      },
    );
  });
}
