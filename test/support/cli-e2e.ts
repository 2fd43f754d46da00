/**
 * Support for end-to-end tests of the `shoal` CLI against a real manager process: start a
 * manager in a fresh data directory on a free loopback port, wait until its unix socket
 * answers, run `shoal ...` as a child process the way a user would, and stop the manager by
 * PID and remove the directory in teardown (also when the test fails). Agents join the way
 * a user joins them (a worker token), to make nodes that report Ready and run tasks; they
 * are scripted agents (scripted-agent.ts, as a process: the real session client, tasks
 * reported instead of run, exec and logs answered from canned data), because a real `shoal
 * agent` would program the kernel of the namespace these loopback tests run in.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { connectManager } from '../../src/api/client.ts';
import type { ManagerClient } from '../../src/api/client.ts';
import { waitFor } from './kernel.ts';
import { freePort, REPO_ROOT, SCRIPTED_AGENT_MAIN, SHOAL_BIN } from './manager-harness.ts';

export { freePort, REPO_ROOT } from './manager-harness.ts';

export interface ShoalResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as the bytes written (`shoal exec` passes binary output through). */
  readonly stdoutBytes: Buffer;
}

export interface RunningManager {
  readonly dataDir: string;
  readonly port: number;
  readonly pid: number;
  /** An API client on the manager's unix socket (closed in teardown). */
  readonly client: ManagerClient;
  /** Runs `shoal ARGS` against this manager (SHOAL_DATA_DIR set, SHOAL_HOST cleared). */
  shoal(args: readonly string[], options?: { input?: string; env?: Record<string, string> }): Promise<ShoalResult>;
  /** The manager's output so far (for failure messages). */
  log(): string;
}

/** Runs the shoal CLI as a child process and collects its output and exit status. */
export function runShoal(args: readonly string[], env: NodeJS.ProcessEnv, input?: string, timeoutMs = 60_000): Promise<ShoalResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SHOAL_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
    child.stdin.end(input ?? '');
  });
}

function stopChild(child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      clearTimeout(kill);
      resolve();
    }
  });
}

/**
 * Starts `shoal manager --data-dir DIR --listen-addr 127.0.0.1:PORT --advertise-addr
 * 127.0.0.1` and waits (up to 60 s) until its unix socket answers an API call. Teardown
 * kills it by PID and removes the data directory.
 */
export async function startManager(t: Test, extraArgs: readonly string[] = []): Promise<RunningManager> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-cli-e2e-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [SHOAL_BIN, 'manager', '--data-dir', dataDir, '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1', ...extraArgs],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_HOST: '' } },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start shoal manager');
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const client = connectManager({ dataDir, env: { ...process.env, SHOAL_HOST: '' }, timeoutMs: 10_000 });
  t.teardown(async () => {
    client.close();
    await stopChild(child, pid);
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`shoal manager exited with status ${child.exitCode}:\n${output}`);
        try {
          await client.inspectSwarm();
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'the manager socket to answer',
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nmanager output:\n${output}`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_DATA_DIR: dataDir, SHOAL_HOST: '' };
  return {
    dataDir,
    port,
    pid,
    client,
    shoal: (args, options = {}) => runShoal(args, { ...env, ...(options.env ?? {}) }, options.input),
    log: () => output,
  };
}

export interface RunningAgent {
  readonly hostname: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Stops the agent (SIGTERM, SIGKILL after 5 s); idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a scripted agent process with `shoal agent`'s flags (--join-token TOKEN --manager
 * 127.0.0.1:PORT --advertise-addr 127.0.0.1 --data-dir DIR --hostname HOSTNAME) and waits
 * (up to 60 s) until the manager lists a Ready node of that host name. Teardown kills it by
 * PID and removes its directory.
 */
export async function startAgent(
  t: Test,
  manager: RunningManager,
  hostname: string,
  role: 'worker' | 'manager' = 'worker',
): Promise<RunningAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), `shoal-cli-e2e-${hostname}-`));
  const token = (await manager.client.joinToken(role)).token;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      SCRIPTED_AGENT_MAIN,
      '--join-token',
      token,
      '--manager',
      `127.0.0.1:${manager.port}`,
      '--advertise-addr',
      '127.0.0.1',
      '--data-dir',
      dataDir,
      '--hostname',
      hostname,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_HOST: '', SHOAL_DATA_DIR: dataDir } },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the scripted agent');
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const stop = (): Promise<void> => stopChild(child, pid);
  t.teardown(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`agent ${hostname} exited with status ${child.exitCode}:\n${output}`);
        const nodes = await manager.client.listNodes();
        return nodes.some((n) => n.description.hostname === hostname && n.status.state === 'ready');
      },
      60_000,
      `node ${hostname} to be ready`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nagent output:\n${output}`);
  }
  return { hostname, dataDir, pid, stop };
}
