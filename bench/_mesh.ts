/**
 * The routing mesh against the same server reached directly, in one testbed and one run.
 * (Not a benchmark of its own: bench/vip.ts calls meshBench; `_` keeps scripts/bench from
 * running this file.)
 *
 * A 3-host testbed cluster (`shoal testbed up`), an overlay `front` and a service `web`: 3
 * replicas of bench/_mesh-server.mjs (200 and the host name) on `front`, publishing
 * 8080 -> 80 through the mesh. The reference is the same server started directly in host
 * h2's namespace on port 9000, no mesh.
 *
 * Throughput: h2 is drained first (its tasks move to h1 and h3; a drained node stays in the
 * routing mesh), so h2 is a host with no local replica. wrk from the outside client (the
 * underlay namespace, 192.0.2.1) against 192.0.2.12:8080 (h2's mesh table, its ingress
 * sandbox, a task on h1 or h3 over the ingress overlay) and against 192.0.2.12:9000 (the
 * same server run in h2 itself, no mesh): keep-alive
 * connections (requests per second), and a new connection per request (`Connection:
 * close`: connections per second, the rate the conntrack and NAT path sets). Rounds
 * alternate which side goes first; the figures are medians. The mesh side has three server
 * processes (one per task) where the direct side has one: on a small machine the servers
 * and wrk share the cores, so a ratio above 1 does not mean the mesh adds capacity. Every
 * wrk run must end with no socket error and no non-2xx answer: the counts are returned,
 * and any error is logged.
 *
 * CPU: each keep-alive run also reads the machine's busy CPU time (/proc/stat) before and
 * after, giving busy µs per request and the idle share of the cores. The testbed's hosts
 * are namespaces of one kernel, so the mesh's forwarding (h2's NAT, its ingress sandbox,
 * VXLAN out of h2 and into h1 or h3, their bridges: every hop of the request and of the
 * reply) runs on the same two cores as wrk and the servers, where on real hosts it would
 * run on h2's own. When both runs leave the cores nearly idle-free, requests per second is
 * cores / CPU per request, and direct_cpu_us_per_request / mesh_cpu_us_per_request bounds
 * mesh_rps_ratio on this machine.
 *
 * Convergence: `shoal service scale web=N` for N = 6, 3, 6, 2, each until every host's
 * ingress sandbox's load-balancer map holds exactly the ingress addresses of web's running
 * tasks (the manager's view: desired and current state running, N of them), maps polled
 * every POLL_MS through the agent's nft layer (in process; a sample is taken when the read
 * that saw it ended, so it includes up to one read's cost, logged). Three figures:
 *
 *  - scale_converge_*: scale-ups, per new task and host, from the moment the task listens
 *    (the server prints the time into its task log: the first moment it could serve) until
 *    that host's map first holds it. This is the load balancers' part: gossip, the
 *    agents' syncs, nft.
 *  - scale_up_command_*: scale-ups, per host, from the command returning until the map is
 *    complete: the above plus scheduling and the tasks' start (a Node process here).
 *  - scale_down_command_*: scale-downs, per host, from the command returning until the map
 *    is exactly the remaining tasks (the manager lists them once the others drained and
 *    stopped, so it includes the drain).
 *
 * The client namespace gets tcp_tw_reuse=1 and the port range 1024-65535 (why: at the
 * sysctl call).
 *
 *   SHOAL_BENCH_MESH_ROUNDS (3), SHOAL_BENCH_MESH_SECONDS (5 per wrk run),
 *   SHOAL_BENCH_MESH_CONNECTIONS (32), SHOAL_BENCH_KEEP_LOGS (a directory: the testbed's
 *   logs are copied there before it goes down)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagerClient } from '../src/api/client.ts';
import { connectManager } from '../src/api/client.ts';
import { packageRoot } from '../src/common/paths.ts';
import { createNft } from '../src/kernel/nft.ts';
import { testbedPaths } from '../src/testbed/state.ts';
import { agentPrefix } from '../src/testbed/testbed.ts';
import { median, percentile, round1, round2 } from './_stats.ts';
import { inNs, run, SHOAL, sleep, spawnSyncDown, until } from './_testbed.ts';

const ROUNDS = Number(process.env['SHOAL_BENCH_MESH_ROUNDS'] ?? 3);
const SECONDS = Number(process.env['SHOAL_BENCH_MESH_SECONDS'] ?? 5);
const CONNECTIONS = Number(process.env['SHOAL_BENCH_MESH_CONNECTIONS'] ?? 32);
/** Replica counts the convergence part scales web to, in order (it starts at 3). */
const SCALE_STEPS = [6, 3, 6, 2] as const;
const POLL_MS = 20;
/** USER_HZ, the unit of /proc/stat (100 on every Linux architecture this runs on). */
const CLOCK_TICKS = 100;
const CONVERGE_TIMEOUT_MS = 60_000;
const PUBLISHED = 8080;
const DIRECT_PORT = 9000;
const HOST = 2;
const HOST_ADDR = '192.0.2.12';
const HOSTS = [1, 2, 3] as const;

const SERVER = join(packageRoot(), 'bench', '_mesh-server.mjs');

/** Errors one kind of wrk run saw, summed over its rounds. */
export interface WrkErrors {
  non2xx: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

export interface MeshFigures {
  mesh_rps: number;
  direct_rps: number;
  mesh_rps_ratio: number;
  mesh_new_conn_rps: number;
  direct_new_conn_rps: number;
  scale_converge_p50_ms: number;
  scale_converge_p99_ms: number;
  scale_converge_samples: number;
  scale_up_command_p50_ms: number;
  scale_up_command_p99_ms: number;
  scale_down_command_p99_ms: number;
  /** Every count must be 0; anything else is a failed run (logged). */
  mesh_wrk_errors: { keepalive: WrkErrors; new_conn: WrkErrors; direct_keepalive: WrkErrors; direct_new_conn: WrkErrors };
  mesh_wrk_error_total: number;
  /**
   * Busy CPU of the whole machine per keep-alive request (medians, µs): wrk, the servers and
   * every host's kernel share the same cores here, so the ratio of these two is the ceiling
   * of mesh_rps_ratio when both runs keep the cores busy (idle shares below).
   */
  mesh_cpu_us_per_request: number;
  direct_cpu_us_per_request: number;
  mesh_idle_share: number;
  direct_idle_share: number;
}

interface WrkRun {
  rps: number;
  requests: number;
  errors: WrkErrors;
}

/** The machine's CPU time so far, in clock ticks: busy (user, nice, system, irq, softirq) and idle (idle, iowait). */
export function cpuTicks(procStat: string): { busy: number; idle: number } {
  const f = (/^cpu\s+(.*)$/m.exec(procStat)?.[1] ?? '').trim().split(/\s+/).map(Number);
  if (f.length < 7 || f.some((x) => !Number.isFinite(x))) throw new Error('/proc/stat has no cpu line');
  const [user, nice, system, idle, iowait, irq, softirq] = f as [number, number, number, number, number, number, number];
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait };
}

/** What one wrk run cost the whole machine: busy CPU µs per request, and the idle share of all cores. */
interface CpuCost {
  busyUsPerRequest: number;
  idleShare: number;
}

export function parseWrk(out: string): WrkRun {
  const num = (re: RegExp, i = 1): number => Number(re.exec(out)?.[i] ?? 0);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`wrk printed no request rate:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/;
  return {
    rps: Number(rps[1]),
    requests: num(/(\d+) requests in/),
    errors: {
      non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/),
      connect: num(sock, 1),
      read: num(sock, 2),
      write: num(sock, 3),
      timeout: num(sock, 4),
    },
  };
}

const noErrors = (): WrkErrors => ({ non2xx: 0, connect: 0, read: 0, write: 0, timeout: 0 });
const errorTotal = (e: WrkErrors): number => e.non2xx + e.connect + e.read + e.write + e.timeout;

function addErrors(into: WrkErrors, e: WrkErrors): void {
  into.non2xx += e.non2xx;
  into.connect += e.connect;
  into.read += e.read;
  into.write += e.write;
  into.timeout += e.timeout;
}

/** The bare addresses of a load-balancer map's backends for the published port, sorted (`name`: only that map's). */
export function mapBackends(json: string, port: number, name?: string): string[] {
  const doc = JSON.parse(json) as { nftables: Array<{ map?: { name?: string; elem?: unknown[] } }> };
  const out: string[] = [];
  for (const item of doc.nftables) {
    if (name !== undefined && item.map?.name !== name) continue;
    for (const e of item.map?.elem ?? []) {
      const [key, value] = e as [{ concat: unknown[] }, { concat: unknown[] }];
      if (key.concat[1] === port) out.push(String(value.concat[0]));
    }
  }
  return out.sort();
}

export async function meshBench(log: (m: string) => void): Promise<MeshFigures> {
  const prefix = `bm${randomBytes(2).toString('hex').slice(0, 3)}-`;
  const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_CONTEXT: prefix };
  delete env['SHOAL_HOST'];
  delete env['SHOAL_DATA_DIR'];
  const shoal = (args: string[]): Promise<string> => run(process.execPath, [SHOAL, ...args], { env, timeoutMs: 180_000 });
  const clientNs = `${prefix}ul`;
  const ingressNs = (h: number): string => `${agentPrefix(prefix, h)}sb-ingress-sbox`;
  const lbTable = (h: number): string => `${agentPrefix(prefix, h)}lb`;

  let testbedStarted = false;
  let direct: ChildProcess | undefined;
  let client: ManagerClient | undefined;
  // Synchronous: it also runs from a signal handler, which cannot wait.
  const endDirect = (): void => {
    if (direct?.pid !== undefined && direct.exitCode === null && direct.signalCode === null) {
      try {
        process.kill(direct.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    endDirect();
    client?.close();
    if (testbedStarted) {
      log(`${signal}: taking testbed ${prefix} down`);
      spawnSyncDown(prefix, env);
    }
    // vip.ts's own handler (registered after this one) ends the process; alone, end it here.
    if (process.listenerCount(signal) === 1) process.exit(130);
  };
  process.prependListener('SIGINT', onSignal);
  process.prependListener('SIGTERM', onSignal);

  try {
    log(`mesh: testbed ${prefix}, 3 hosts, a manager and three agents`);
    testbedStarted = true;
    await shoal(['testbed', 'up', '--hosts', '3', '--prefix', prefix]);
    const mc = connectManager({ host: `unix://${join(testbedPaths(prefix).dataDir(1), 'manager.sock')}` });
    client = mc;
    await shoal(['network', 'create', '-d', 'overlay', 'front']);
    await shoal([
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '3',
      '--network',
      'front',
      '--publish',
      `published=${PUBLISHED},target=80`,
      '--',
      process.execPath,
      SERVER,
      '80',
    ]);
    const ingressId = (await mc.inspectNetwork('ingress')).id;
    // A new connection per request is tens of thousands of connections a run from one
    // address to one address and port; the client closes first, so each leaves a TIME_WAIT
    // socket there for 60 s, and the default port range (half of 32768-60999 for connect)
    // runs out after ~14,000: connects then crawl (a few hundred a second). A load
    // generator's usual settings, in the client's namespace only.
    await inNs(clientNs, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);

    /** The ingress addresses of web's running tasks when there are `replicas` of them, sorted. */
    const wanted = async (replicas: number): Promise<string[] | undefined> => {
      const tasks = (await mc.listTasks({ services: ['web'] })).filter((t) => t.desiredState === 'running' && t.status.state === 'running');
      if (tasks.length !== replicas) return undefined;
      const addrs = tasks.flatMap((t) => t.networks.filter((n) => n.networkId === ingressId).flatMap((n) => n.addresses));
      return addrs.length === replicas ? addrs.map((a) => a.split('/')[0]!).sort() : undefined;
    };
    // read through the agent's own nft layer (in process, about a millisecond): a process
    // per read would put tens of ms of this bench's own cost into every sample
    const nfts = new Map<number, ReturnType<typeof createNft>>(HOSTS.map((h) => [h, createNft(ingressNs(h))]));
    const readMap = async (h: number): Promise<string[]> => {
      const dump = await nfts
        .get(h)!
        .listTable('ip', lbTable(h))
        .catch(() => undefined);
      return dump ? mapBackends(JSON.stringify({ nftables: dump.json }), PUBLISHED, 'backends-tcp') : [];
    };
    const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

    /**
     * Per host, ms from t0 until its map equals the wanted set (as above), polled every
     * POLL_MS; and when the manager first listed `replicas` running tasks (for the log: the
     * part of the time that is the tasks' start or stop, not the load balancers).
     */
    const converge = async (
      replicas: number,
      t0: number,
    ): Promise<{ done: Map<number, number>; managerMs: number; firstSeen: Map<string, number>; want: string[] }> => {
      const done = new Map<number, number>();
      /** `h<i> <ip>` -> the wall time (ms since the epoch) a read of host i's map first held ip */
      const firstSeen = new Map<string, number>();
      let managerMs = Number.NaN;
      const last = new Map<number, string[]>();
      let want: string[] | undefined;
      while (done.size < HOSTS.length) {
        const tick = performance.now();
        if (tick - t0 > CONVERGE_TIMEOUT_MS) {
          const state = HOSTS.map((h) => `h${h}: ${done.has(h) ? 'done' : `[${(last.get(h) ?? []).join(' ')}]`}`).join('; ');
          throw new Error(
            `web=${replicas}: no convergence in ${CONVERGE_TIMEOUT_MS} ms; manager ${want ? `[${want.join(' ')}]` : 'not yet running'}; ${state}`,
          );
        }
        const pending = HOSTS.filter((h) => !done.has(h));
        const [w, ...maps] = await Promise.all([
          wanted(replicas).catch(() => undefined),
          ...pending.map(async (h) => ({ h, backends: await readMap(h), at: performance.now(), wall: Date.now() })),
        ]);
        want = w as string[] | undefined;
        if (want && Number.isNaN(managerMs)) managerMs = performance.now() - t0;
        for (const m of maps as Array<{ h: number; backends: string[]; at: number; wall: number }>) {
          last.set(m.h, m.backends);
          for (const ip of m.backends) if (!firstSeen.has(`h${m.h} ${ip}`)) firstSeen.set(`h${m.h} ${ip}`, m.wall);
          if (want && same(m.backends, want)) done.set(m.h, m.at - t0);
        }
        const rest = POLL_MS - (performance.now() - tick);
        if (rest > 0) await sleep(rest);
      }
      return { done, managerMs, firstSeen, want: want ?? [] };
    };

    /** When a task of web began to listen (epoch ms), from its log on whichever host runs it. */
    const listenedAt = (taskId: string): number | undefined => {
      for (const h of HOSTS) {
        try {
          const text = readFileSync(join(testbedPaths(prefix).dataDir(h), 'tasks', taskId, 'output.log'), 'utf8');
          const m = /^listening (\d+)$/m.exec(text);
          if (m) return Number(m[1]);
        } catch {
          // not on this host
        }
      }
      return undefined;
    };
    /** Ingress address -> task ID of web's running tasks. */
    const taskOfIp = async (): Promise<Map<string, string>> => {
      const out = new Map<string, string>();
      for (const t of await mc.listTasks({ services: ['web'] })) {
        if (t.desiredState !== 'running' || t.status.state !== 'running') continue;
        for (const n of t.networks) if (n.networkId === ingressId) for (const a of n.addresses) out.set(a.split('/')[0]!, t.id);
      }
      return out;
    };

    // h2 drained: its tasks move to h1 and h3, and its published port still answers (as in
    // Docker, a drained node stays in the routing mesh), so every request through it
    // crosses the ingress overlay to a task on another host
    const h2Node = (await mc.listNodes()).find((n) => n.status.addr === HOST_ADDR)?.id;
    if (!h2Node) throw new Error(`no node advertises ${HOST_ADDR}`);
    await shoal(['node', 'update', '--availability', 'drain', h2Node]);
    await until(
      async () => {
        const tasks = (await mc.listTasks({ services: ['web'] })).filter(
          (t) => t.desiredState === 'running' && t.status.state === 'running',
        );
        const live = (await mc.listTasks({ services: ['web'] })).filter(
          (t) => !['shutdown', 'complete', 'failed', 'rejected', 'orphaned', 'remove'].includes(t.status.state),
        );
        return tasks.length === 3 && live.length === 3 && tasks.every((t) => t.nodeId !== h2Node) ? true : undefined;
      },
      120_000,
      "web's 3 tasks to run on h1 and h3",
    );
    await converge(3, performance.now());
    await until(
      async () => ((await inNs(clientNs, ['curl', '-sf', '-m', '2', `http://${HOST_ADDR}:${PUBLISHED}/`])) ? true : undefined),
      60_000,
      `the mesh to answer on ${HOST_ADDR}:${PUBLISHED}`,
    );
    log('mesh: web runs 3 tasks on h1 and h3 (h2 drained), every ingress sandbox balances over them, the mesh answers on h2');

    const d = spawn('ip', ['netns', 'exec', `${prefix}h${HOST}`, process.execPath, SERVER, String(DIRECT_PORT)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    direct = d;
    d.on('error', (err) => log(`direct server: ${err.message}`));
    await until(
      async () => ((await inNs(clientNs, ['curl', '-sf', '-m', '2', `http://${HOST_ADDR}:${DIRECT_PORT}/`])) ? true : undefined),
      30_000,
      `the direct server to answer on ${HOST_ADDR}:${DIRECT_PORT}`,
    );
    log(`mesh: the direct reference (pid ${d.pid}) answers in h${HOST}`);

    const wrk = async (port: number, close: boolean, seconds = SECONDS): Promise<WrkRun & { cpu: CpuCost }> => {
      const args = [
        'wrk',
        '-t1',
        `-c${CONNECTIONS}`,
        `-d${seconds}s`,
        ...(close ? ['-H', 'Connection: close'] : []),
        `http://${HOST_ADDR}:${port}/`,
      ];
      const before = cpuTicks(readFileSync('/proc/stat', 'utf8'));
      const r = parseWrk(await inNs(clientNs, args, (seconds + 60) * 1000));
      const after = cpuTicks(readFileSync('/proc/stat', 'utf8'));
      if (r.requests === 0) throw new Error(`wrk ${close ? 'new-connection ' : ''}run against port ${port} completed no request`);
      const busy = after.busy - before.busy;
      const all = busy + after.idle - before.idle;
      const cpu = { busyUsPerRequest: (busy * 1e6) / CLOCK_TICKS / r.requests, idleShare: all > 0 ? (after.idle - before.idle) / all : 0 };
      return { ...r, cpu };
    };
    // warm-up: JIT of the servers, conntrack and neighbour entries; not counted
    await wrk(PUBLISHED, false, 1);
    await wrk(DIRECT_PORT, false, 1);

    const cpu = { keepalive: [] as CpuCost[], direct_keepalive: [] as CpuCost[] };
    const errors = { keepalive: noErrors(), new_conn: noErrors(), direct_keepalive: noErrors(), direct_new_conn: noErrors() };
    const rates = {
      keepalive: [] as number[],
      new_conn: [] as number[],
      direct_keepalive: [] as number[],
      direct_new_conn: [] as number[],
    };
    type Kind = keyof typeof rates;
    const measure = async (kind: Kind): Promise<void> => {
      const port = kind.startsWith('direct') ? DIRECT_PORT : PUBLISHED;
      const r = await wrk(port, kind.endsWith('new_conn'));
      rates[kind].push(r.rps);
      if (kind === 'keepalive' || kind === 'direct_keepalive') cpu[kind].push(r.cpu);
      addErrors(errors[kind], r.errors);
      if (errorTotal(r.errors) > 0) log(`mesh: ERROR: wrk ${kind} against ${HOST_ADDR}:${port}: ${JSON.stringify(r.errors)}`);
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] =
        round % 2 === 0
          ? ['keepalive', 'direct_keepalive', 'new_conn', 'direct_new_conn']
          : ['direct_keepalive', 'keepalive', 'direct_new_conn', 'new_conn'];
      for (const kind of order) await measure(kind);
      log(
        `mesh round ${round + 1}/${ROUNDS}: keep-alive mesh ${Math.round(rates.keepalive.at(-1)!)} req/s (${round1(cpu.keepalive.at(-1)!.busyUsPerRequest)} µs CPU each, ${Math.round(cpu.keepalive.at(-1)!.idleShare * 100)}% idle), direct ${Math.round(rates.direct_keepalive.at(-1)!)} (${round1(cpu.direct_keepalive.at(-1)!.busyUsPerRequest)} µs, ${Math.round(cpu.direct_keepalive.at(-1)!.idleShare * 100)}% idle); new connections mesh ${Math.round(rates.new_conn.at(-1)!)}/s, direct ${Math.round(rates.direct_new_conn.at(-1)!)}/s`,
      );
    }
    endDirect();

    // h2 takes tasks again for the convergence part
    await shoal(['node', 'update', '--availability', 'active', h2Node]);

    // the cost of one map read, which every convergence sample may include
    const readCost: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      await readMap(HOST);
      readCost.push(performance.now() - t);
    }
    log(`mesh: one read of an ingress map: ${round1(median(readCost))} ms`);

    const lbSamples: number[] = [];
    const upSamples: number[] = [];
    const downSamples: number[] = [];
    let before = await wanted(3);
    for (const replicas of SCALE_STEPS) {
      await shoal(['service', 'scale', `web=${replicas}`]);
      const t0 = performance.now();
      const { done, managerMs, firstSeen, want } = await converge(replicas, t0);
      const up = replicas > (before?.length ?? 0);
      (up ? upSamples : downSamples).push(...done.values());
      let detail = '';
      if (up) {
        const ids = await taskOfIp();
        const fresh = want.filter((ip) => !before?.includes(ip));
        const lb: number[] = [];
        let slowest = { ms: -1, what: '' };
        for (const ip of fresh) {
          const id = ids.get(ip);
          const at = id ? listenedAt(id) : undefined;
          if (at === undefined) {
            log(`mesh: ERROR: no listen time for ${ip} (task ${id ?? 'unknown'}): its sample is left out`);
            continue;
          }
          for (const h of HOSTS) {
            const seen = firstSeen.get(`h${h} ${ip}`);
            if (seen === undefined) continue;
            lb.push(Math.max(0, seen - at));
            if (seen - at > slowest.ms)
              slowest = {
                ms: seen - at,
                what: `task ${id} (listening at ${Math.round(at)}, epoch ms) in h${h}'s map at ${Math.round(seen)}`,
              };
          }
        }
        lbSamples.push(...lb);
        detail = `; from listening to every map: max ${round1(Math.max(...lb))} ms over ${lb.length} (task, host) pairs, the slowest ${slowest.what}`;
      }
      log(
        `mesh: web=${replicas}: ${HOSTS.map((h) => `h${h} ${round1(done.get(h)!)} ms`).join(', ')} after the command (the manager listed ${replicas} running tasks at ${round1(managerMs)} ms)${detail}`,
      );
      before = want;
    }

    const total = Object.values(errors).reduce((n, e) => n + errorTotal(e), 0);
    if (total > 0) log(`mesh: ERROR: wrk saw ${total} errors: ${JSON.stringify(errors)}`);
    const meshRps = median(rates.keepalive);
    const directRps = median(rates.direct_keepalive);
    return {
      mesh_rps: Math.round(meshRps),
      direct_rps: Math.round(directRps),
      mesh_rps_ratio: round2(meshRps / directRps),
      mesh_new_conn_rps: Math.round(median(rates.new_conn)),
      direct_new_conn_rps: Math.round(median(rates.direct_new_conn)),
      scale_converge_p50_ms: round1(percentile(lbSamples, 50)),
      scale_converge_p99_ms: round1(percentile(lbSamples, 99)),
      scale_converge_samples: lbSamples.length,
      scale_up_command_p50_ms: round1(percentile(upSamples, 50)),
      scale_up_command_p99_ms: round1(percentile(upSamples, 99)),
      scale_down_command_p99_ms: round1(percentile(downSamples, 99)),
      mesh_wrk_errors: errors,
      mesh_wrk_error_total: total,
      mesh_cpu_us_per_request: round1(median(cpu.keepalive.map((c) => c.busyUsPerRequest))),
      direct_cpu_us_per_request: round1(median(cpu.direct_keepalive.map((c) => c.busyUsPerRequest))),
      mesh_idle_share: round2(median(cpu.keepalive.map((c) => c.idleShare))),
      direct_idle_share: round2(median(cpu.direct_keepalive.map((c) => c.idleShare))),
    };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    endDirect();
    if (direct && direct.exitCode === null && direct.signalCode === null) {
      const d = direct;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 5_000);
        d.once('exit', () => {
          clearTimeout(timer);
          r();
        });
      });
    }
    client?.close();
    const keep = process.env['SHOAL_BENCH_KEEP_LOGS'];
    if (testbedStarted && keep) {
      try {
        cpSync(testbedPaths(prefix).logDir, keep, { recursive: true });
        log(`mesh: the testbed's logs copied to ${keep}`);
      } catch (err) {
        log(`mesh: cannot copy the testbed's logs: ${(err as Error).message}`);
      }
    }
    if (testbedStarted) {
      try {
        await shoal(['testbed', 'down', '--prefix', prefix]);
      } catch (err) {
        log(`mesh: testbed down failed: ${(err as Error).message}`);
      }
    }
  }
}
