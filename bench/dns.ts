/**
 * The embedded resolver under load: `npm run bench -- dns` (root; dnsperf and dnsmasq, see
 * scripts/ensure-deps). Progress goes to stderr; the last stdout line is one JSON object.
 *
 * resolverQps: dnsperf against shoal's resolver and against dnsmasq serving the same records,
 * in one throwaway namespace, in the same run. The records: 50 services on one network
 * `front`, each with a VIP and 10 running tasks; the query file is their names, a shuffled mix
 * of `<service>` (one A record, the VIP) and `tasks.<service>` (ten A records), A queries
 * without EDNS, as the glibc stub sends them. Shoal's resolver runs as in the agent (query
 * check, records from the index, DnsServer's UDP socket on 127.0.0.11 opened in the
 * namespace) but in a process of its own (bench/_dns-server.ts); dnsmasq listens on
 * 127.0.0.12:53 with the same names in a hosts file (`--addn-hosts`, one line per address;
 * TTL 5 s as shoal's) and no upstream.
 *
 * - shoal_qps, dnsmasq_qps: the most queries per second each answers, dnsperf unthrottled
 *   with DNSPERF_CLIENTS sockets and up to DNSPERF_OUTSTANDING queries in flight for
 *   SECONDS; ROUNDS rounds of the two interleaved (so machine load hits both alike), the
 *   median of each. On a 2-core machine dnsperf itself takes about a core: both servers are
 *   measured against the other core.
 * - qps_ratio: shoal_qps / dnsmasq_qps (goal: at least 0.7).
 * - p50_ms, p99_ms: shoal's latency as dnsperf sees it (per query, `-v`) at half of shoal_qps
 *   (`-Q`), for SECONDS (goal: p99 under 1 ms), with the servers on CPU 0 and dnsperf on
 *   CPU 1 (taskset); dnsmasq_p50_ms, dnsmasq_p99_ms: dnsmasq's at the same rate, the same
 *   way, for reference. Each is the median of LATENCY_ROUNDS runs, the two servers
 *   interleaved (p99_runs_ms, dnsmasq_p99_runs_ms: every run's p99): a neighbour's burst
 *   on this shared machine can lift both servers' p99 several times over in one 4 s run. Why pinned: at tens of thousands of queries a second dnsperf is a
 *   busy process, and where it and a server are runnable on one core the server waits out
 *   dnsperf's time slice, which puts the scheduler's milliseconds into the server's tail
 *   (the more CPU a server uses, the more often: shoal's p99 went 0.93 ms pinned against
 *   2.5 ms unpinned in one session, dnsmasq's 0.9 against 0.67). The same runs with every
 *   process on any core come first and are reported as p99_shared_cores_ms and
 *   dnsmasq_p99_shared_cores_ms.
 * - shoal_lost, dnsmasq_lost: queries dnsperf gave up on (no answer within 1 s), summed over
 *   the max-rate rounds; shoal_latency_lost, dnsmasq_latency_lost: in the latency runs.
 * - loadavg_1m: the machine's load when the bench started and ended: the servers share two
 *   cores with dnsperf and with whatever else runs, and the figures move with it.
 *
 * Where shoal's time went, and what changed it: a CPU profile at 30,000 qps showed about 63%
 * of the busy time in dgram's send and 8% in the garbage collector; an allocation profile
 * (inspector sampling, collected objects included) found about 730 bytes of garbage per
 * query once answers were reused, three quarters of it Node's dgram (a Buffer, an address
 * string and an info object per datagram received, a request and arrays per one sent), and
 * a 0.5-2 ms scavenge every few thousand queries set the p99 (1.1-1.7 ms pinned). The UDP
 * socket is now a DatagramSocket (src/kernel/datagram.ts: recvmmsg and sendmmsg in
 * batches of up to 64, nothing allocated per reused answer): p99 0.29 ms pinned and max
 * qps 1.3-1.6x dnsmasq's in the same runs. The server runs the compiled dist/ modules, as
 * the agent does (scripts/bench builds them first).
 *
 * task_resolvable_*: bench/_dns-resolvable.ts, in a 2-host testbed: from a new task's start
 * until its address is in `tasks.web` as the other host's resolver answers it
 * (SHOAL_BENCH_DNS_PARTS=qps or resolvable runs one part only).
 *
 *   npm run bench -- dns   (root; SHOAL_BENCH_ROUNDS, default 5; SHOAL_BENCH_DNS_SECONDS, default 4;
 *                           SHOAL_BENCH_DNS_CLIENTS, default 4, SHOAL_BENCH_DNS_OUTSTANDING, default
 *                           100: dnsperf's -c and -q; SHOAL_BENCH_DNS_LATENCY_ROUNDS, default 3;
 *                           SHOAL_BENCH_DNS_PIN=1: see PIN)
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createRng } from '../src/common/rng.ts';
import type { RecordInput, RecordService, RecordTask } from '../src/dns/records.ts';
import { taskResolvable } from './_dns-resolvable.ts';
import { median, percentile } from './_stats.ts';

const execFileP = promisify(execFile);

const ROUNDS = Number(process.env['SHOAL_BENCH_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['SHOAL_BENCH_DNS_SECONDS'] ?? 4);
/** dnsperf's UDP sockets (-c) and queries in flight (-q) in the max-rate runs. */
const DNSPERF_CLIENTS = Number(process.env['SHOAL_BENCH_DNS_CLIENTS'] ?? 4);
const DNSPERF_OUTSTANDING = Number(process.env['SHOAL_BENCH_DNS_OUTSTANDING'] ?? 100);
/** Latency runs per server and placement, interleaved; the figures are their medians. */
const LATENCY_ROUNDS = Number(process.env['SHOAL_BENCH_DNS_LATENCY_ROUNDS'] ?? 3);
const SERVICES = 50;
const TASKS_PER_SERVICE = 10;
const DNSMASQ_ADDRESS = '127.0.0.12';
/**
 * SHOAL_BENCH_DNS_PIN=1: the servers on CPU 0 and dnsperf on CPU 1 (taskset), so that the
 * two never take turns on one core; off by default (the scheduler places them).
 */
const PIN = process.env['SHOAL_BENCH_DNS_PIN'] === '1';
const pinned = (cpu: number, cmd: string, args: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];

function log(msg: string): void {
  process.stderr.write(`dns: ${msg}\n`);
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

// ------------------------------------------------------------------------------ records

interface Records {
  input: RecordInput;
  /** name -> its A records, as both servers must answer them. */
  names: Map<string, string[]>;
}

/** 50 services on `front`, service i's VIP 10.0.0.(i+2), its tasks 10.0.(i+1).(1..10). */
function benchRecords(): Records {
  const services: RecordService[] = [];
  const tasks: RecordTask[] = [];
  const names = new Map<string, string[]>();
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc${String(i).padStart(2, '0')}`;
    const vip = `10.0.0.${i + 2}`;
    services.push({
      id: `svc-${name}`,
      name,
      endpointMode: 'vip',
      virtualIps: [{ networkId: 'net-front', addr: `${vip}/16` }],
      networks: [{ target: 'net-front', aliases: [] }],
    });
    const addrs: string[] = [];
    for (let k = 0; k < TASKS_PER_SERVICE; k++) {
      const addr = `10.0.${i + 1}.${k + 1}`;
      addrs.push(addr);
      tasks.push({
        id: `t${i}x${k}`,
        serviceId: `svc-${name}`,
        slot: k + 1,
        nodeId: 'node1',
        networks: [{ networkId: 'net-front', addresses: [`${addr}/16`], aliases: [] }],
        state: 'running',
        health: '',
        draining: false,
      });
    }
    names.set(name, [vip]);
    names.set(`tasks.${name}`, addrs);
  }
  return {
    input: { networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }], services, tasks, containers: [] },
    names,
  };
}

// ------------------------------------------------------------------------------ processes

interface DnsperfResult {
  qps: number;
  sent: number;
  lost: number;
  /** Response codes other than NOERROR, as dnsperf printed them ('' when none). */
  otherCodes: string;
  /** Per-query latencies in ms (only with verbose). */
  latenciesMs: number[];
}

async function dnsperf(
  ns: string,
  scratch: string,
  server: string,
  port: number,
  queryFile: string,
  o: { clients: number; outstanding: number; qps?: number; verbose?: boolean; cpu?: number },
): Promise<DnsperfResult> {
  const args = ['netns', 'exec', ns, 'dnsperf', '-s', server, '-p', String(port), '-d', queryFile, '-l', String(SECONDS)];
  args.push('-c', String(o.clients), '-T', '1', '-q', String(o.outstanding), '-t', '1');
  if (o.qps !== undefined) args.push('-Q', String(Math.round(o.qps)));
  if (o.verbose) args.push('-v');
  // into a file, not a pipe: reading a million `-v` lines here would take CPU from the servers
  const outFile = join(scratch, 'dnsperf.out');
  const out = openSync(outFile, 'w');
  try {
    const [cmd, cmdArgs] = o.cpu !== undefined && !PIN ? ['taskset', ['-c', String(o.cpu), 'ip', ...args]] : pinned(1, 'ip', args);
    const child = spawn(cmd, cmdArgs, { stdio: ['ignore', out, 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`dnsperf exited with ${code}`);
  } finally {
    closeSync(out);
  }
  const stdout = readFileSync(outFile, 'utf8');
  const field = (label: string): number => {
    const m = new RegExp(`${label}:\\s+([0-9.]+)`).exec(stdout);
    if (!m) throw new Error(`dnsperf printed no "${label}":\n${stdout.slice(-2000)}`);
    return Number(m[1]);
  };
  const codes = /Response codes:\s+(.*)/.exec(stdout)?.[1] ?? '';
  const latenciesMs: number[] = [];
  if (o.verbose) {
    // `> NOERROR svc07 A 0.000123` per answer; a timeout is `> T svc07 A`
    for (const m of stdout.matchAll(/^> (\S+) \S+ \S+ ([0-9.]+)$/gm)) latenciesMs.push(Number(m[2]) * 1000);
  }
  return {
    qps: field('Queries per second'),
    sent: field('Queries sent'),
    lost: field('Queries lost'),
    otherCodes: codes
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '' && !c.startsWith('NOERROR'))
      .join(', '),
    latenciesMs,
  };
}

/** Waits, up to `ms`, for `ready()` to resolve true. */
async function until(what: string, ms: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function digA(ns: string, server: string, port: number, name: string): Promise<string[]> {
  const { stdout } = await execFileP('ip', [
    'netns',
    'exec',
    ns,
    'dig',
    '+short',
    '+time=1',
    '+tries=1',
    `@${server}`,
    '-p',
    String(port),
    name,
    'A',
  ]);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l))
    .sort();
}

/** Ends a child by PID and waits for it (SIGKILL after 3 s). */
async function end(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, 3000);
  await gone;
  clearTimeout(timer);
}

// ------------------------------------------------------------------------------ resolverQps

export interface ResolverQps {
  shoal_qps: number;
  dnsmasq_qps: number;
  qps_ratio: number;
  p50_ms: number;
  p99_ms: number;
  /** Each pinned latency run's p99 (p99_ms is their median). */
  p99_runs_ms: number[];
  dnsmasq_p50_ms: number;
  dnsmasq_p99_ms: number;
  dnsmasq_p99_runs_ms: number[];
  latency_qps: number;
  p99_shared_cores_ms?: number;
  dnsmasq_p99_shared_cores_ms?: number;
  shoal_lost: number;
  dnsmasq_lost: number;
  shoal_latency_lost: number;
  dnsmasq_latency_lost: number;
  dnsperf_clients: number;
  dnsperf_outstanding: number;
  seconds: number;
  rounds: number;
  latency_rounds: number;
}

/** dnsperf against shoal's resolver and dnsmasq with the same records; see the header. */
export async function resolverQps(): Promise<ResolverQps> {
  const ns = `shoalbench-dns-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'shoalbench-dns-'));
  let shoal: ChildProcess | undefined;
  let dnsmasq: ChildProcess | undefined;
  const cleanup = (): void => {
    for (const c of [shoal, dnsmasq]) {
      if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanup);
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    chmodSync(dir, 0o755); // dnsmasq reads its hosts file as its own user

    const records = benchRecords();
    const recordsFile = join(dir, 'records.json');
    writeFileSync(recordsFile, JSON.stringify(records.input));
    const hostsFile = join(dir, 'hosts');
    const hostLines: string[] = [];
    for (const [name, addrs] of records.names) for (const a of addrs) hostLines.push(`${a} ${name}`);
    writeFileSync(hostsFile, `${hostLines.join('\n')}\n`, { mode: 0o644 });
    const queryFile = join(dir, 'queries');
    const queries = createRng(7).shuffle([...records.names.keys()].map((n) => `${n} A`));
    writeFileSync(queryFile, `${queries.join('\n')}\n`, { mode: 0o644 });

    log(`namespace ${ns}; ${SERVICES} services x ${TASKS_PER_SERVICE} tasks, ${queries.length} names`);
    shoal = spawn(...pinned(0, 'node', ['--import', 'tsx', 'bench/_dns-server.ts', ns, recordsFile]), {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const firstLine = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: shoal!.stdout! });
      rl.once('line', (l) => {
        rl.close();
        resolve(l);
      });
      shoal!.once('exit', (code) => reject(new Error(`bench/_dns-server.ts exited with ${code} before it served`)));
    });
    const shoalPort = (JSON.parse(firstLine) as { udpPort: number }).udpPort;
    log(`shoal's resolver (pid ${shoal.pid}) on 127.0.0.11:${shoalPort}`);

    // `ip netns exec` execs dnsmasq in place: the PID is dnsmasq's
    dnsmasq = spawn(
      ...pinned(0, 'ip', [
        'netns',
        'exec',
        ns,
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--pid-file=',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${hostsFile}`,
        `--listen-address=${DNSMASQ_ADDRESS}`,
        '--bind-interfaces',
        '--port=53',
        '--local-ttl=5',
        '--cache-size=10000',
      ]),
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    await until('dnsmasq', 10_000, async () => (await digA(ns, DNSMASQ_ADDRESS, 53, 'svc00').catch(() => [])).length > 0);
    log(`dnsmasq (pid ${dnsmasq.pid}) on ${DNSMASQ_ADDRESS}:53`);

    // both answer every name with the same addresses
    for (const [name, want] of records.names) {
      const sorted = [...want].sort();
      for (const [who, addr, port] of [
        ['shoal', '127.0.0.11', shoalPort],
        ['dnsmasq', DNSMASQ_ADDRESS, 53],
      ] as const) {
        const got = await digA(ns, addr, port, name);
        if (got.join() !== sorted.join()) throw new Error(`${who} answers ${name} with [${got}], not [${sorted}]`);
      }
      if (name === 'svc04') break; // five services' names are enough to show the records agree
    }

    const opts = { clients: DNSPERF_CLIENTS, outstanding: DNSPERF_OUTSTANDING };
    log(`max rate: dnsperf -c ${opts.clients} -T 1 -q ${opts.outstanding}, ${SECONDS} s per run, ${ROUNDS} rounds`);
    // warm-up: the JIT, dnsmasq's cache
    await dnsperf(ns, dir, '127.0.0.11', shoalPort, queryFile, { ...opts });
    const shoalRuns: DnsperfResult[] = [];
    const dnsmasqRuns: DnsperfResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      shoalRuns.push(await dnsperf(ns, dir, '127.0.0.11', shoalPort, queryFile, opts));
      dnsmasqRuns.push(await dnsperf(ns, dir, DNSMASQ_ADDRESS, 53, queryFile, opts));
      const s = shoalRuns.at(-1)!;
      const d = dnsmasqRuns.at(-1)!;
      log(
        `  round ${round + 1}/${ROUNDS}: shoal ${Math.round(s.qps)} qps (lost ${s.lost}), dnsmasq ${Math.round(d.qps)} qps (lost ${d.lost})`,
      );
      for (const [who, r] of [
        ['shoal', s],
        ['dnsmasq', d],
      ] as const) {
        if (r.otherCodes) throw new Error(`${who} answered other than NOERROR: ${r.otherCodes}`);
      }
    }
    const shoalQps = median(shoalRuns.map((r) => r.qps));
    const dnsmasqQps = median(dnsmasqRuns.map((r) => r.qps));

    const rate = shoalQps / 2;
    const latOpts = { clients: DNSPERF_CLIENTS, outstanding: DNSPERF_OUTSTANDING, qps: rate, verbose: true };
    /** One server's latency over LATENCY_ROUNDS runs: medians of each run's p50 and p99, every p99, lost summed. */
    interface Latency {
      p50: number;
      p99: number;
      p99s: number[];
      lost: number;
    }
    const summary = (runs: DnsperfResult[]): Latency => {
      const p99s = runs.map((r) => round3(percentile(r.latenciesMs, 99)));
      return {
        p50: round3(median(runs.map((r) => percentile(r.latenciesMs, 50)))),
        p99: round3(median(p99s)),
        p99s,
        lost: runs.reduce((n, r) => n + r.lost, 0),
      };
    };
    const latency = async (label: string, cpu?: number): Promise<[Latency, Latency]> => {
      log(`latency at ${Math.round(rate)} qps (half of shoal's max), ${label}, ${LATENCY_ROUNDS} interleaved runs ...`);
      const o = cpu === undefined ? latOpts : { ...latOpts, cpu };
      const runs: [DnsperfResult[], DnsperfResult[]] = [[], []];
      for (let round = 0; round < LATENCY_ROUNDS; round++) {
        const pair: [DnsperfResult, DnsperfResult] = [
          await dnsperf(ns, dir, '127.0.0.11', shoalPort, queryFile, o),
          await dnsperf(ns, dir, DNSMASQ_ADDRESS, 53, queryFile, o),
        ];
        for (const [i, who] of ['shoal', 'dnsmasq'].entries()) {
          const r = pair[i]!;
          if (r.latenciesMs.length === 0) throw new Error(`dnsperf -v printed no latencies for ${who}`);
          log(
            `  ${who}: ${Math.round(r.qps)} qps, p50 ${round3(percentile(r.latenciesMs, 50))} ms, ` +
              `p99 ${round3(percentile(r.latenciesMs, 99))} ms, max ${round3(r.latenciesMs.reduce((m, x) => Math.max(m, x), 0))} ms, lost ${r.lost}`,
          );
          runs[i]!.push(r);
        }
      }
      return [summary(runs[0]), summary(runs[1])];
    };
    // first with the scheduler placing everything, then with dnsperf on a core of its own
    const [shoalShared, dnsmasqShared] = PIN ? [undefined, undefined] : await latency('every process on any core');
    if (!PIN) {
      for (const pid of [shoal.pid, dnsmasq.pid]) {
        if (pid !== undefined) await execFileP('taskset', ['-a', '-p', '-c', '0', String(pid)]);
      }
    }
    const [shoalLat, dnsmasqLat] = await latency('the servers on CPU 0, dnsperf on CPU 1', 1);

    return {
      shoal_qps: Math.round(shoalQps),
      dnsmasq_qps: Math.round(dnsmasqQps),
      qps_ratio: Math.round((shoalQps / dnsmasqQps) * 100) / 100,
      p50_ms: shoalLat.p50,
      p99_ms: shoalLat.p99,
      p99_runs_ms: shoalLat.p99s,
      dnsmasq_p50_ms: dnsmasqLat.p50,
      dnsmasq_p99_ms: dnsmasqLat.p99,
      dnsmasq_p99_runs_ms: dnsmasqLat.p99s,
      latency_qps: Math.round(rate),
      ...(shoalShared && dnsmasqShared
        ? {
            p99_shared_cores_ms: shoalShared.p99,
            dnsmasq_p99_shared_cores_ms: dnsmasqShared.p99,
          }
        : {}),
      shoal_lost: shoalRuns.reduce((n, r) => n + r.lost, 0),
      dnsmasq_lost: dnsmasqRuns.reduce((n, r) => n + r.lost, 0),
      shoal_latency_lost: shoalLat.lost + (shoalShared?.lost ?? 0),
      dnsmasq_latency_lost: dnsmasqLat.lost + (dnsmasqShared?.lost ?? 0),
      latency_rounds: LATENCY_ROUNDS,
      dnsperf_clients: DNSPERF_CLIENTS,
      dnsperf_outstanding: DNSPERF_OUTSTANDING,
      seconds: SECONDS,
      rounds: ROUNDS,
    };
  } finally {
    await end(shoal);
    await end(dnsmasq);
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', cleanup);
  }
}

// ------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const parts = (process.env['SHOAL_BENCH_DNS_PARTS'] ?? 'qps,resolvable').split(',');
  const loadBefore = os.loadavg()[0]!;
  const qps = parts.includes('qps') ? await resolverQps() : undefined;
  const loadAfter = os.loadavg()[0]!;
  if (qps)
    log(
      `shoal ${qps.shoal_qps} qps, dnsmasq ${qps.dnsmasq_qps} qps: ratio ${qps.qps_ratio}; p99 ${qps.p99_ms} ms at ${qps.latency_qps} qps`,
    );
  const resolvable = parts.includes('resolvable') ? await taskResolvable(log) : undefined;
  if (resolvable)
    log(
      `a new task resolvable on the other host: p50 ${resolvable.task_resolvable_p50_ms} ms, p99 ${resolvable.task_resolvable_p99_ms} ms`,
    );
  console.log(
    JSON.stringify({
      bench: 'dns',
      ...qps,
      loadavg_1m: [Math.round(loadBefore * 100) / 100, Math.round(loadAfter * 100) / 100],
      ...resolvable,
    }),
  );
}

await main();
