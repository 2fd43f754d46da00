/**
 * Test support for the manager: an in-process manager core on a temporary SQLite file with
 * virtual time; an in-process manager with its real gRPC servers (mTLS on loopback) and
 * scripted agents joined to it; and real `shoal manager` child processes with scripted
 * agent processes (scripted-agent-main.ts) for end-to-end tests. Agents here are scripted
 * (scripted-agent.ts): the real `shoal agent` programs the kernel of the namespace it runs
 * in, and these tests run in the root namespace. Everything a helper creates (directories,
 * processes, servers) is removed, closed or killed by PID in the test's teardown, also
 * when the test fails.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { joinCluster } from '../../src/agent/join.ts';
import type { AgentIdentity } from '../../src/agent/join.ts';
import { FakeClock } from '../../src/common/clock.ts';
import { silentLogger } from '../../src/common/logger.ts';
import type { Logger } from '../../src/common/logger.ts';
import { initCluster } from '../../src/manager/cluster.ts';
import { connectManager } from '../../src/api/client.ts';
import type { ManagerClient } from '../../src/api/client.ts';
import { resolveManagerConfig } from '../../src/manager/config.ts';
import type { ManagerConfig, ManagerConfigInput } from '../../src/manager/config.ts';
import { createNodeCsr } from '../../src/api/csr.ts';
import { ManagerControl } from '../../src/manager/control.ts';
import { MANAGER_SCHEMA } from '../../src/manager/objects.ts';
import type { Kinds } from '../../src/manager/objects.ts';
import { Dispatcher } from '../../src/manager/session.ts';
import { SqliteStore } from '../../src/manager/sqlite-store.ts';
import { startManager } from '../../src/manager/manager.ts';
import type { RunningManager as InProcessServer } from '../../src/manager/manager.ts';
import { waitUntil } from './wait.ts';
import { freePort } from './net.ts';
import { ScriptedAgent } from './scripted-agent.ts';
import type { ScriptedAgentOptions } from './scripted-agent.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHOAL_BIN = join(REPO_ROOT, 'bin', 'shoal.js');
/** The scripted agent as a process (run with `node --import tsx`). */
export const SCRIPTED_AGENT_MAIN = join(REPO_ROOT, 'test', 'support', 'scripted-agent-main.ts');

/** A temporary directory removed in teardown. */
export function tempDir(t: Test, prefix = 'shoal-mgr-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails after
 * `timeoutMs`; a throwing check counts as "not yet" (its last error is quoted on timeout).
 */
export function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  return waitUntil(check, timeoutMs, what, { retryErrors: true });
}

export interface InProcessManager {
  control: ManagerControl;
  store: SqliteStore<Kinds>;
  clock: FakeClock;
  config: ManagerConfig;
  dispatcher: Dispatcher;
  dir: string;
  /**
   * Closes and reopens the store and core from the same file (a restart): the new core
   * resumes the drains under way, as `startManager` does (`resumed` settles when it has).
   */
  reopen(): InProcessManager;
  /** After `reopen`: the drains resumed (the number of tasks waiting again). */
  resumed: Promise<number>;
}

/**
 * The manager core without servers: a real SQLite store in a temp dir, a FakeClock (wall
 * clock starts 2026-01-01), an initialised cluster. The dispatcher is created but not
 * started (call `dispatcher.start()` for heartbeat tests). `options.logger` receives what
 * the core and the dispatcher log (default: nothing).
 */
export async function inProcessManager(
  t: Test,
  input: Partial<ManagerConfigInput> = {},
  options: { logger?: Logger } = {},
): Promise<InProcessManager> {
  const dir = tempDir(t);
  const config = resolveManagerConfig({ dataDir: dir, listenAddr: '127.0.0.1:2377', advertiseAddr: '127.0.0.1', ...input });
  const clock = new FakeClock();
  const logger = options.logger ?? silentLogger;
  const open = (): InProcessManager => {
    const store = new SqliteStore<Kinds>(join(dir, 'manager.db'), MANAGER_SCHEMA);
    const cluster = store.view((tx) => tx.get('cluster', 'cluster'));
    const control = new ManagerControl({ store, clock, config, logger }, cluster ?? config);
    const dispatcher = new Dispatcher({ control, config, clock, logger });
    const m: InProcessManager = {
      control,
      store,
      clock,
      config,
      dispatcher,
      dir,
      resumed: Promise.resolve(0),
      reopen: () => {
        dispatcher.close();
        control.close();
        store.close();
        const next = open();
        next.resumed = next.control.resumeDrains();
        t.teardown(() => {
          next.dispatcher.close();
          next.control.close();
          next.store.close();
        });
        return next;
      },
    };
    return m;
  };
  const m = open();
  t.teardown(() => {
    m.dispatcher.close();
    m.control.close();
    m.store.close();
  });
  await initCluster(m.control, config, '127.0.0.1:2377');
  return m;
}

/** Re-exported for the e2e tests that take it from here. */
export { freePort };

export interface ChildHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (or 128+signal) once the process is gone. */
  exited(): Promise<number>;
  signal(sig: NodeJS.Signals): void;
}

/** Spawns `node bin/shoal.js ARGS`, killed by PID (SIGKILL) in teardown if still running. */
export function spawnShoal(t: Test, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildHandle {
  return spawnNode(t, [SHOAL_BIN, ...args], env);
}

/**
 * Spawns the scripted agent as a process with `shoal agent`'s flags (--join-token,
 * --manager, --advertise-addr, --data-dir, --hostname, --gossip-port); killed by PID in
 * teardown if still running.
 */
export function spawnScriptedAgent(t: Test, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildHandle {
  return spawnNode(t, ['--import', 'tsx', SCRIPTED_AGENT_MAIN, ...args], env);
}

function spawnNode(t: Test, argv: readonly string[], env: NodeJS.ProcessEnv): ChildHandle {
  const child = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHOAL_HOST: '', SHOAL_LOG_LEVEL: 'info', ...env },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start node ${argv.join(' ')}`);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  });
  return {
    child,
    pid,
    output: () => out,
    exited: () => exited,
    signal: (sig) => {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    },
  };
}

export interface ManagerProcess extends ChildHandle {
  readonly dataDir: string;
  readonly port: number;
  readonly client: ManagerClient;
}

/**
 * Starts `shoal manager` on 127.0.0.1:PORT with DATA-DIR and waits until the unix socket
 * answers (the client is closed in teardown).
 */
export async function startManagerProcess(
  t: Test,
  options: { dataDir: string; port: number; extraArgs?: readonly string[]; timeoutMs?: number },
): Promise<ManagerProcess> {
  const h = spawnShoal(t, [
    'manager',
    '--data-dir',
    options.dataDir,
    '--listen-addr',
    `127.0.0.1:${options.port}`,
    '--advertise-addr',
    '127.0.0.1',
    ...(options.extraArgs ?? []),
  ]);
  const client = connectManager({ dataDir: options.dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  await until(
    async () => {
      if (h.child.exitCode !== null) throw new Error(`shoal manager exited with ${h.child.exitCode}:\n${h.output()}`);
      await client.inspectSwarm();
      return true;
    },
    options.timeoutMs ?? 60_000,
    `the manager to answer on its socket (output so far:\n${h.output()})`,
  );
  return { ...h, dataDir: options.dataDir, port: options.port, client };
}

/**
 * A manager in this process with its real servers: the unix socket and mTLS on
 * 127.0.0.1 (a free port), a temporary data directory; destroyed in teardown. `client` is
 * an API client on its unix socket (the CLI's connection).
 */
export async function startServerInProcess(
  t: Test,
  input: Partial<ManagerConfigInput> = {},
): Promise<InProcessServer & { client: ManagerClient }> {
  const dir = tempDir(t, 'shoal-srv-');
  const m = await startManager({ dataDir: dir, listenAddr: '127.0.0.1:0', advertiseAddr: '127.0.0.1', ...input }, { noSweep: true });
  const client = connectManager({ dataDir: dir, env: {}, timeoutMs: 30_000 });
  t.teardown(() => {
    client.close();
    m.destroy();
  });
  return Object.assign(m, { client });
}

/** A worker node joined straight through the control (a certificate issued, then Ready): no agent, no session. */
export async function readyNode(control: ManagerControl, hostname: string, addr: string): Promise<string> {
  const swarm = await control.inspectSwarm();
  const r = await control.issueNodeCertificate({
    token: swarm.joinTokens.worker,
    csrPem: createNodeCsr().csrPem,
    hostname,
    advertiseAddr: addr,
  });
  await control.nodeReady(r.nodeId, { hostname, platformOs: 'linux', platformArch: 'x64', version: '0', addr });
  return r.nodeId;
}

/** Joins a node with a worker (or manager) token, as `shoal agent` does, into a temporary directory. */
export async function joinNode(
  t: Test,
  manager: { client: ManagerClient; managerAddr: string },
  hostname: string,
  role: 'worker' | 'manager' = 'worker',
): Promise<{ identity: AgentIdentity; dataDir: string }> {
  const dataDir = tempDir(t, `shoal-agent-${hostname}-`);
  const token = (await manager.client.joinToken(role)).token;
  const identity = await joinCluster({ token, managerAddr: manager.managerAddr, advertiseAddr: '127.0.0.1', dataDir, hostname });
  return { identity, dataDir };
}

/**
 * A scripted agent (scripted-agent.ts) joined to the manager and started; it waits until
 * the manager lists its node Ready. Closed in teardown.
 */
export async function startScriptedAgent(
  t: Test,
  manager: { client: ManagerClient; managerAddr: string },
  hostname: string,
  options: Partial<ScriptedAgentOptions> = {},
): Promise<ScriptedAgent> {
  const { identity, dataDir } = await joinNode(t, manager, hostname);
  const agent = new ScriptedAgent({ identity, hostname, dataDir, reconnectMinMs: 50, reconnectMaxMs: 500, ...options });
  t.teardown(() => agent.close());
  agent.start();
  await until(
    async () => (await manager.client.inspectNode(identity.nodeId)).status.state === 'ready',
    30_000,
    `node ${hostname} to be ready`,
  );
  return agent;
}
