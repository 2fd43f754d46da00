/**
 * The fault suite's harness (test/e2e/faults, and the soak in test/soak): a testbed cluster
 * with a steady load through the routing mesh from the outside client and east-west from a
 * client task through two service VIPs, every request counted per phase; the faults
 * themselves (processes killed, the underlay cut, partitioned or lossy with nft rules inside
 * the hosts' namespaces, task processes killed at random); and what is measured around each
 * fault:
 *
 * - failed requests per phase, and the last failure's time (bounded faults: no failure
 *   later than 5 s after the failure was detected);
 * - the time until every host's doctor is clean (`shoal doctor --all --format json`) and
 *   every host's kernel holds the manager's truth: each host's mesh backends, the client
 *   sandbox's VIP backends and its DNS answers are the running, healthy tasks;
 * - the manager's allocations: every live task address and VIP unique in its network and
 *   inside its subnet;
 * - RSS and open fds of every agent and the manager (/proc/PID), before and after.
 *
 * Services: web (3 replicas, published 8080, the lifecycle fixture server behind a health
 * check), api (2 replicas, the same server, no published port), client (one task that
 * only holds the east-west load's namespace). A load that retries refused connections
 * (`retryRefused`) counts its retries apart from its failures.
 */
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Network, Service, Task } from '../../src/api/api-types.ts';
import { dataDirPaths } from '../../src/api/data-dir.ts';
import { localApiRequest } from '../../src/agent/local-client.ts';
import { alive } from '../../src/testbed/processes.ts';
import { readState, type TestbedPaths, testbedPaths } from '../../src/testbed/state.ts';
import { type Cluster, inNs, startCluster } from './dataplane.ts';
import { type Load, type LoadStatus, type PhaseCounts, READY, readStatus, SERVER, startLoad, stopLoads } from './load.ts';
import { waitUntil } from './wait.ts';

/** Requests a second of each load. */
export const OUTSIDE_RATE = 30;
export const EAST_WEST_RATE = 20;
/** A bounded fault's failures must stop this long after it was detected. */
export const DETECTION_GRACE_MS = 5_000;

/** load.mjs's per-phase counts, with the fields the fault suite reads. */
export interface FaultCounts extends PhaseCounts {
  retried: number;
  firstFailureAt: number;
  lastFailureAt: number;
}

export interface ProcSample {
  rssKb: number;
  fds: number;
}

export interface Samples {
  agents: Record<string, ProcSample | undefined>;
  manager: ProcSample | undefined;
}

/** What one fault measured, as the suite and the soak print it. */
export interface FaultResult {
  fault: string;
  /** load name -> phase -> counts. */
  phases: Record<string, Record<string, FaultCounts>>;
  /** When the fault was detected (ms after it was injected), for bounded faults. */
  detectedAfterMs?: number;
  /** The last failure, ms after detection (negative: before it). */
  lastFailureAfterDetectionMs?: number;
  /** From the end of the fault (recovery started) until doctor and the truth check were clean. */
  cleanAfterMs: number;
  /**
   * East-west requests that failed after detection, each with the client sandbox's conntrack
   * entry of its connection (which backend its SYN was translated to), for the report.
   */
  lateFailures?: Array<{ at: string; target: string; error: string; conntrack: string }>;
  allocationProblems: string[];
  before: Samples;
  after: Samples;
}

export interface FaultBedOptions {
  prefix: string;
  hosts?: number;
  /** The loads retry a refused connection once (counted as `retried`). */
  retryRefused?: boolean;
  /** Request deadline of the loads (load.mjs's default: 3 s). */
  requestTimeoutMs?: number;
}

export interface FaultBed {
  c: Cluster;
  paths: TestbedPaths;
  dir: string;
  front: Network;
  webVip: string;
  apiVip: string;
  clientHost: number;
  clientNs: string;
  loads: Load[];
  /** Hosts the outside load leaves out (an outside balancer's health check), see setExcluded. */
  excluded: number[];
  /** The phase the loads count under now. */
  phase: string;
  /** Appended to every fault's name (the loads count by name: a soak's second round needs new ones). */
  suffix: string;
  results: FaultResult[];
  note(m: string): void;
  agentPid(h: number): number;
  managerPid(): number;
  /** SIGKILL of host h's agent; resolves once it is gone. */
  killAgent(h: number): Promise<void>;
  /** Starts host h's agent again with its recorded command line (dataplane.ts startAgent). */
  restartAgent(h: number, logName: string): void;
  /** `testbed up` started host h's agent again: its PID is the testbed state's from now on. */
  agentStartedByTestbed(h: number): void;
  agentStatus(h: number): Promise<AgentStatus>;
  /** Copies the testbed's logs out of /run for a failed run; returns where. */
  keepLogs(): string;
}

export interface AgentStatus {
  nodeId: string;
  connected: boolean;
  workloads: Array<{ id: string; name: string; pid: number; phase: string }>;
  gossip: { members: Array<{ name: string; addr: string; state: string }>; dead: string[] };
  overlay: { syncs: number; failures: number };
  lb?: { syncs: number; failures?: number };
}

export function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

function vipOn(s: Service, networkId: string): string {
  const v = s.endpoint.virtualIps.find((x) => x.networkId === networkId)?.addr.split('/')[0];
  if (!v) throw new Error(`${s.spec.name} has no VIP on ${networkId}`);
  return v;
}

function addrOn(x: Task, networkId: string): string {
  return x.networks.find((n) => n.networkId === networkId)?.addresses[0]?.split('/')[0] ?? '';
}

/** RSS and open fds of a process, from /proc; undefined when it is gone. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** Names the loads' phase; the outside load also gets the hosts it leaves out. */
export function setLoadPhase(bed: FaultBed, phase: string): void {
  bed.phase = phase;
  for (const l of bed.loads) {
    const ex =
      l.name === 'outside' && bed.excluded.length > 0 ? `exclude ${bed.excluded.map((h) => `${hostAddr(h)}:8080`).join(',')}\n` : '';
    writeFileSync(`${l.control}.tmp`, `${phase}\n${ex}`);
    renameSync(`${l.control}.tmp`, l.control);
  }
}

/**
 * Takes hosts out of the outside load's targets (a dead host's address answers nothing; an
 * outside balancer stops sending to it), or puts them all back with [].
 */
export function setExcluded(bed: FaultBed, hosts: readonly number[]): void {
  bed.excluded = [...hosts];
  setLoadPhase(bed, bed.phase);
}

/** Requests a load has finished in a phase. */
export function finishedIn(load: Load, phase: string): number {
  const p = readStatus(load)?.phases[phase];
  return p ? p.ok + p.failed : 0;
}

/** Waits until every load has finished `requests` more requests in `phase` (a stretch of load, not a sleep). */
export async function stretch(bed: FaultBed, phase: string, seconds: number, timeoutMs = 60_000 + seconds * 3000): Promise<void> {
  const from = bed.loads.map((l) => finishedIn(l, phase));
  const rates = [OUTSIDE_RATE, EAST_WEST_RATE];
  await waitUntil(
    () => bed.loads.every((l, i) => finishedIn(l, phase) - from[i]! >= Math.floor(rates[i]! * seconds * 0.8)),
    timeoutMs,
    `${phase}: ${seconds} s of requests`,
    { intervalMs: 100 },
  );
}

/** Holds a fault for `ms`: until that long has passed and the loads kept sending meanwhile. */
export async function hold(bed: FaultBed, phase: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  const from = bed.loads.map((l) => finishedIn(l, phase));
  await waitUntil(
    () => Date.now() >= until && bed.loads.every((l, i) => finishedIn(l, phase) > from[i]!),
    ms + 60_000,
    `${phase}: held for ${ms} ms under load`,
    { intervalMs: 100 },
  );
}

/**
 * The running tasks of a service that are healthy, when every live task of it is; else
 * undefined. Tasks on `exceptNode` (a node that is down: its tasks' states cannot change
 * until it is back) are left out.
 */
export async function healthy(c: Cluster, service: string, n: number, exceptNode?: string): Promise<Task[] | undefined> {
  const all = (await c.client.listTasks({ services: [service] })).filter((x) => x.nodeId !== exceptNode);
  const live = all.filter((x) => x.desiredState === 'running' || ['new', 'pending', 'assigned', 'running'].includes(x.status.state));
  const ok = live.filter((x) => x.desiredState === 'running' && x.status.state === 'running' && x.status.health === 'healthy');
  return ok.length === n && live.length === n ? ok : undefined;
}

/** Brings up the cluster, its services and both loads (phase "baseline"). */
export async function startFaultBed(t: Test, o: FaultBedOptions): Promise<FaultBed> {
  const hosts = o.hosts ?? 3;
  const c = await startCluster(t, hosts, o.prefix);
  const paths = testbedPaths(c.prefix);
  const dir = mkdtempSync(join(tmpdir(), `shoal-faults-${c.prefix}`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  const note = (m: string): void => {
    t.comment(`[${new Date().toISOString()} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
  };
  const pids = new Map<number, number>();
  const agentPid = (h: number): number => pids.get(h) ?? c.agents().find((a) => a.host === `h${h}`)!.pid;
  const managerPid = (): number => readState(paths.stateFile)?.manager?.pid ?? 0;

  await c.sh(['network', 'create', '-d', 'overlay', 'front']);
  const front = await c.client.inspectNetwork('front');
  await c.sh(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '-p', '8080:80', ...READY, '--', ...SERVER]);
  await c.sh(['service', 'create', '--name', 'api', '--replicas', '2', '--network', 'front', ...READY, '--', ...SERVER]);
  await c.sh(['service', 'create', '--name', 'client', '--network', 'front', '--', 'sleep', 'infinity']);
  await waitUntil(() => healthy(c, 'web', 3), 180_000, 'web to run 3 healthy tasks', { retryErrors: true });
  await waitUntil(() => healthy(c, 'api', 2), 180_000, 'api to run 2 healthy tasks', { retryErrors: true });
  const [client] = await c.waitRunning('client', 1);
  const clientNs = c.sandboxNs(client!.id, client!.nodeId);
  const webVip = vipOn(await c.client.inspectService('web'), front.id);
  const apiVip = vipOn(await c.client.inspectService('api'), front.id);
  const answers = async (ns: string, url: string): Promise<boolean> =>
    (await inNs(ns, ['curl', '-sf', '--max-time', '3', '--no-keepalive', url, url, url], 15_000)).code === 0;
  for (let h = 1; h <= hosts; h++) {
    await waitUntil(() => answers(c.underlayNs, `http://${hostAddr(h)}:8080/`), 60_000, `h${h}:8080 to answer`);
  }
  await waitUntil(() => answers(clientNs, `http://${webVip}:80/`), 60_000, "web's VIP to answer from the client task");
  await waitUntil(() => answers(clientNs, `http://${apiVip}:80/`), 60_000, "api's VIP to answer from the client task");

  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  if (o.retryRefused) env['LOAD_RETRY_REFUSED'] = '1';
  if (o.requestTimeoutMs) env['LOAD_TIMEOUT_MS'] = String(o.requestTimeoutMs);
  const loads = [
    startLoad(t, {
      dir,
      name: 'outside',
      ns: c.underlayNs,
      rate: OUTSIDE_RATE,
      targets: Array.from({ length: hosts }, (_, i) => `${hostAddr(i + 1)}:8080`),
      phase: 'baseline',
      env,
    }),
    startLoad(t, {
      dir,
      name: 'east-west',
      ns: clientNs,
      rate: EAST_WEST_RATE,
      targets: [`${webVip}:80`, `${apiVip}:80`],
      phase: 'baseline',
      env,
    }),
  ];
  const bed: FaultBed = {
    c,
    paths,
    dir,
    front,
    webVip,
    apiVip,
    clientHost: client!.host,
    clientNs,
    loads,
    excluded: [],
    phase: 'baseline',
    suffix: '',
    results: [],
    note,
    agentPid,
    managerPid,
    killAgent: async (h) => {
      const pid = agentPid(h);
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => !alive(pid), 10_000, `h${h}'s agent (pid ${pid}) to die`);
    },
    restartAgent: (h, logName) => {
      const child = c.startAgent(h, logName);
      if (child.pid) pids.set(h, child.pid);
    },
    agentStartedByTestbed: (h) => {
      pids.delete(h);
    },
    agentStatus: async (h) => (await localApiRequest(dataDirPaths(paths.dataDir(h)).agentSocket, 'GET', '/status')).body as AgentStatus,
    keepLogs: () => {
      const keep = join(tmpdir(), `shoal-e2e-faults-${c.prefix}logs-${Date.now()}`);
      cpSync(paths.logDir, keep, { recursive: true });
      return keep;
    },
  };
  await stretch(bed, 'baseline', 3);
  return bed;
}

/** RSS and fds of every agent and the manager (nsenter execs the agent: startAgent's PID is the agent's). */
export function sample(bed: FaultBed): Samples {
  const agents: Record<string, ProcSample | undefined> = {};
  for (let h = 1; h <= bed.c.hosts; h++) agents[`h${h}`] = procSample(bed.agentPid(h));
  return { agents, manager: procSample(bed.managerPid()) };
}

/** Problems with the manager's allocations: a live task address or VIP used twice, or outside its subnet. */
export async function allocationProblems(c: Cluster): Promise<string[]> {
  const problems: string[] = [];
  const networks = await c.client.listNetworks();
  const subnetOf = new Map(networks.map((n) => [n.id, n.ipam[0]?.subnet ?? '']));
  const used = new Map<string, string>();
  const claim = (networkId: string, cidr: string, who: string): void => {
    const addr = cidr.split('/')[0]!;
    const key = `${networkId} ${addr}`;
    const prior = used.get(key);
    if (prior) problems.push(`${addr} on ${networkId.slice(0, 12)} is both ${prior} and ${who}`);
    used.set(key, who);
    const subnet = subnetOf.get(networkId);
    if (!subnet) problems.push(`${who}: ${addr} on an unknown network ${networkId}`);
    else if (!inSubnet(addr, subnet)) problems.push(`${who}: ${addr} is outside ${subnet}`);
  };
  const tasks = await c.client.listTasks({});
  for (const x of tasks) {
    const live = x.desiredState === 'running' || ['new', 'pending', 'assigned', 'running'].includes(x.status.state);
    if (!live) continue;
    for (const n of x.networks) for (const a of n.addresses) claim(n.networkId, a, `task ${x.id.slice(0, 12)}`);
  }
  for (const s of await c.client.listServices()) {
    for (const v of s.endpoint.virtualIps) claim(v.networkId, v.addr, `VIP of ${s.spec.name}`);
  }
  return problems;
}

function ipNum(a: string): number {
  return a.split('.').reduce((n, b) => n * 256 + Number(b), 0);
}

function inSubnet(addr: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  const size = 2 ** (32 - bits);
  const start = Math.floor(ipNum(base!) / size) * size;
  const n = ipNum(addr);
  return n >= start && n < start + size;
}

/** The backends an lb table holds for a key prefix (`VIP . ` in a sandbox, `. 8080 . ` in the ingress sandbox). */
async function backends(ns: string, table: string, key: string): Promise<string[]> {
  const r = await inNs(ns, ['nft', 'list', 'table', 'ip', table]);
  if (r.code !== 0) throw new Error(`nft list table ip ${table} in ${ns}: ${r.stderr}`);
  const re = new RegExp(`${key.replaceAll('.', '\\.')}\\d+ : (\\d+\\.\\d+\\.\\d+\\.\\d+)`, 'g');
  return [...new Set([...r.stdout.matchAll(re)].map((m) => m[1]!))].sort();
}

async function dig(ns: string, name: string): Promise<string[]> {
  const r = await inNs(ns, ['dig', '+short', '+time=2', '+tries=1', '@127.0.0.11', name]);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(';'))
    .sort();
}

/**
 * What differs from the manager's truth, empty when nothing does: every host's doctor,
 * every host's mesh backends for 8080 (web's healthy tasks), the client sandbox's VIP
 * backends and DNS answers for web and api.
 */
export async function differences(bed: FaultBed, replicas: { web: number; api: number }): Promise<string[]> {
  const { c, front } = bed;
  const out: string[] = [];
  const d = await c.shoal(['doctor', '--all', '--format', 'json'], 120_000);
  try {
    const j = JSON.parse(d.stdout) as { clean: boolean; differences: number; notChecked: number };
    if (!j.clean) out.push(`doctor: ${j.differences} difference(s), ${j.notChecked} node(s) not checked`);
  } catch {
    out.push(`doctor: exit ${d.code} ${d.stderr.trim().slice(0, 200)}`);
  }
  if (out.length > 0) return out;
  const web = await healthy(c, 'web', replicas.web);
  const api = await healthy(c, 'api', replicas.api);
  if (!web || !api) return ['the services do not run their replicas, all healthy'];
  const ingress = await c.client.inspectNetwork('ingress');
  const meshWant = web.map((x) => addrOn(x, ingress.id)).sort();
  for (let h = 1; h <= c.hosts; h++) {
    const got = await backends(`${c.agentPrefix(h)}sb-ingress-sbox`, `${c.agentPrefix(h)}lb`, '. 8080 . ');
    if (got.join() !== meshWant.join()) out.push(`h${h}'s mesh backends ${got.join(' ')} (want ${meshWant.join(' ')})`);
  }
  const clientLb = `${c.agentPrefix(bed.clientHost)}lb`;
  for (const [name, vip, tasks] of [
    ['web', bed.webVip, web],
    ['api', bed.apiVip, api],
  ] as const) {
    const want = tasks.map((x) => addrOn(x, front.id)).sort();
    const got = await backends(bed.clientNs, clientLb, `${vip} . `);
    if (got.join() !== want.join()) out.push(`the client's ${name} VIP backends ${got.join(' ')} (want ${want.join(' ')})`);
    const dns = await dig(bed.clientNs, `tasks.${name}`);
    if (dns.join() !== want.join()) out.push(`the client's tasks.${name} answer ${dns.join(' ')} (want ${want.join(' ')})`);
  }
  return out;
}

/** Waits until nothing differs from the manager's truth; ms it took. Throws with the last differences. */
export async function waitClean(bed: FaultBed, replicas = { web: 3, api: 2 }, timeoutMs = 120_000): Promise<number> {
  const from = Date.now();
  let last: string[] = [];
  await waitUntil(
    async () => {
      last = await differences(bed, replicas);
      return last.length === 0;
    },
    timeoutMs,
    'doctor clean and every host holding the manager truth',
    { retryErrors: true, intervalMs: 500 },
  ).catch(async (err: Error) => {
    const tasks = await bed.c.client.listTasks({}).catch(() => []);
    const rows = tasks
      .filter((x) => x.desiredState === 'running' || ['new', 'pending', 'assigned', 'running'].includes(x.status.state))
      .map(
        (x) =>
          `${x.serviceName}.${x.slot} ${x.id.slice(0, 12)} h${bed.c.hostOf(x.nodeId)} desired ${x.desiredState} ${x.status.state} ${x.status.health}`,
      );
    throw new Error(`${err.message}: ${last.join('; ')}\n  live tasks:\n  ${rows.join('\n  ')}`);
  });
  return Date.now() - from;
}

function countsOf(bed: FaultBed, fault: string): Record<string, Record<string, FaultCounts>> {
  const out: Record<string, Record<string, FaultCounts>> = {};
  for (const l of bed.loads) {
    const s = readStatus(l) as (LoadStatus & { phases: Record<string, FaultCounts> }) | undefined;
    out[l.name] = {};
    for (const [name, p] of Object.entries(s?.phases ?? {})) if (name === fault || name.startsWith(`${fault}: `)) out[l.name]![name] = p;
  }
  return out;
}

export interface FaultSpec {
  name: string;
  /** Applies the fault; returns when it is in place (and held, if it is held). */
  inject(): Promise<void>;
  /**
   * For bounded faults: resolves with the time the cluster detected the fault (epoch ms);
   * started right after inject begins.
   */
  detect?: () => Promise<number>;
  /** Undoes the fault (restarts, heals); phase "<name>: recovery" from here. */
  recover?: () => Promise<void>;
  /** Replicas to expect once settled. */
  replicas?: { web: number; api: number };
  /** Seconds of load in "<name>: after", once clean. Default 3. */
  afterSeconds?: number;
}

/**
 * Runs one fault under both loads: phase NAME while it is injected (and detected),
 * "NAME: recovery" from its undoing until every host is clean, "NAME: after" for a
 * stretch after that. Returns (and records) what it measured; asserts nothing.
 */
export async function runFault(bed: FaultBed, spec: FaultSpec): Promise<FaultResult> {
  const before = sample(bed);
  const setAll = (p: string): void => setLoadPhase(bed, p);
  bed.note(`${spec.name}: start`);
  setAll(spec.name);
  const injectedAt = Date.now();
  const detection = spec.detect?.();
  await spec.inject();
  const detectedAt = detection ? await detection : undefined;
  if (detectedAt !== undefined) bed.note(`${spec.name}: detected ${detectedAt - injectedAt} ms after injection`);
  setAll(`${spec.name}: recovery`);
  const recoverAt = Date.now();
  if (spec.recover) await spec.recover();
  const cleanAfterMs = await waitClean(bed, spec.replicas);
  bed.note(`${spec.name}: clean ${cleanAfterMs} ms after it was undone (${Date.now() - recoverAt} ms)`);
  setAll(`${spec.name}: after`);
  await stretch(bed, `${spec.name}: after`, spec.afterSeconds ?? 3);
  const phases = countsOf(bed, spec.name);
  let lastFailure = 0;
  for (const p of Object.values(phases)) lastFailure = Math.max(lastFailure, p[spec.name]?.lastFailureAt ?? 0);
  const late = detectedAt !== undefined && lastFailure > detectedAt ? await lateFailures(bed, phases, detectedAt) : [];
  const result: FaultResult = {
    fault: spec.name,
    phases,
    ...(detectedAt !== undefined ? { detectedAfterMs: detectedAt - injectedAt } : {}),
    ...(detectedAt !== undefined && lastFailure > 0 ? { lastFailureAfterDetectionMs: lastFailure - detectedAt } : {}),
    cleanAfterMs,
    ...(late.length > 0 ? { lateFailures: late } : {}),
    allocationProblems: await allocationProblems(bed.c),
    before,
    after: sample(bed),
  };
  bed.results.push(result);
  for (const line of describeResult(result)) bed.note(line);
  appendFileSync(reportFile(bed), `${JSON.stringify({ at: new Date().toISOString(), ...result })}\n`);
  return result;
}

/**
 * The east-west failures that started after `detectedAt`, with the client sandbox's
 * conntrack entry for each one's local port (an unanswered SYN's entry lives 120 s), which
 * names the backend its connection was sent to.
 */
async function lateFailures(
  bed: FaultBed,
  phases: Record<string, Record<string, FaultCounts>>,
  detectedAt: number,
): Promise<NonNullable<FaultResult['lateFailures']>> {
  const out: NonNullable<FaultResult['lateFailures']> = [];
  for (const p of Object.values(phases['east-west'] ?? {})) {
    for (const f of p.failures) {
      if (Date.parse(f.at) <= detectedAt) continue;
      let conntrack = 'no local port';
      if (f.localPort) {
        const r = await inNs(bed.clientNs, ['conntrack', '-L', '-p', 'tcp', '--sport', String(f.localPort)]);
        conntrack = r.stdout.trim() || `none (${r.stderr.trim().split('\n').pop()})`;
      }
      out.push({ at: f.at, target: f.target, error: f.error, conntrack });
    }
  }
  return out;
}

function describeCounts(p: FaultCounts | undefined): string {
  if (!p) return 'no requests';
  const errs = Object.entries(p.errors)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  return `${p.ok} ok, ${p.failed} failed${errs ? ` (${errs})` : ''}, ${p.retried ?? 0} retried, ${p.skipped} skipped, max ${p.maxMs} ms, ${p.slow} slow`;
}

function kbDelta(a: ProcSample | undefined, b: ProcSample | undefined): string {
  if (!a || !b) return `${a ? `${a.rssKb} kB/${a.fds} fds` : 'gone'} -> ${b ? `${b.rssKb} kB/${b.fds} fds` : 'gone'}`;
  return `${a.rssKb} -> ${b.rssKb} kB RSS, ${a.fds} -> ${b.fds} fds`;
}

/**
 * Where each fault's result is appended as a JSON line (with the first failures of every
 * phase in detail): SHOAL_FAULT_REPORT, else shoal-faults-PREFIXresults.jsonl in the temp
 * directory (it outlives the test, for the figures in docs/RELIABILITY.md).
 */
export function reportFile(bed: FaultBed): string {
  return process.env['SHOAL_FAULT_REPORT'] ?? join(tmpdir(), `shoal-faults-${bed.c.prefix}results.jsonl`);
}

/** Human lines for one fault's figures. */
export function describeResult(r: FaultResult): string[] {
  const lines = [`${r.fault}:`];
  for (const [load, phases] of Object.entries(r.phases)) {
    for (const [name, p] of Object.entries(phases)) lines.push(`  ${load} / ${name}: ${describeCounts(p)}`);
  }
  if (r.detectedAfterMs !== undefined) lines.push(`  detected after ${r.detectedAfterMs} ms`);
  if (r.lastFailureAfterDetectionMs !== undefined) lines.push(`  last failure ${r.lastFailureAfterDetectionMs} ms after detection`);
  for (const f of r.lateFailures ?? []) lines.push(`  late east-west failure ${f.at} to ${f.target} (${f.error}): ${f.conntrack}`);
  lines.push(`  clean ${r.cleanAfterMs} ms after recovery began; allocations: ${r.allocationProblems.join('; ') || 'ok'}`);
  for (const h of Object.keys(r.before.agents)) lines.push(`  agent ${h}: ${kbDelta(r.before.agents[h], r.after.agents[h])}`);
  lines.push(`  manager: ${kbDelta(r.before.manager, r.after.manager)}`);
  return lines;
}

/** Failures of a load in a phase of a fault. */
export function failedIn(r: FaultResult, load: string, phase: string): number {
  return r.phases[load]?.[phase]?.failed ?? 0;
}

/** Asserts the figures a zero-failure fault promises: no failure in any phase, clean, allocations intact. */
export function assertNoFailures(t: Test, r: FaultResult): void {
  for (const [load, phases] of Object.entries(r.phases)) {
    for (const [name, p] of Object.entries(phases)) {
      t.ok(p.ok > 0, `${load} / ${name}: requests answered`);
      t.equal(
        p.failed,
        0,
        `${load} / ${name}: 0 failed requests (${describeCounts(p)})${p.failed > 0 ? `\n  first failures: ${JSON.stringify(p.failures.slice(0, 10))}` : ''}`,
      );
    }
  }
  t.same(r.allocationProblems, [], 'no duplicated or stray allocation');
}

/** Asserts a bounded fault's promise: failures stop within 5 s of detection; none once it is undone and clean. */
export function assertBounded(t: Test, r: FaultResult, opts: { cleanRecovery?: boolean } = {}): void {
  t.ok(r.detectedAfterMs !== undefined, `the fault was detected (${r.detectedAfterMs} ms)`);
  const last = r.lastFailureAfterDetectionMs;
  t.ok(last === undefined || last <= DETECTION_GRACE_MS, `failures stop within 5 s of detection (last one ${last ?? 'none'} ms after)`);
  for (const [load, phases] of Object.entries(r.phases)) {
    if (opts.cleanRecovery) {
      const rec = phases[`${r.fault}: recovery`];
      t.equal(rec?.failed ?? 0, 0, `${load} / recovery: 0 failed requests (${describeCounts(rec)})`);
    }
    const p = phases[`${r.fault}: after`];
    t.equal(p?.failed ?? 0, 0, `${load} / after: 0 failed requests (${describeCounts(p)})`);
    t.ok((p?.ok ?? 0) > 0, `${load} / after: requests answered`);
  }
  t.same(r.allocationProblems, [], 'no duplicated or stray allocation');
}

/** Stops the loads; their final counts (to check nothing was still in flight wrongly). */
export async function endLoads(bed: FaultBed): Promise<Array<LoadStatus | undefined>> {
  return stopLoads(bed.loads);
}

// --- underlay faults: nft rules inside a host's namespace, on its underlay link (eth0) ---

const NFT_TABLE = 'shoal_fault';

async function nft(bed: FaultBed, ns: string, script: string): Promise<void> {
  const file = join(bed.dir, `${ns}.nft`);
  writeFileSync(file, script);
  const r = await inNs(ns, ['nft', '-f', file]);
  if (r.code !== 0) throw new Error(`nft in ${ns}: ${r.stderr.trim()}\n${script}`);
}

/** Replaces host h's fault table by one that applies `rule` to every packet in and out of eth0. */
async function setRule(bed: FaultBed, h: number, inRule: string, outRule: string): Promise<void> {
  const ns = bed.c.hostNs(h);
  await nft(
    bed,
    ns,
    `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n` +
      `table inet ${NFT_TABLE} {\n` +
      `  chain in { type filter hook prerouting priority -300; policy accept; iifname "eth0" ${inRule}; }\n` +
      `  chain out { type filter hook postrouting priority 300; policy accept; oifname "eth0" ${outRule}; }\n` +
      `}\n`,
  );
}

/** Removes host h's fault table (nothing when there is none). */
export async function clearRules(bed: FaultBed, h: number): Promise<void> {
  await inNs(bed.c.hostNs(h), ['nft', 'delete', 'table', 'inet', NFT_TABLE]);
}

/** Registers the removal of every host's fault table in teardown. */
export function clearRulesAtEnd(t: Test, bed: FaultBed): void {
  t.teardown(async () => {
    for (let h = 1; h <= bed.c.hosts; h++) await clearRules(bed, h);
  });
}

/** Host h's underlay link drops everything (its cable cut). */
export async function cutUnderlay(bed: FaultBed, h: number): Promise<void> {
  await setRule(bed, h, 'drop', 'drop');
}

/** Host h drops what it exchanges with the other group's underlay addresses. */
export async function partitionFrom(bed: FaultBed, h: number, others: readonly number[]): Promise<void> {
  const set = others.map(hostAddr).join(', ');
  await setRule(bed, h, `ip saddr { ${set} } drop`, `ip daddr { ${set} } drop`);
}

/** Host h loses `percent` % of the packets in each direction of its underlay link. */
export async function lossyUnderlay(bed: FaultBed, h: number, percent: number): Promise<void> {
  await setRule(bed, h, `numgen random mod 100 < ${percent} drop`, `numgen random mod 100 < ${percent} drop`);
}

// --- detection ---

/** Resolves with the time every host in `observers` sees `nodeId` dead in gossip, or the manager marks it down, whichever is first. */
export async function detectedDead(
  bed: FaultBed,
  nodeIds: readonly string[],
  observers: readonly number[],
  timeoutMs = 60_000,
): Promise<number> {
  return waitUntil(
    async () => {
      let gossip = true;
      for (const h of observers) {
        const s = await bed.agentStatus(h);
        if (!nodeIds.every((n) => s.gossip.dead.includes(n))) gossip = false;
      }
      return gossip ? Date.now() : undefined;
    },
    timeoutMs,
    `${nodeIds.length} node(s) to be seen dead by h${observers.join(', h')}`,
    { retryErrors: true, intervalMs: 100 },
  );
}

/** The task processes of a service on host h (from its agent's status). */
export async function taskPids(
  bed: FaultBed,
  h: number,
  services: readonly string[],
): Promise<Array<{ id: string; pid: number; name: string }>> {
  const s = await bed.agentStatus(h);
  return s.workloads.filter((w) => w.phase === 'running' && w.pid > 0 && services.some((n) => w.name.startsWith(`${n}.`)));
}

export { addrOn };

// --- churn ---

/** Whether a process runs node with `needle` in its arguments (not a shell that has it in its script). */
function runsNode(pid: number, needle: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)node$/.test(argv[0] ?? '') && argv.some((a) => a.includes(needle));
  } catch {
    return false;
  }
}

/** `root` and its descendants (from /proc's parent links) that run node with `needle` in their arguments. */
function descendantsMatching(root: number, needle: string): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = runsNode(root, needle) ? [root] : [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (runsNode(c, needle)) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/**
 * Kills a task process (the fixture server, with SIGKILL) of one of `services` at random
 * every `everyMs` for `ms` under the current phase, never one of a service that does not run
 * all its replicas healthy (so a service loses one task at a time). Returns how many it killed.
 */
export async function churn(
  bed: FaultBed,
  phase: string,
  ms: number,
  services: readonly string[],
  everyMs: number,
  killedAt: number[] = [],
): Promise<number> {
  const replicas: Record<string, number> = { web: 3, api: 2 };
  const until = Date.now() + ms;
  let kills = 0;
  let next = Date.now();
  while (Date.now() < until) {
    await waitUntil(() => Date.now() >= next, everyMs + 1000, 'the next churn kill', { intervalMs: 50 });
    next += everyMs;
    const candidates: Array<{ service: string; host: number; id: string; pid: number }> = [];
    for (const service of services) {
      const ok = await healthy(bed.c, service, replicas[service] ?? 1).catch(() => undefined);
      if (!ok) continue;
      for (let h = 1; h <= bed.c.hosts; h++) {
        for (const w of await taskPids(bed, h, [service]).catch(() => [])) candidates.push({ service, host: h, id: w.id, pid: w.pid });
      }
    }
    if (candidates.length === 0) continue;
    const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
    const pids = descendantsMatching(victim.pid, 'server.mjs');
    if (pids.length > 0) killedAt.push(Date.now());
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (pids.length > 0) {
      kills++;
      bed.note(`${phase}: killed ${victim.service} task ${victim.id.slice(0, 12)} on h${victim.host} (pid ${pids.join(',')})`);
    }
  }
  return kills;
}

// --- the faults, as the e2e files and the soak run them ---

function nodeOf(bed: FaultBed, h: number): string {
  return bed.c.agents().find((a) => a.host === `h${h}`)!.nodeId;
}

function hostsBut(bed: FaultBed, hs: readonly number[]): number[] {
  return Array.from({ length: bed.c.hosts }, (_, i) => i + 1).filter((h) => !hs.includes(h));
}

async function reconnected(bed: FaultBed, hosts: readonly number[], timeoutMs = 90_000): Promise<void> {
  for (const h of hosts) {
    await waitUntil(async () => (await bed.agentStatus(h)).connected, timeoutMs, `h${h}'s agent to reconnect`, { retryErrors: true });
  }
}

/**
 * a. Host h's agent SIGKILLed and started again after `downMs` (short: the manager marks a
 * node down after 15 s without heartbeats, and an agent's start-up takes several seconds
 * on a loaded machine).
 */
export function agentKillFault(bed: FaultBed, h: number, what: string, downMs = 1_000): FaultSpec {
  const name = `agent of h${h} (${what}) SIGKILL${bed.suffix}`;
  return {
    name,
    inject: async () => {
      await bed.killAgent(h);
      await hold(bed, name, downMs);
    },
    recover: async () => {
      bed.restartAgent(h, `restarted-${Date.now()}`);
      await reconnected(bed, [h], 60_000);
    },
  };
}

/** b. The manager SIGKILLed, kept down for `downMs`, started again by `testbed up`. */
export function managerFault(bed: FaultBed, downMs: number): FaultSpec {
  const name = `manager SIGKILL, ${downMs / 1000} s down${bed.suffix}`;
  return {
    name,
    inject: async () => {
      process.kill(bed.managerPid(), 'SIGKILL');
      await waitUntil(async () => !(await bed.agentStatus(1)).connected, 30_000, 'h1 to see the manager gone', { retryErrors: true });
      await hold(bed, name, downMs);
    },
    recover: async () => {
      const up = await bed.c.up();
      if (up.code !== 0) throw new Error(`testbed up: ${up.stdout}${up.stderr}`);
      await reconnected(bed, hostsBut(bed, []));
    },
  };
}

/**
 * c. Node death: host h's agent killed and its underlay cut; held until the manager marked
 * it down and its tasks run elsewhere; then the cut is undone, `testbed up` starts the
 * agent again and the node is Ready. The outside load leaves h's own address out meanwhile.
 */
export function nodeDeathFault(bed: FaultBed, h: number): FaultSpec {
  const { c } = bed;
  const node = nodeOf(bed, h);
  return {
    name: `node h${h} dies${bed.suffix}`,
    detect: () => detectedDead(bed, [node], hostsBut(bed, [h])),
    inject: async () => {
      setExcluded(bed, [h]);
      await bed.killAgent(h);
      await cutUnderlay(bed, h);
      await waitUntil(async () => (await c.client.inspectNode(node)).status.state === 'down', 90_000, `the manager to mark h${h} down`, {
        retryErrors: true,
      });
      bed.note(`the manager marks h${h} down`);
      await waitUntil(
        async () => (await healthy(c, 'web', 3, node)) && (await healthy(c, 'api', 2, node)),
        120_000,
        `h${h}'s tasks to be replaced on the live hosts`,
        { retryErrors: true },
      );
      bed.note(`h${h}'s tasks run on the live hosts`);
    },
    recover: async () => {
      await clearRules(bed, h);
      const up = await c.up();
      if (up.code !== 0) throw new Error(`testbed up: ${up.stdout}${up.stderr}`);
      bed.agentStartedByTestbed(h);
      await waitUntil(async () => (await c.client.inspectNode(node)).status.state === 'ready', 90_000, `h${h} to be ready again`, {
        retryErrors: true,
      });
      await reconnected(bed, [h]);
      setExcluded(bed, []);
    },
  };
}

/**
 * A host to stand alone in a partition: one such that each side runs a task of web (the
 * outside load reaches every host's mesh), and the client task is on the manager's side
 * (h1: the manager replaces the other side's tasks, and the east-west load runs in the
 * client's sandbox) with a task of api. Undefined if none.
 */
export async function partitionHost(bed: FaultBed): Promise<number | undefined> {
  const { c } = bed;
  const web = new Set(((await healthy(c, 'web', 3)) ?? []).map((x) => c.hostOf(x.nodeId)));
  const api = new Set(((await healthy(c, 'api', 2)) ?? []).map((x) => c.hostOf(x.nodeId)));
  return hostsBut(bed, []).find((h) => {
    const rest = hostsBut(bed, [h]);
    // the client task stays on the manager's side (h1): the other side's tasks are replaced
    const clientSide = h === bed.clientHost ? [h] : rest;
    return clientSide.includes(1) && web.has(h) && rest.some((x) => web.has(x)) && clientSide.some((x) => api.has(x));
  });
}

/** d. The hosts split into `groupA` and the rest for `ms`, each side dropping the other's underlay addresses; then the heal. */
export function partitionFault(bed: FaultBed, groupA: readonly number[], ms: number): FaultSpec {
  const groupB = hostsBut(bed, groupA);
  const name = `partition h${groupA.join(',h')} | h${groupB.join(',h')} for ${ms / 1000} s${bed.suffix}`;
  return {
    name,
    detect: async () => {
      const [a, b] = await Promise.all([
        detectedDead(
          bed,
          groupB.map((h) => nodeOf(bed, h)),
          groupA,
        ),
        detectedDead(
          bed,
          groupA.map((h) => nodeOf(bed, h)),
          groupB,
        ),
      ]);
      return Math.max(a, b);
    },
    inject: async () => {
      for (const h of groupA) await partitionFrom(bed, h, groupB);
      for (const h of groupB) await partitionFrom(bed, h, groupA);
      await hold(bed, name, ms);
    },
    recover: async () => {
      for (let h = 1; h <= bed.c.hosts; h++) await clearRules(bed, h);
      await reconnected(bed, hostsBut(bed, []));
    },
  };
}

/** e. `percent` % loss on every host's underlay link for `ms`. */
export function lossFault(bed: FaultBed, percent: number, ms: number): FaultSpec {
  const name = `${percent} % underlay loss for ${ms / 1000} s${bed.suffix}`;
  return {
    name,
    inject: async () => {
      for (let h = 1; h <= bed.c.hosts; h++) await lossyUnderlay(bed, h, percent);
      await hold(bed, name, ms);
    },
    recover: async () => {
      for (let h = 1; h <= bed.c.hosts; h++) await clearRules(bed, h);
    },
  };
}

/** f. Churn of web's and api's task processes for `ms`, one kill every `everyMs`; `kills` counts them. */
export function churnFault(
  bed: FaultBed,
  ms: number,
  everyMs = 3_000,
  label = 'churn',
): FaultSpec & { kills: () => number; killedAt: number[] } {
  let kills = 0;
  const killedAt: number[] = [];
  const name = `${label} for ${ms / 1000} s${bed.suffix}`;
  return {
    name,
    inject: async () => {
      kills = await churn(bed, name, ms, ['web', 'api'], everyMs, killedAt);
    },
    kills: () => kills,
    killedAt,
  };
}

/**
 * How long before a request's start a kill still counts as its cause: a SIGKILLed process's
 * sockets go only once it has exited, and until then the kernel still accepts connections
 * on its listening socket and resets them (tens of ms, more on a loaded machine).
 */
const KILL_WINDOW_MS = 500;

/** Errors of a request whose connection broke after it was sent (a server that died under it). */
const BROKEN = new Set(['ECONNRESET', 'aborted', 'socket hang up', 'EPIPE']);

/**
 * A churn's failures in two kinds: a request whose connection broke while a task process
 * was being killed (sent in the 0.5 s after a kill or in flight at it: the server died
 * under it, or its dying socket still accepted it; no balancer can save it), and every
 * other failure (a refused connection that its retry did
 * not save, a timeout, a reset with no kill near it), which the data plane must not cause.
 * Both are counted and printed; only the second kind breaks the promise.
 */
export function classifyChurnFailures(
  r: FaultResult,
  killedAt: readonly number[],
): Record<string, { inFlightAtKill: number; other: number; otherDetail: FaultCounts['failures'] }> {
  const out: Record<string, { inFlightAtKill: number; other: number; otherDetail: FaultCounts['failures'] }> = {};
  for (const [load, phases] of Object.entries(r.phases)) {
    const c = { inFlightAtKill: 0, other: 0, otherDetail: [] as FaultCounts['failures'] };
    for (const p of Object.values(phases)) {
      for (const f of p.failures) {
        const t0 = Date.parse(f.at);
        const inFlight = BROKEN.has(f.error) && killedAt.some((k) => k >= t0 - KILL_WINDOW_MS && k <= t0 + f.afterMs + 50);
        if (inFlight) c.inFlightAtKill++;
        else {
          c.other++;
          c.otherDetail.push(f);
        }
      }
      // failures past the detail kept (100 a phase) count as other
      c.other += Math.max(0, p.failed - p.failures.length);
    }
    out[load] = c;
  }
  return out;
}
