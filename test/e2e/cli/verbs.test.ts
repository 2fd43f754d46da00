// The operator's verbs through the real CLI on a 2-host testbed (a manager in h1, a real
// agent in each host running real tasks): `node ps` (this machine's node by default, or the
// nodes named), `info` (the cluster's counts and the local agent's data plane), `service
// logs --follow` (every line of every task once, tasks that start later included, Ctrl-C
// ends it with status 0), `logs --follow` of a task that ends (it ends too, with a last
// line that has no newline), `--since` and `--timestamps`, a service created without
// --name, and `network prune --filter`.
import t from 'tap';
import type { Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { type Cluster, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { REPO_ROOT, SHOAL_BIN } from '../../support/manager-harness.ts';
import { waitUntil } from '../../support/wait.ts';

/** A `shoal ...` left running (follow mode): its output so far, and how to end it. */
interface Running {
  out(): string;
  err(): string;
  /** Sends `signal` and resolves with the exit code once the process has ended. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

function startShoal(t: Test, c: Cluster, args: readonly string[]): Running {
  const child: ChildProcess = spawn(process.execPath, [SHOAL_BIN, ...args], {
    cwd: REPO_ROOT,
    env: c.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => void (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => void (err += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  return {
    out: () => out,
    err: () => err,
    stop: (signal) => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, signal);
      return exit;
    },
    exited: () => exit,
  };
}

/** The numbers of `tick N` lines per task prefix, in the order printed. */
function ticksByTask(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+\| tick (\d+)$/.exec(line);
    if (!m) continue;
    const list = out.get(m[1] as string) ?? [];
    list.push(Number(m[2]));
    out.set(m[1] as string, list);
  }
  return out;
}

/** Whether the numbers run on by one (no line lost, none twice). */
function consecutive(ns: readonly number[]): boolean {
  return ns.every((n, i) => i === 0 || n === (ns[i - 1] as number) + 1);
}

const TICKER = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'];
const STAMP_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z) (.*)$/;

if (requireKernel(t)) {
  t.test('node ps, info, logs --follow/--since/--timestamps, generated names, network prune --filter', async (t) => {
    const c = await startCluster(t, 2);
    const h1Dir = testbedPaths(c.prefix).dataDir(1);
    const sh = c.sh;
    await sh(['network', 'create', '-d', 'overlay', 'front']);
    await sh(['service', 'create', '--name', 'web', '--replicas', '2', '--network', 'front', '--', 'sleep', 'infinity']);
    const web = await c.waitRunning('web', 2);
    const onH1 = web.find((x) => x.host === 1);
    const onH2 = web.find((x) => x.host === 2);
    t.ok(onH1 && onH2, 'web runs one task on each host');

    await t.test("node ps: this machine's node by default, the nodes named, Docker's columns", async (t) => {
      const own = await c.shoal(['node', 'ps', '--data-dir', h1Dir]);
      t.equal(own.code, 0, own.stderr);
      const lines = own.stdout.trimEnd().split('\n');
      t.match(lines[0], /^ID\s+NAME\s+COMMAND\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
      t.match(
        own.stdout,
        new RegExp(`^${onH1!.id.slice(0, 12)}\\s+web\\.${onH1!.slot}\\s+"sleep infinity"\\s+h1\\s+Running\\s+Running`, 'm'),
      );
      t.notMatch(own.stdout, onH2!.id.slice(0, 12), "h2's task is not h1's");
      const named = await c.shoal(['node', 'ps', '-q', '--no-trunc', 'h2']);
      t.same([named.code, named.stdout], [0, `${onH2!.id}\n`]);
      const both = await c.shoal(['node', 'ps', '--format', '{{.Name}} {{.Node}}', '-f', 'desired-state=running', 'h1', 'h2']);
      t.same(both.stdout.trimEnd().split('\n').sort(), [`web.${onH1!.slot} h1`, `web.${onH2!.slot} h2`].sort());
      const none = await c.shoal(['node', 'ps', '-q', '-f', 'name=nosuch', 'h1']);
      t.same([none.code, none.stdout], [0, '']);
      const missing = await c.shoal(['node', 'ps', 'h1', 'nosuch']);
      t.equal(missing.code, 1);
      t.match(missing.stderr, /^Error: .*nosuch.* \(SHOAL_ERR_NODE_NOT_FOUND\)$/m);
      t.match(missing.stdout, onH1!.id.slice(0, 12), "the other node's tasks still print");
      const empty = mkdtempSync(join(tmpdir(), 'shoal-verbs-'));
      t.teardown(() => rmSync(empty, { recursive: true, force: true }));
      const noAgent = await c.shoal(['node', 'ps', '-H', `unix://${join(h1Dir, 'manager.sock')}`, '--data-dir', empty]);
      t.equal(noAgent.code, 2, 'no agent here and no NODE: a usage error');
      t.match(noAgent.stderr, /^Error: node ps needs a NODE: .*agent\.sock.* \(SHOAL_ERR_INVALID_ARGUMENT\)\n$/);
    });

    await t.test("info: the cluster's counts and this node's data plane", async (t) => {
      const swarm = await c.client.inspectSwarm();
      const r = await c.shoal(['info', '--data-dir', h1Dir]);
      t.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split('\n');
      for (const want of [
        `  ClusterID: ${swarm.id}`,
        `  NodeID: ${onH1!.nodeId}`,
        '  Nodes: 2 (ready 2, down 0)',
        '  Networks: 2',
        '  Services: 1',
        '  Data Path Port: 4789',
        '  Gossip Port: 7946',
        '  Agent: connected to the manager',
      ]) {
        t.ok(lines.includes(want), want);
      }
      t.match(r.stdout, /^ {2}Default Address Pool: 10\.0\.0\.0\/8$/m);
      const json = JSON.parse(await c.sh(['info', '--data-dir', h1Dir, '--format', 'json'])) as {
        Swarm: { Cluster: { ID: string } };
        Agent: { DataPlane: { networks: number; sandboxes: number; loadBalancedServices: number; resolver: { sandboxes: number } } };
      };
      t.equal(json.Swarm.Cluster.ID, swarm.id);
      t.ok(json.Agent.DataPlane.networks >= 1, 'front (and ingress) programmed on h1');
      t.ok(json.Agent.DataPlane.sandboxes >= 1, "web's sandbox on h1");
      t.equal(json.Agent.DataPlane.loadBalancedServices, 1, 'web has a VIP on front');
      t.ok(json.Agent.DataPlane.resolver.sandboxes >= 1, 'the resolver serves the sandbox');
      t.equal(await c.sh(['info', '--format', '{{.Swarm.Cluster.ID}} {{.Swarm.Managers}}']), `${swarm.id} 1\n`);
      const noAgent = await c.shoal([
        'info',
        '--format',
        '{{.Agent.Error}}',
        '-H',
        `unix://${join(h1Dir, 'manager.sock')}`,
        '--data-dir',
        '/nonexistent',
      ]);
      t.equal(noAgent.code, 0, 'no local agent is reported, not a failure');
      t.match(noAgent.stdout, /cannot reach the agent at \/nonexistent\/agent\.sock/);
    });

    await t.test('service logs --follow: every line once, new replicas followed, Ctrl-C ends it with 0', async (t) => {
      await sh(['service', 'create', '--name', 'ticker', '--', ...TICKER]);
      await c.waitRunning('ticker', 1);
      const follow = startShoal(t, c, ['service', 'logs', '--follow', '--no-task-ids', 'ticker']);
      await waitUntil(
        () => [...ticksByTask(follow.out()).entries()].some(([k, v]) => k.startsWith('ticker.1@') && v.length >= 5),
        60_000,
        'five ticks of ticker.1',
      );
      await sh(['service', 'scale', 'ticker=2']);
      await waitUntil(
        () => [...ticksByTask(follow.out()).entries()].some(([k, v]) => k.startsWith('ticker.2@') && v.length >= 5),
        60_000,
        'five ticks of the new replica ticker.2',
      );
      const code = await follow.stop('SIGINT');
      t.equal(code, 0, 'Ctrl-C ends it with status 0');
      t.equal(follow.err(), '', 'nothing on stderr');
      const ticks = ticksByTask(follow.out());
      t.equal(ticks.size, 2, 'lines of both tasks');
      for (const [task, ns] of ticks) {
        t.equal(ns[0], 1, `${task}: from its first line`);
        t.ok(consecutive(ns), `${task}: no line lost or repeated (${ns.join(',')})`);
      }
      t.ok(follow.out().endsWith('\n'), 'only whole lines');

      const tail = startShoal(t, c, ['service', 'logs', '-f', '--tail', '2', '--no-task-ids', 'ticker']);
      await waitUntil(
        () => [...ticksByTask(tail.out()).values()].every((v) => v.length >= 4) && ticksByTask(tail.out()).size === 2,
        60_000,
        'ticks after --tail 2',
      );
      t.equal(await tail.stop('SIGTERM'), 0);
      for (const [task, ns] of ticksByTask(tail.out())) {
        t.ok((ns[0] as number) > 1, `${task}: --tail 2 starts near the end (${ns[0]})`);
        t.ok(consecutive(ns), `${task}: then every line once`);
      }
    });

    await t.test('logs --follow of a task that ends: it ends too, the last line without newline included', async (t) => {
      await sh([
        'service',
        'create',
        '--name',
        'brief',
        '--restart-condition',
        'none',
        '--',
        'sh',
        '-c',
        'printf "part"; sleep 1; printf "ial\\n"; sleep 1; printf "end"',
      ]);
      const r = await c.shoal(['logs', '--follow', 'brief.1'], 120_000);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, 'partial\nend', 'each byte once, the partial line joined');
    });

    await t.test('--since and --timestamps: the lines written since a time, each after its time', async (t) => {
      const before = await c.sh(['logs', '-t', 'ticker.1']);
      const sinceMs = Date.now();
      await waitUntil(
        async () => {
          const last = STAMP_RE.exec((await c.sh(['logs', '-t', '--tail', '1', 'ticker.1'])).trimEnd());
          return last !== null && Date.parse(last[1] as string) >= sinceMs + 1000;
        },
        30_000,
        'ticker.1 lines stamped a second after the since time',
      );
      const since = new Date(sinceMs).toISOString();
      const part = await c.sh(['logs', '-t', '--since', since, 'ticker.1']);
      const full = await c.sh(['logs', '-t', 'ticker.1']);
      const parse = (text: string): Array<{ ms: number; line: string }> =>
        text
          .trimEnd()
          .split('\n')
          .map((l) => {
            const m = STAMP_RE.exec(l);
            return { ms: m ? Date.parse(m[1] as string) : Number.NaN, line: m ? (m[2] as string) : l };
          });
      const partLines = parse(part);
      t.ok(partLines.length >= 3, `lines since then (${partLines.length})`);
      t.ok(
        partLines.every((l) => !Number.isNaN(l.ms) && l.ms >= sinceMs),
        'every line stamped, none before --since',
      );
      t.ok(parse(before).length >= 1, 'older lines exist');
      const fullSince = parse(full)
        .filter((l) => l.ms >= sinceMs)
        .slice(0, partLines.length)
        .map((l) => l.line);
      t.same(
        partLines.map((l) => l.line),
        fullSince,
        'exactly the lines the full log stamps at or after --since',
      );
      const svc = await c.sh(['service', 'logs', '--timestamps', '--since', '2s', '--tail', '1', '--no-task-ids', 'ticker']);
      for (const l of svc.trimEnd().split('\n'))
        t.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z ticker\.[12]@h[12]\s+\| tick \d+$/);
      const bad = await c.shoal(['logs', '--since', 'yesterday', 'ticker.1']);
      t.equal(bad.code, 2);
      t.match(bad.stderr, /invalid argument "yesterday" for "--since" flag/);
    });

    await t.test('service create without --name: a generated adjective-noun name, unique', async (t) => {
      const a = (await sh(['service', 'create', '--', 'sleep', 'infinity'])).trim();
      const b = (await sh(['service', 'create', '--', 'sleep', 'infinity'])).trim();
      const [na, nb] = [(await c.client.inspectService(a)).spec.name, (await c.client.inspectService(b)).spec.name];
      t.match(na, /^[a-z]+-[a-z]+(-\d+)?$/);
      t.match(nb, /^[a-z]+-[a-z]+(-\d+)?$/);
      t.not(na, nb, 'unique');
      t.equal((await sh(['service', 'ls', '-q', '--filter', `name=${na}`])).trim(), a.slice(0, 12), 'listed by its name');
      await sh(['service', 'rm', a, b]);
    });

    await t.test('network prune --filter: label and until', async (t) => {
      await sh(['network', 'create', '-d', 'overlay', '--label', 'env=test', 'p1']);
      await sh(['network', 'create', '-d', 'overlay', 'p2']);
      t.equal(await sh(['network', 'prune', '-f', '--filter', 'until=1h']), '', 'nothing older than an hour');
      t.equal(await sh(['network', 'prune', '-f', '--filter', 'label=env=test']), 'Deleted Networks:\np1\n\n');
      const left = (await sh(['network', 'ls', '--format', '{{.Name}}'])).split('\n');
      t.ok(left.includes('p2') && left.includes('front') && !left.includes('p1'), 'only p1 removed; front is in use anyway');
      const bad = await c.shoal(['network', 'prune', '-f', '--filter', 'driver=overlay']);
      t.equal(bad.code, 2);
      t.match(bad.stderr, /invalid filter "driver" \(valid filters: until, label, label!\)/);
    });
  });
}
