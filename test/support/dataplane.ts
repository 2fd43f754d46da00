/**
 * Support for data-plane end-to-end tests: a testbed cluster of its own (`shoal testbed up`
 * with a unique short prefix: a manager in h1, an agent in every host), the CLI pointed at
 * it through its context, commands run inside the testbed's namespaces, and the kernel
 * state of each host read back. `down` runs in teardown whatever happens.
 *
 * bin/shoal.js runs dist/: the test runner builds first.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Task } from '../../src/api/api-types.ts';
import { connectManager, type ManagerClient } from '../../src/api/client.ts';
import { agentPrefix } from '../../src/testbed/testbed.ts';
import { testbedPaths } from '../../src/testbed/state.ts';
import { SHOAL_BIN } from './manager-harness.ts';
import { waitUntil } from './wait.ts';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never throws on a non-zero exit). */
export function exec(cmd: string, args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, ...(options.env ? { env: options.env } : {}) },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code as number) : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs argv inside a named network namespace. */
export function inNs(ns: string, argv: readonly string[], timeoutMs = 30_000): Promise<Result> {
  return exec('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { timeoutMs });
}

/** Starts argv inside a namespace in the background; the caller ends it. */
export function spawnInNs(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
}

export interface AgentRecord {
  host: string;
  netns: string;
  pid: number;
  nodeId: string;
  address: string;
  dataDir: string;
  argv: string[];
}

export interface Cluster {
  prefix: string;
  hosts: number;
  /** Environment for CLI calls that selects this testbed's context. */
  env: NodeJS.ProcessEnv;
  client: ManagerClient;
  shoal(args: readonly string[], timeoutMs?: number): Promise<Result>;
  /** The CLI's stdout; throws with its output when it exits non-zero. */
  sh(args: readonly string[]): Promise<string>;
  hostNs(i: number): string;
  underlayNs: string;
  agentPrefix(i: number): string;
  agents(): AgentRecord[];
  /** Host index (1-based) of a node ID. */
  hostOf(nodeId: string): number;
  sandboxNs(taskOrContainerId: string, nodeId: string): string;
  overlayNs(networkId: string, host: number): string;
  /** The running tasks of a service (with their node's host index). */
  running(service: string): Promise<Array<Task & { host: number; ip: string }>>;
  /** Waits until the service has exactly n running tasks; returns them. */
  waitRunning(service: string, n: number, timeoutMs?: number): Promise<Array<Task & { host: number; ip: string }>>;
  /** `shoal testbed up` again (restarts agents that are gone). */
  up(): Promise<Result>;
  /**
   * Starts host i's agent again at once, with the command line the testbed recorded (plus
   * `extraArgs`), logging to `<log dir>/agent-h<i>-<logName>.log`; the test's teardown
   * ends it. Not through `testbed up`: its own start-up on a loaded machine can outlast the
   * manager's heartbeat timeout, and the node would be marked down and its tasks replaced.
   */
  startAgent(i: number, logName: string, extraArgs?: readonly string[]): ChildProcess;
}

/** A testbed prefix short enough that agents get `<prefix>hN-` (testbed.ts agentPrefix). */
export function clusterPrefix(): string {
  return `sd${randomBytes(2).toString('hex').slice(0, 3)}-`;
}

const CLEAN_ENV_KEYS = ['SHOAL_HOST', 'SHOAL_DATA_DIR', 'SHOAL_CONTEXT'];

export async function startCluster(t: Test, hosts = 3, prefix = clusterPrefix()): Promise<Cluster> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of CLEAN_ENV_KEYS) delete env[k];
  env['SHOAL_CONTEXT'] = prefix;
  const shoal = (args: readonly string[], timeoutMs = 120_000): Promise<Result> =>
    exec(process.execPath, [SHOAL_BIN, ...args], { env, timeoutMs });
  t.teardown(async () => {
    const down = await shoal(['testbed', 'down', '--prefix', prefix]);
    if (down.code !== 0) t.comment(`testbed down: ${down.stderr}`);
  });
  const up = await shoal(['testbed', 'up', '--hosts', String(hosts), '--prefix', prefix], 240_000);
  if (up.code !== 0) throw new Error(`testbed up failed (${up.code}): ${up.stdout}\n${up.stderr}`);
  const paths = testbedPaths(prefix);
  const state = (): { agents: AgentRecord[] } =>
    JSON.parse(readFileSync(join(paths.root, 'state.json'), 'utf8')) as { agents: AgentRecord[] };
  const client = connectManager({ host: `unix://${join(paths.root, 'data', 'h1', 'manager.sock')}` });
  t.teardown(() => client.close());
  const hostOf = (nodeId: string): number => {
    const a = state().agents.find((x) => x.nodeId === nodeId);
    if (!a) throw new Error(`no testbed agent runs node ${nodeId}`);
    return Number(a.host.replace(/^h/, ''));
  };
  const running = async (service: string): Promise<Array<Task & { host: number; ip: string }>> => {
    const tasks = await client.listTasks({ services: [service], desiredState: 'running' });
    return tasks
      .filter((x) => x.status.state === 'running')
      .map((x) => ({ ...x, host: hostOf(x.nodeId), ip: x.networks[0]?.addresses[0]?.split('/')[0] ?? '' }));
  };
  const cluster: Cluster = {
    prefix,
    hosts,
    env,
    client,
    shoal,
    sh: async (args) => {
      const r = await shoal(args);
      if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    hostNs: (i) => `${prefix}h${i}`,
    underlayNs: `${prefix}ul`,
    agentPrefix: (i) => agentPrefix(prefix, i),
    agents: () => state().agents,
    hostOf,
    sandboxNs: (id, nodeId) => `${agentPrefix(prefix, hostOf(nodeId))}sb-${id.slice(0, 12)}`,
    overlayNs: (networkId, host) => `${agentPrefix(prefix, host)}ov-${networkId.slice(0, 12)}`,
    running,
    waitRunning: (service, n, timeoutMs = 90_000) =>
      waitUntil(
        async () => {
          const r = await running(service);
          const all = await client.listTasks({ services: [service], desiredState: 'running' });
          return r.length === n && all.length === n ? r : undefined;
        },
        timeoutMs,
        `${service} to run ${n} task(s)`,
        { retryErrors: true, intervalMs: 50 },
      ),
    up: () => shoal(['testbed', 'up', '--hosts', String(hosts), '--prefix', prefix], 240_000),
    startAgent: (i, logName, extraArgs = []) => {
      const rec = state().agents.find((a) => a.host === `h${i}`);
      if (!rec) throw new Error(`the testbed records no agent for h${i}`);
      const fd = openSync(join(paths.logDir, `agent-h${i}-${logName}.log`), 'a', 0o600);
      const child = spawn('nsenter', [`--net=/run/netns/${rec.netns}`, '--', ...rec.argv, ...extraArgs], {
        stdio: ['ignore', fd, fd],
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env['HOME'] ?? '/root' },
      });
      closeSync(fd);
      t.teardown(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      });
      return child;
    },
  };
  return cluster;
}

/** Permanent neighbour entries (IP -> MAC) of a namespace's vxlan devices. */
export async function permanentNeighbours(ns: string): Promise<Map<string, string>> {
  const r = await exec('ip', ['-j', '-n', ns, 'neigh', 'show', 'nud', 'permanent']);
  if (r.code !== 0) return new Map();
  const rows = (r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{ dst: string; lladdr?: string; dev: string }>;
  return new Map(rows.filter((x) => x.dev.startsWith('vx')).map((x) => [x.dst, x.lladdr ?? '']));
}

/** Static VXLAN fdb entries (MAC -> VTEP) of a namespace. */
export async function vxlanFdb(ns: string): Promise<Map<string, string>> {
  const r = await exec('bridge', ['-j', '-n', ns, 'fdb', 'show']);
  if (r.code !== 0) return new Map();
  const rows = (r.stdout.trim() ? JSON.parse(r.stdout) : []) as Array<{ mac: string; dst?: string; ifname: string; state?: string }>;
  return new Map(rows.filter((x) => x.ifname.startsWith('vx') && x.dst && x.mac !== '00:00:00:00:00:00').map((x) => [x.mac, x.dst!]));
}
