/**
 * Acceptance of `shoal testbed`.
 *
 * Namespaces only (`--no-cluster`): three hosts; the outside client pings every host; hosts
 * ping each other; `up` again changes nothing; no process is started; `down` leaves nothing,
 * also after a process running in a host was killed with SIGKILL mid-run.
 *
 * With the cluster: `up --hosts 3` starts a manager in h1 and an agent in each host (each
 * inside its host's namespace); plain `shoal node ls` (no -H, through the context file)
 * lists three Ready nodes; SHOAL_HOST and -H still win; `up` again starts nothing (same
 * PIDs); `up --hosts 2` ends h3's agent and removes its node; `down` ends every process
 * and removes the context file and the state directory.
 *
 * Each test uses its own prefix (so its own state dir and context file), and `down` runs
 * in teardown whatever happens. bin/shoal.js runs dist/: build first (node scripts/build.mjs).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { contextFilePath } from '../../../src/api/context.ts';
import { createNetnsManager } from '../../../src/kernel/netns.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { requireKernel, run, testPrefix, waitFor } from '../../support/kernel.ts';

const SHOAL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/shoal.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `shoal ARGS` with `env` over a clean view of the caller's: no SHOAL_HOST, SHOAL_DATA_DIR, SHOAL_CONTEXT. */
function shoal(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = { ...process.env };
  for (const k of ['SHOAL_HOST', 'SHOAL_DATA_DIR', 'SHOAL_CONTEXT']) delete base[k];
  return new Promise((resolve) => {
    execFile('node', [SHOAL, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

interface ProcessStatus {
  host: string;
  netns: string;
  pid: number;
  alive: boolean;
  log: string;
}
interface StatusJson {
  up: boolean;
  hosts: Array<{ name: string; address: string; up: boolean }>;
  processes: Array<{ pid: number; netns: string; command: string }>;
  cluster?: {
    stateDir: string;
    context?: { file: string };
    manager?: ProcessStatus & { listenAddr: string; socket: string };
    agents: Array<ProcessStatus & { nodeId: string; nodeState?: string }>;
  };
}

async function status(prefix: string): Promise<StatusJson> {
  const r = await shoal(['testbed', 'status', '--format', 'json', '--prefix', prefix]);
  if (r.code !== 0) throw new Error(`testbed status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function nsInode(name: string): string {
  return `net:[${statSync(`/run/netns/${name}`).ino}]`;
}

if (requireKernel(t)) {
  const netns = createNetnsManager();
  const ours = async (prefix: string): Promise<string[]> => (await netns.list()).filter((n) => n.startsWith(prefix));
  const cleanUp = async (prefix: string): Promise<void> => {
    await shoal(['testbed', 'down', '--prefix', prefix]);
    for (const n of await ours(prefix)) await netns.delete(n);
    rmSync(testbedPaths(prefix).root, { recursive: true, force: true });
    rmSync(contextFilePath(prefix), { force: true });
  };

  t.test('namespaces only: three hosts reach each other and the outside client reaches them', async (t) => {
    const prefix = `${testPrefix()}-`;
    t.teardown(() => cleanUp(prefix));

    const up = await shoal(['testbed', 'up', '--hosts', '3', '--no-cluster', '--prefix', prefix]);
    t.equal(up.code, 0, `up exits 0 ${up.stderr}`);
    t.match(up.stdout, /testbed is up/);
    t.match(up.stdout, /no cluster started \(--no-cluster\)/);
    t.same((await ours(prefix)).sort(), [`${prefix}h1`, `${prefix}h2`, `${prefix}h3`, `${prefix}ul`], 'underlay and three hosts');

    for (const i of [1, 2, 3]) {
      const ping = await shoal(['testbed', 'exec', 'client', '--prefix', prefix, '--', 'ping', '-c', '1', '-W', '2', `192.0.2.${10 + i}`]);
      t.equal(ping.code, 0, `client pings h${i} ${ping.stderr}`);
    }
    const hostToHost = run('nsenter', [`--net=/run/netns/${prefix}h1`, '--', 'ping', '-c', '1', '-W', '2', '192.0.2.13']);
    t.match(hostToHost, /1 received/, 'h1 pings h3');
    t.equal(run('nsenter', [`--net=/run/netns/${prefix}h2`, '--', 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1', 'hosts forward');

    const again = await shoal(['testbed', 'up', '--hosts', '3', '--no-cluster', '--prefix', prefix]);
    t.equal(again.code, 0, 'up is idempotent');
    const s = await status(prefix);
    t.equal(s.up, true);
    t.same(
      s.hosts.map((h) => `${h.name} ${h.address} ${h.up}`),
      ['h1 192.0.2.11 true', 'h2 192.0.2.12 true', 'h3 192.0.2.13 true'],
    );
    t.same(s.processes, [], '--no-cluster starts no process');
    t.equal(s.cluster, undefined, 'and records no cluster');
    t.notOk(existsSync(contextFilePath(prefix)), 'nor writes a context file');

    const bad = await shoal(['testbed', 'exec', 'h9', '--prefix', prefix, '--', 'true']);
    t.not(bad.code, 0, 'exec on a missing host fails');
    t.match(bad.stderr, /SHOAL_ERR_TESTBED_NOT_UP/);

    // a process left running inside a host (as if its parent died with kill -9)
    const child = execFile('nsenter', [`--net=/run/netns/${prefix}h2`, '--', 'sleep', '300']);
    const h2 = nsInode(`${prefix}h2`);
    await waitFor(() => netnsOf(child.pid!) === h2, 30_000, 'the process to run inside h2');

    const down = await shoal(['testbed', 'down', '--prefix', prefix]);
    t.equal(down.code, 0, `down exits 0 ${down.stderr}`);
    t.same(await ours(prefix), [], 'down leaves no namespace');
    const exited = await new Promise<boolean>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
      const deadline = setTimeout(() => resolve(false), 30_000);
      child.on('exit', () => {
        clearTimeout(deadline);
        resolve(true);
      });
    });
    t.ok(exited, 'the process inside the testbed was ended');
    t.equal((await shoal(['testbed', 'down', '--prefix', prefix])).code, 0, 'down again is a no-op');
  });

  t.test('scenario 1: up starts a manager and an agent per host; plain shoal commands reach it through the context', async (t) => {
    const prefix = `${testPrefix()}-`;
    const ctxFile = contextFilePath(prefix);
    const stateDir = testbedPaths(prefix).root;
    const recorded = new Set<number>();
    t.teardown(() => cleanUp(prefix));
    // plain `shoal`: no -H, no SHOAL_HOST, no data dir; the context selected by name (the
    // default context, /run/shoal/context.json, belongs to the default testbed)
    const plain = { SHOAL_CONTEXT: prefix };

    const up = await shoal(['testbed', 'up', '--hosts', '3', '--prefix', prefix]);
    t.equal(up.code, 0, `up exits 0 ${up.stderr}`);
    t.match(up.stdout, /testbed is up/);
    t.match(up.stdout, /manager: tcp:\/\/192\.0\.2\.11:2377/, 'prints the manager address');
    t.match(up.stdout, /^manager\s+h1\s+\d+\s+started/m, 'prints the manager it started');
    for (const h of ['h1', 'h2', 'h3'])
      t.match(up.stdout, new RegExp(`^agent\\s+${h}\\s+\\d+\\s+started\\s+\\w+ \\(ready\\)`, 'm'), `and ${h}'s agent`);
    t.match(up.stdout, new RegExp(`context: ${ctxFile.replace(/[.]/g, '\\.')}`), 'and the context file');
    t.ok(existsSync(ctxFile), 'the context file exists');

    const s1 = await status(prefix);
    const c1 = s1.cluster!;
    t.ok(c1, 'status shows the cluster');
    t.equal(c1.stateDir, stateDir);
    t.ok(c1.manager?.alive, 'the manager runs');
    t.equal(netnsOf(c1.manager!.pid), nsInode(`${prefix}h1`), 'inside h1');
    t.same(
      c1.agents.map((a) => `${a.host} ${a.alive} ${a.nodeState}`),
      ['h1 true ready', 'h2 true ready', 'h3 true ready'],
    );
    for (const a of c1.agents) {
      t.equal(netnsOf(a.pid), nsInode(`${prefix}${a.host}`), `${a.host}'s agent runs inside ${a.host}`);
      t.ok(existsSync(a.log), `${a.host}'s agent logs to ${a.log}`);
    }
    const pids = [c1.manager!.pid, ...c1.agents.map((a) => a.pid)];
    for (const p of pids) recorded.add(p);
    t.equal(new Set(pids).size, 4, 'four processes');
    t.same(s1.processes.map((p) => p.pid).sort(), [...pids].sort(), 'and nothing else runs in the testbed');

    const ls = await shoal(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], plain);
    t.equal(ls.code, 0, `node ls with no -H exits 0 ${ls.stderr}`);
    t.same(ls.stdout.trim().split('\n').sort(), ['h1 Ready', 'h2 Ready', 'h3 Ready'], 'three Ready nodes through the context');

    const envWins = await shoal(['node', 'ls'], { ...plain, SHOAL_HOST: 'unix:///nonexistent/shoal/manager.sock' });
    t.not(envWins.code, 0, 'SHOAL_HOST beats the context');
    t.match(envWins.stderr, /SHOAL_ERR_MANAGER_UNREACHABLE/);
    const flagWins = await shoal(['node', 'ls', '-H', 'unix:///nonexistent/shoal/manager.sock'], plain);
    t.not(flagWins.code, 0, '-H beats the context');
    t.match(flagWins.stderr, /SHOAL_ERR_MANAGER_UNREACHABLE/);
    const dataDirWins = await shoal(['node', 'ls', '--data-dir', '/nonexistent/shoal'], plain);
    t.not(dataDirWins.code, 0, '--data-dir beats the context');
    const missing = await shoal(['node', 'ls'], { SHOAL_CONTEXT: `${prefix}gone-` });
    t.not(missing.code, 0, 'a SHOAL_CONTEXT without a file is an error');
    t.match(missing.stderr, /SHOAL_ERR_NOT_FOUND/);

    const again = await shoal(['testbed', 'up', '--hosts', '3', '--prefix', prefix]);
    t.equal(again.code, 0, `up again exits 0 ${again.stderr}`);
    t.notMatch(again.stdout, /\bstarted\b/, 'starts nothing');
    const c2 = (await status(prefix)).cluster!;
    t.same([c2.manager!.pid, ...c2.agents.map((a) => a.pid)], pids, 'the same PIDs');

    const shrink = await shoal(['testbed', 'up', '--hosts', '2', '--prefix', prefix]);
    t.equal(shrink.code, 0, `up --hosts 2 exits 0 ${shrink.stderr}`);
    const h3 = c1.agents.find((a) => a.host === 'h3')!;
    t.match(shrink.stdout, new RegExp(`h3 left the cluster: its agent \\(pid ${h3.pid}\\) ended, node ${h3.nodeId} removed`));
    await waitFor(() => !running(h3.pid), 10_000, "h3's agent to end");
    const c3 = (await status(prefix)).cluster!;
    t.same(
      c3.agents.map((a) => `${a.host} ${a.pid} ${a.alive}`),
      c1.agents.slice(0, 2).map((a) => `${a.host} ${a.pid} true`),
      'h1 and h2 keep their agents',
    );
    t.equal(c3.manager!.pid, c1.manager!.pid, 'and the manager');
    const ls2 = await shoal(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], plain);
    t.same(ls2.stdout.trim().split('\n').sort(), ['h1 Ready', 'h2 Ready'], "h3's node left the cluster");

    const down = await shoal(['testbed', 'down', '--prefix', prefix]);
    t.equal(down.code, 0, `down exits 0 ${down.stderr}`);
    await waitFor(() => ![...recorded].some(running), 10_000, 'every process of the testbed to end');
    t.same(await ours(prefix), [], 'no namespace is left');
    t.notOk(existsSync(ctxFile), 'the context file is gone');
    t.notOk(existsSync(stateDir), 'the state dir is gone');
    const after = await shoal(['node', 'ls'], plain);
    t.match(after.stderr, /SHOAL_ERR_NOT_FOUND/, 'the context no longer exists');
  });
}
