/**
 * Manager benchmark: `npm run bench -- manager`. Runs a real `shoal manager` process (its
 * own SQLite file in a temporary data directory, loopback TCP port, API over the unix
 * socket) and drives it through the typed client. Progress goes to stderr; the last stdout
 * line is one JSON object of figures (all wall-clock milliseconds):
 *
 * - create_10k_networks_ms: 10,000 `network create` calls (no --subnet: VXLAN ID, /24 from
 *   the default pool, one transaction each), 32 in flight at a time.
 * - create_100k_tasks_ms: 100 `service create` calls with 1,000 replicas each, attached to
 *   one of 10 /16 networks (one transaction per service: VIP, 1,000 tasks with an address
 *   and MAC each, scheduling). No node has an agent, so the tasks are allocated and left
 *   pending; assignment streaming is not part of this figure. 4 calls in flight.
 * - create_service_p99_ms (and _p50_): latency of one `service create` (3 replicas, one
 *   /24 network, one automatic ingress port), 500 calls one after another, on the manager
 *   holding the state above.
 * - restart_ms_10k_networks_100k_tasks: SIGKILL, then from spawning `shoal manager` until
 *   the API answers with that state: `network ls` returns all 10,011 networks and
 *   `service ps` of one service returns its 1,000 tasks (median of three). Goal < 2,000 ms.
 *   restart_api_up_ms: the same start until the first API call succeeds.
 *   restart_manager_start_ms: the part of it the manager itself spends (open the store,
 *   check certificates, bind); the rest is loading the program (Node, tsx, the CLI).
 *   restart_clean_ms: the same after SIGTERM (graceful stop, WAL checkpointed).
 * - first_allocation_after_restart_ms: the first `network create` after the restart, which
 *   rebuilds the allocator's in-memory IPAM state from the store (deferred at start-up).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultNetworkSpec, defaultServiceSpec } from '../src/manager/api-defaults.ts';
import { connectManager } from '../src/manager/client.ts';
import type { ManagerClient } from '../src/manager/client.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shoal.js');
const NETWORKS = Number(process.env['BENCH_NETWORKS'] ?? 10_000);
const SERVICES = Number(process.env['BENCH_SERVICES'] ?? 100);
const REPLICAS = Number(process.env['BENCH_REPLICAS'] ?? 1_000);
const BIG_NETWORKS = 10;
const LATENCY_SAMPLES = Number(process.env['BENCH_LATENCY_SAMPLES'] ?? 500);

function log(msg: string): void {
  process.stderr.write(`manager: ${msg}\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

interface ManagerChild {
  child: ChildProcess;
  /** startMs and uptimeMs from the manager's "manager ready" log line, once printed. */
  ready(): { startMs: number; uptimeMs: number } | undefined;
}

function spawnManager(dataDir: string, port: number): ManagerChild {
  const child = spawn(
    process.execPath,
    [BIN, 'manager', '--data-dir', dataDir, '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1', '--log-level', 'info'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SHOAL_HOST: '' },
    },
  );
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const line of d.split('\n')) if (/"level":(40|50|60)/.test(line)) process.stderr.write(`${line}\n`);
  });
  return {
    child,
    ready: () => {
      const m = /"startMs":(\d+),"uptimeMs":(\d+)/.exec(err);
      return m ? { startMs: Number(m[1]), uptimeMs: Number(m[2]) } : undefined;
    },
  };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid !== undefined) process.kill(child.pid, signal);
  await exited;
}

/**
 * Polls with a fresh connection per attempt: a channel that failed once backs off for a
 * second or more before it retries, which would be measured as start-up time.
 */
async function waitUp(dataDir: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`manager exited with status ${child.exitCode}`);
    const probe = connectManager({ dataDir, env: {}, timeoutMs: 5_000 });
    try {
      await probe.inspectSwarm();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error('manager did not answer in time');
      await new Promise((r) => setTimeout(r, 2));
    } finally {
      probe.close();
    }
  }
}

async function pool<T>(count: number, inFlight: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

interface RestartResult {
  child: ManagerChild;
  client: ManagerClient;
  upMs: number;
  stateMs: number;
  /** The manager's own start (store, certificates, listeners), from its log. */
  managerStartMs: number;
}

async function restart(dataDir: string, port: number, previous: ManagerChild, signal: NodeJS.Signals): Promise<RestartResult> {
  await stop(previous.child, signal);
  const client = connectManager({ dataDir, env: {}, timeoutMs: 60_000 });
  const t0 = performance.now();
  const child = spawnManager(dataDir, port);
  await waitUp(dataDir, child.child, 60_000);
  const upMs = performance.now() - t0;
  const nets = await client.listNetworks();
  const tasks = await client.listTasks({ services: ['svc-0'] });
  const stateMs = performance.now() - t0;
  if (nets.length !== NETWORKS + BIG_NETWORKS + 1)
    throw new Error(`expected ${NETWORKS + BIG_NETWORKS + 1} networks after restart, got ${nets.length}`);
  if (tasks.length !== REPLICAS) throw new Error(`expected ${REPLICAS} tasks of svc-0 after restart, got ${tasks.length}`);
  return { child, client, upMs, stateMs, managerStartMs: child.ready()?.startMs ?? -1 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-bench-manager-'));
  const port = await freePort();
  let child = spawnManager(dataDir, port);
  let client = connectManager({ dataDir, env: {}, timeoutMs: 120_000 });
  try {
    await waitUp(dataDir, child.child, 60_000);
    log(`manager up (pid ${child.child.pid}), data dir ${dataDir}`);

    let t0 = performance.now();
    await pool(NETWORKS, 32, async (i) => {
      await client.createNetwork(defaultNetworkSpec(`net-${i}`));
    });
    const createNetworksMs = performance.now() - t0;
    log(`${NETWORKS} networks: ${createNetworksMs.toFixed(0)} ms`);

    for (let i = 0; i < BIG_NETWORKS; i++) {
      await client.createNetwork({ ...defaultNetworkSpec(`big-${i}`), subnets: [{ subnet: `172.${16 + i}.0.0/16`, auxAddresses: {} }] });
    }
    t0 = performance.now();
    await pool(SERVICES, 4, async (i) => {
      await client.createService({
        ...defaultServiceSpec(`svc-${i}`),
        mode: { replicated: { replicas: REPLICAS } },
        networks: [{ target: `big-${i % BIG_NETWORKS}`, aliases: [] }],
      });
    });
    const createTasksMs = performance.now() - t0;
    log(`${SERVICES} services x ${REPLICAS} replicas: ${createTasksMs.toFixed(0)} ms`);

    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const s = performance.now();
      await client.createService({
        ...defaultServiceSpec(`lat-${i}`),
        mode: { replicated: { replicas: 3 } },
        networks: [{ target: `net-${i}`, aliases: [] }],
        endpointSpec: { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }] },
      });
      latencies.push(performance.now() - s);
    }
    latencies.sort((a, b) => a - b);
    log(`service create latency p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`);

    // three crash restarts (the box is shared: the median is the figure, all three are logged)
    const crashes: RestartResult[] = [];
    for (let i = 0; i < 3; i++) {
      client.close();
      const r = await restart(dataDir, port, child, 'SIGKILL');
      child = r.child;
      client = r.client;
      crashes.push(r);
      log(
        `restart after SIGKILL #${i + 1}: API up ${r.upMs.toFixed(0)} ms (manager start ${r.managerStartMs} ms), state answered ${r.stateMs.toFixed(0)} ms`,
      );
    }

    t0 = performance.now();
    await client.createNetwork(defaultNetworkSpec('after-restart'));
    const firstAllocMs = performance.now() - t0;
    log(`first allocation after restart: ${firstAllocMs.toFixed(0)} ms`);
    await client.removeNetwork('after-restart');

    client.close();
    const clean = await restart(dataDir, port, child, 'SIGTERM');
    child = clean.child;
    client = clean.client;
    log(`restart after SIGTERM: state answered ${clean.stateMs.toFixed(0)} ms`);

    const figures = {
      bench: 'manager',
      create_10k_networks_ms: Math.round(createNetworksMs),
      create_100k_tasks_ms: Math.round(createTasksMs),
      restart_ms_10k_networks_100k_tasks: Math.round(median(crashes.map((r) => r.stateMs))),
      create_service_p99_ms: Number(percentile(latencies, 99).toFixed(2)),
      create_service_p50_ms: Number(percentile(latencies, 50).toFixed(2)),
      restart_api_up_ms: Math.round(median(crashes.map((r) => r.upMs))),
      restart_manager_start_ms: median(crashes.map((r) => r.managerStartMs)),
      restart_clean_ms: Math.round(clean.stateMs),
      first_allocation_after_restart_ms: Math.round(firstAllocMs),
      networks: NETWORKS + BIG_NETWORKS + 1,
      tasks: SERVICES * REPLICAS + LATENCY_SAMPLES * 3,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    client.close();
    await stop(child.child, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
