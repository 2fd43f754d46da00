/**
 * The overlay data plane against a hand-built VXLAN path, in one testbed and one run.
 *
 * A 3-host testbed cluster (`shoal testbed up`). Throughput: iperf3, one TCP stream, from
 * a task on h2 to a task on h3 over shoal's overlay, against the same path built by hand
 * between two other namespaces on the same hosts (a namespace with a bridge and a VXLAN
 * device created in the host namespace and moved in, a veth into a second namespace,
 * static fdb and neighbour entries, MTU 1450: exactly what shoal programs). Rounds
 * alternate the two; the figures are medians.
 *
 * Convergence: a scale-up of `web` by one replica through the manager's API, timed until
 * every other host has the new endpoint's neighbour and fdb entries (read over netlink in
 * each host's overlay namespace), repeated; p50 and p99.
 *
 *   npm run bench -- overlay      (root; SHOAL_BENCH_ROUNDS, SHOAL_BENCH_SCALES)
 *
 * Progress goes to stderr; the last stdout line is one JSON object.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connectManager } from '../src/api/client.ts';
import { openRtnl } from '../src/kernel/rtnl.ts';
import type { Rtnl } from '../src/kernel/types.ts';
import { packageRoot } from '../src/common/paths.ts';
import { agentPrefix } from '../src/testbed/testbed.ts';
import { testbedPaths } from '../src/testbed/state.ts';
import { median, percentile, round1, round2 } from './_stats.ts';
import { spawnSyncDown } from './_testbed.ts';

const ROUNDS = Number(process.env['SHOAL_BENCH_ROUNDS'] ?? 3);
const SCALES = Number(process.env['SHOAL_BENCH_SCALES'] ?? 20);
const SECONDS = Number(process.env['SHOAL_BENCH_SECONDS'] ?? 5);
const prefix = `sb${randomBytes(2).toString('hex').slice(0, 3)}-`;
const SHOAL = join(packageRoot(), 'bin', 'shoal.js');
const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_CONTEXT: prefix };
delete env['SHOAL_HOST'];
delete env['SHOAL_DATA_DIR'];

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function shoal(args: string[]): string {
  return execFileSync(process.execPath, [SHOAL, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sh(script: string): void {
  execFileSync('sh', ['-ec', script], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(ns: string, argv: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')} in ${ns}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** One iperf3 run from `from` to `addr` (a server in `serverNs`); Gbit/s received. */
async function iperf(serverNs: string, from: string, addr: string): Promise<number> {
  const server = inNs(serverNs, ['iperf3', '-s', '-1', '-J']);
  await until(async () => ((await inNs(serverNs, ['ss', '-ltn'])).includes(':5201') ? true : undefined), 10_000, 'iperf3 to listen');
  const out = await inNs(from, ['iperf3', '-c', addr, '-t', String(SECONDS), '-J']);
  await server;
  const doc = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return doc.end.sum_received.bits_per_second / 1e9;
}

/** The hand-built reference: namespaces `<host>-refov` (br0 + vx99) and `<host>-refsb` (veth) on h2 and h3. */
function buildReference(): { a: string; b: string; bAddr: string } {
  const hosts = [
    { i: 2, vtep: '192.0.2.12', ip: '10.99.0.2', mac: '02:42:0a:63:00:02' },
    { i: 3, vtep: '192.0.2.13', ip: '10.99.0.3', mac: '02:42:0a:63:00:03' },
  ];
  for (const h of hosts) {
    const host = `${prefix}h${h.i}`;
    const ov = `${host}-refov`;
    const sb = `${host}-refsb`;
    const peer = hosts.find((x) => x.i !== h.i)!;
    sh(`
      ip netns add ${ov}; ip netns add ${sb}
      ip -n ${ov} link set lo up; ip -n ${sb} link set lo up
      ip -n ${ov} link add br0 type bridge; ip -n ${ov} link set br0 mtu 1450 up
      ip -n ${host} link add refvx99 mtu 1450 type vxlan id 99 dstport 4789 local ${h.vtep} nolearning proxy l2miss l3miss
      ip -n ${host} link set refvx99 netns ${ov}
      ip -n ${ov} link set refvx99 master br0 up
      ip -n ${ov} link add vref mtu 1450 type veth peer name eth0 netns ${sb}
      ip -n ${ov} link set vref master br0 up
      ip -n ${sb} link set eth0 address ${h.mac} mtu 1450 up
      ip -n ${sb} addr add ${h.ip}/24 dev eth0
      ip -n ${ov} neigh add ${peer.ip} lladdr ${peer.mac} dev refvx99 nud permanent
      bridge -n ${ov} fdb add ${peer.mac} dev refvx99 dst ${peer.vtep} self permanent
    `);
  }
  return { a: `${prefix}h2-refsb`, b: `${prefix}h3-refsb`, bAddr: '10.99.0.3' };
}

// A signal (^C, or scripts/run-benches.ts at the bench's time limit) ends the process
// without running `finally`: the testbed is taken down here instead.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: taking testbed ${prefix} down`);
    spawnSyncDown(prefix, env);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

try {
  log(`testbed ${prefix}: 3 hosts, a manager and three agents`);
  shoal(['testbed', 'up', '--hosts', '3', '--prefix', prefix]);
  const client = connectManager({ host: `unix://${join(testbedPaths(prefix).dataDir(1), 'manager.sock')}` });
  const state = JSON.parse(execFileSync('cat', [testbedPaths(prefix).stateFile], { encoding: 'utf8' })) as {
    agents: Array<{ host: string; nodeId: string }>;
  };
  const hostOf = (nodeId: string): number => Number(state.agents.find((a) => a.nodeId === nodeId)!.host.slice(1));
  shoal(['network', 'create', '-d', 'overlay', 'front']);
  const front = await client.inspectNetwork('front');
  shoal(['service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', '--', 'sleep', 'infinity']);
  const tasks = await until(
    async () => {
      const ts = (await client.listTasks({ services: ['web'], desiredState: 'running' })).filter((x) => x.status.state === 'running');
      return ts.length === 3 ? ts : undefined;
    },
    120_000,
    'web to run 3 tasks',
  );
  const sbOf = (t: (typeof tasks)[number]): string => `${agentPrefix(prefix, hostOf(t.nodeId))}sb-${t.id.slice(0, 12)}`;
  const onH2 = tasks.find((t) => hostOf(t.nodeId) === 2)!;
  const onH3 = tasks.find((t) => hostOf(t.nodeId) === 3)!;
  const h3Addr = onH3.networks[0]!.addresses[0]!.split('/')[0]!;
  await until(
    async () => ((await inNs(sbOf(onH2), ['ping', '-c', '1', '-W', '1', h3Addr]).catch(() => '')) ? true : undefined),
    30_000,
    'the overlay',
  );
  const ref = buildReference();
  await inNs(ref.a, ['ping', '-c', '1', '-W', '2', ref.bAddr]);

  const shoalGbps: number[] = [];
  const refGbps: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const runShoal = async (): Promise<void> => {
      shoalGbps.push(await iperf(sbOf(onH3), sbOf(onH2), h3Addr));
    };
    const runRef = async (): Promise<void> => {
      refGbps.push(await iperf(ref.b, ref.a, ref.bAddr));
    };
    if (r % 2 === 0) {
      await runShoal();
      await runRef();
    } else {
      await runRef();
      await runShoal();
    }
    log(`round ${r}: shoal ${shoalGbps.at(-1)!.toFixed(2)} Gbit/s, hand-built VXLAN ${refGbps.at(-1)!.toFixed(2)} Gbit/s`);
  }

  // convergence of a scale-up: from the API call until every other host programs the endpoint
  const rtnls = new Map<number, Rtnl>();
  for (const h of [1, 2, 3]) rtnls.set(h, await openRtnl(`${agentPrefix(prefix, h)}ov-${front.id.slice(0, 12)}`));
  const converge: number[] = [];
  let replicas = 3;
  for (let i = 0; i < SCALES; i++) {
    const before = new Set((await client.listTasks({ services: ['web'] })).map((t) => t.id));
    replicas++;
    const t0 = performance.now();
    await client.scaleService('web', replicas);
    const fresh = await until(
      async () => {
        const t = (await client.listTasks({ services: ['web'] })).find(
          (x) => !before.has(x.id) && x.nodeId !== '' && x.networks[0]?.addresses.length,
        );
        return t;
      },
      30_000,
      'the new task to be scheduled',
      2,
    );
    const ip = fresh.networks[0]!.addresses[0]!.split('/')[0]!;
    const mac = fresh.networks[0]!.mac;
    const others = [1, 2, 3].filter((h) => h !== hostOf(fresh.nodeId));
    await until(
      async () => {
        for (const h of others) {
          const r = rtnls.get(h)!;
          const neigh = await r.listNeighbors({ family: 4 });
          if (!neigh.some((n) => n.address === ip && n.lladdr === mac)) return undefined;
          const fdb = await r.listFdb();
          if (!fdb.some((f) => f.mac === mac && f.dst)) return undefined;
        }
        return true;
      },
      30_000,
      `hosts ${others.join(',')} to program ${ip}`,
      2,
    );
    const ms = performance.now() - t0;
    converge.push(ms);
    log(`scale to ${replicas}: ${ip} on h${hostOf(fresh.nodeId)} programmed on h${others.join(', h')} in ${ms.toFixed(1)} ms`);
  }
  for (const r of rtnls.values()) r.close();
  client.close();

  const s = median(shoalGbps);
  const ref2 = median(refGbps);
  console.log(
    JSON.stringify({
      bench: 'overlay',
      throughput_ratio: round2(s / ref2),
      shoal_gbps: round2(s),
      reference_gbps: round2(ref2),
      converge_p50_ms: round1(percentile(converge, 50)),
      converge_p99_ms: round1(percentile(converge, 99)),
      rounds: ROUNDS,
      scale_ups: SCALES,
      goal_throughput_ratio_min: 0.95,
      goal_converge_p99_ms_max: 300,
    }),
  );
} finally {
  try {
    shoal(['testbed', 'down', '--prefix', prefix]);
  } catch (err) {
    log(`testbed down failed: ${(err as Error).message}`);
  }
}
