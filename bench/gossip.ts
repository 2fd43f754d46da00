/**
 * Gossip benchmark: `npm run bench -- gossip`. Progress on stderr; the last stdout line is one
 * JSON object of figures.
 *
 * What each figure measures (see src/gossip/README.md, "Measured"):
 * - converge_ms_nN_lossL: virtual time from one table write until 99.99% of the network's
 *   members hold it (all of them at N <= 9,999; 9,999 of 10,000), on a MemoryNetwork with
 *   1 ms latency + up to 1 ms jitter and L% datagram loss, LAN profile (200 ms gossip
 *   interval, fanout 3). The cluster starts from a formed membership (shared snapshot, every
 *   node on the network): what is measured is table dissemination, not formation. The worst
 *   of TRIALS writes from random nodes (the median is reported too).
 *   false_positives_n1000_loss10: healthy nodes declared dead by anyone during the 10% loss run.
 * - detect_ms_n1000: virtual time from killing a node (no leave) until every other node holds
 *   it dead; worst of 3 kills.
 * - false_positives_n1000_slow1pct: healthy nodes declared dead by anyone during 120 s in which
 *   1% of the nodes handle every timer and every inbound datagram 2 s late.
 * - bytes_per_node_per_s_n1000: sealed-equivalent bytes sent per node per second (envelope
 *   included; stream frames and replies counted too) over 6 minutes with no writes: probing,
 *   push-pulls, table syncs.
 *   bytes_per_node_per_s_n1000_writes adds one table write per second somewhere in the cluster.
 * - converge_ms_n100_real_udp: wall-clock time on real loopback UDP/TCP sockets (NetTransport,
 *   full encode + AES-256-GCM), 100 nodes in this process, LAN profile; worst of TRIALS writes.
 * - cold_join_ms_nN: formation from a cold start, the figure the formed-membership runs above
 *   leave out. N nodes start at the same virtual instant, each knowing nothing but the
 *   addresses of three seeds (the first three nodes), and all join through them at once;
 *   virtual time until every node holds all N members alive (10 ms steps), LAN profile,
 *   no loss. cold_join_wall_ms_nN is the wall-clock time that simulation took (node creation
 *   excluded), cold_join_cpu_s_nN its CPU time. Each size runs in a child process with a
 *   heap of BENCH_GOSSIP_COLD_HEAP_MB (default 3,072) and a wall budget of
 *   BENCH_GOSSIP_COLD_WALL_S (default 600); BENCH_GOSSIP_COLD_NODES lists the sizes (default
 *   1000,2000,10000). Unlike a formed membership, every node keeps its own record of every
 *   member, so the simulation's heap grows with N^2: cold_join_heap_bytes_per_member is the
 *   heap per (node, known member) pair at convergence, measured at the largest size that
 *   converged. A size whose estimate (that figure x N^2) exceeds the heap is not started;
 *   cold_join_nN then says why, and so it does for a size that ran out of heap or time
 *   (with how far it got). Its cold_join_ms_nN is null: not measured, never estimated.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultLanConfig } from '../src/gossip/config.ts';
import { createKeyring, generateGossipKey } from '../src/gossip/keyring.ts';
import { createGossipNode, type GossipNode } from '../src/gossip/memberlist.ts';
import { NetTransport } from '../src/gossip/net-transport.ts';
import { Simulation } from '../src/gossip/simulation.ts';

const TRIALS = 5;
/** argv[2] of the child process that runs one cold join. */
const COLD_CHILD = '--cold-join-child';
const COLD_SIZES = (process.env['BENCH_GOSSIP_COLD_NODES'] ?? '1000,2000,10000').split(',').map(Number);
const COLD_HEAP_MB = Number(process.env['BENCH_GOSSIP_COLD_HEAP_MB'] ?? 3_072);
const COLD_WALL_S = Number(process.env['BENCH_GOSSIP_COLD_WALL_S'] ?? 600);
/** Virtual time a cold join may take before it counts as not converging. */
const COLD_MAX_VIRTUAL_MS = 300_000;
const progress = (msg: string): void => {
  process.stderr.write(`[gossip bench] ${msg}\n`);
};

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Virtual ms until ceil(99.99%) of the network's members hold each of TRIALS writes. */
async function converge(n: number, loss: number, seed: number): Promise<{ max: number; p50: number; cpuS: number; falseDeaths: number }> {
  const cpu = process.cpuUsage();
  const sim = await Simulation.create({ nodes: n, seed, loss, formed: { networks: [{ id: 'net', members: 'all' }] } });
  const need = Math.ceil(0.9999 * n);
  const arrivals = new Map<string, number>();
  const declaredDead = new Set<string>(); // nobody fails here: any death is a false one
  for (const s of sim.nodes) {
    s.node.tables.watch('net', 'ep', (c) => {
      if (c.kind === 'add') arrivals.set(c.key, (arrivals.get(c.key) ?? 0) + 1);
    });
    s.node.onMemberEvent((ev) => {
      if (ev.kind === 'failed') declaredDead.add(ev.member.name);
    });
  }
  sim.run(2_000); // random phases settle
  const times: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const writer = sim.nodes[sim.rng.int(n)]!;
    const key = `trial-${trial}`;
    arrivals.set(key, 0);
    writer.node.tables.set('net', 'ep', key, new Uint8Array([trial])); // the writer counts as holding it
    const took = sim.runUntil(() => (arrivals.get(key) ?? 0) >= need, 60_000, 10);
    if (took === undefined) throw new Error(`n=${n} loss=${loss}: trial ${trial} did not converge in 60 s`);
    times.push(took);
    sim.run(3_000); // let retransmissions end before the next trial
  }
  const used = process.cpuUsage(cpu);
  return { max: Math.max(...times), p50: quantile(times, 0.5), cpuS: (used.user + used.system) / 1e6, falseDeaths: declaredDead.size };
}

async function detect(seed: number): Promise<number> {
  const n = 1000;
  const sim = await Simulation.create({ nodes: n, seed, formed: { networks: [] } });
  sim.run(2_000);
  const times: number[] = [];
  for (const victimIndex of [123, 456, 789]) {
    sim.run(sim.rng.int(1_000)); // kill at a random phase of the probe cycle
    const victim = sim.nodes[victimIndex]!;
    await sim.kill(victimIndex);
    const took = sim.runUntil(() => sim.running().every((s) => s.node.member(victim.name)?.state === 'dead'), 120_000, 10);
    if (took === undefined) throw new Error(`${victim.name} was not declared dead by all within 120 s`);
    times.push(took);
    sim.run(10_000);
  }
  return Math.max(...times);
}

async function falsePositives(seed: number): Promise<{ falsePositives: number; suspicionsOfHealthy: number }> {
  const n = 1000;
  const sim = await Simulation.create({ nodes: n, seed, formed: { networks: [] } });
  const slow = new Set<string>();
  for (let k = 0; k < n / 100; k++) {
    const i = 11 + k * 97;
    sim.slow(i, 2_000);
    slow.add(sim.nodes[i]!.name);
  }
  const declared = new Set<string>();
  let suspicions = 0;
  for (const s of sim.nodes) {
    s.node.onMemberEvent((ev) => {
      if (slow.has(ev.member.name)) return;
      if (ev.kind === 'failed') declared.add(ev.member.name);
      if (ev.kind === 'suspected') suspicions++;
    });
  }
  sim.run(120_000);
  return { falsePositives: declared.size, suspicionsOfHealthy: suspicions };
}

async function bandwidth(seed: number, writesPerSecond: number): Promise<number> {
  const n = 1000;
  const sim = await Simulation.create({ nodes: n, seed, formed: { networks: [{ id: 'net', members: 'all' }] }, countFrameBytes: true });
  // 6 minutes: longer than the first (randomly phased) push-pull and table sync of every node
  // at this size (interval x scale(1000) = 180 s, first one within 90-270 s), so the periodic
  // full exchanges are in the figure, not only probes and gossip.
  const seconds = 360;
  for (let s = 0; s < seconds; s++) {
    for (let w = 0; w < writesPerSecond; w++) sim.nodes[sim.rng.int(n)]!.node.tables.set('net', 'ep', `k-${s}-${w}`, new Uint8Array(64));
    sim.run(1_000);
  }
  return Math.round(sim.network.stats.bytesSent / n / seconds);
}

async function realUdp(): Promise<{ max: number; p50: number }> {
  const n = 100;
  const key = generateGossipKey();
  const config = defaultLanConfig();
  const nodes: GossipNode[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const node = createGossipNode({
        name: `udp-${i}`,
        config,
        transport: new NetTransport({ bind: { host: '127.0.0.1', port: 0 }, maxFrameBytes: config.maxFrameBytes }),
        keyring: createKeyring([key]),
      });
      await node.start();
      nodes.push(node);
    }
    const seeds = nodes.slice(0, 3).map((x) => x.address);
    await Promise.all(nodes.slice(1).map((x) => x.join(seeds.filter((a) => a !== x.address))));
    await waitFor(() => nodes.every((x) => x.liveCount() === n), 60_000, 'the 100-node cluster to form');
    for (const x of nodes) x.joinNetwork('net');
    await waitFor(() => nodes.every((x) => x.tables.nodes('net').length === n), 60_000, 'every node to see the network');
    const arrivals = new Map<string, number[]>();
    for (const x of nodes) {
      x.tables.watch('net', 'ep', (c) => {
        if (c.kind === 'add') (arrivals.get(c.key) ?? arrivals.set(c.key, []).get(c.key)!).push(performance.now());
      });
    }
    const times: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const key = `udp-trial-${trial}`;
      arrivals.set(key, []);
      const start = performance.now();
      nodes[Math.floor(Math.random() * n)]!.tables.set('net', 'ep', key, new Uint8Array([trial]));
      await waitFor(() => arrivals.get(key)!.length >= n, 30_000, `write ${trial} to reach every node`);
      times.push(Math.max(...arrivals.get(key)!) - start);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    return { max: Math.round(Math.max(...times)), p50: Math.round(quantile(times, 0.5)) };
  } finally {
    await Promise.all(nodes.map((x) => x.destroy()));
  }
}

/** What the cold-join child reports over IPC. */
type ColdMessage =
  | { kind: 'progress'; virtualMs: number; meanKnown: number; complete: number; heapMb: number; wallMs: number }
  | { kind: 'done'; virtualMs: number; wallMs: number; cpuS: number; heapBytesPerMember: number }
  | { kind: 'not-converged'; virtualMs: number; wallMs: number; meanKnown: number; complete: number };

type ColdOutcome =
  | { ok: true; virtualMs: number; wallMs: number; cpuS: number; heapBytesPerMember: number }
  | { ok: false; reason: string };

/** Every node holds all n members (alive or suspect) and none of them suspect. */
function formed(sim: Simulation, n: number): boolean {
  for (const s of sim.nodes) if (s.node.liveCount() !== n) return false;
  return sim.nodes.every((s) => s.node.members().every((m) => m.state === 'alive'));
}

/** In the child: one cold join of n nodes, reported to the parent. */
async function coldJoinChild(n: number, seed: number): Promise<void> {
  const send = (m: ColdMessage): void => {
    process.send?.(m);
  };
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const sim = await Simulation.create({ nodes: n, seed });
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu = process.cpuUsage();
  const w0 = performance.now();
  const v0 = sim.clock.now();
  sim.joinAll(0); // all at once: nodes 1..n-1 each push-pull with the three seeds
  let lastReport = v0;
  for (;;) {
    sim.run(10);
    const v = sim.clock.now() - v0;
    let known = 0;
    let complete = 0;
    for (const s of sim.nodes) {
      const live = s.node.liveCount();
      known += live;
      if (live === n) complete++;
    }
    if (complete === n && formed(sim, n)) break;
    if (sim.clock.now() - lastReport >= 1_000) {
      lastReport = sim.clock.now();
      send({
        kind: 'progress',
        virtualMs: v,
        meanKnown: Math.round(known / n),
        complete,
        heapMb: Math.round(process.memoryUsage().heapUsed / 1e6),
        wallMs: Math.round(performance.now() - w0),
      });
    }
    if (v >= COLD_MAX_VIRTUAL_MS) {
      send({ kind: 'not-converged', virtualMs: v, wallMs: Math.round(performance.now() - w0), meanKnown: Math.round(known / n), complete });
      return;
    }
  }
  const virtualMs = sim.clock.now() - v0;
  const wallMs = Math.round(performance.now() - w0);
  const used = process.cpuUsage(cpu);
  gc();
  const heapBytesPerMember = Math.round((process.memoryUsage().heapUsed - heap0) / (n * n));
  send({ kind: 'done', virtualMs, wallMs, cpuS: Number(((used.user + used.system) / 1e6).toFixed(1)), heapBytesPerMember });
}

/** Runs one cold join in a child process with its own heap limit and a wall budget. */
function coldJoin(n: number, seed: number): Promise<ColdOutcome> {
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(import.meta.url), [COLD_CHILD, String(n), String(seed)], {
      execArgv: [...process.execArgv, '--expose-gc', `--max-old-space-size=${COLD_HEAP_MB}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let last: Extract<ColdMessage, { kind: 'progress' }> | undefined;
    let outcome: ColdOutcome | undefined;
    let stderr = '';
    let timedOut = false;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4_000);
    });
    child.on('message', (m: ColdMessage) => {
      if (m.kind === 'progress') {
        last = m;
        progress(
          `  n=${n} t=${m.virtualMs} ms: ${m.complete} nodes complete, ${m.meanKnown} members known on average, heap ${m.heapMb} MB (wall ${(m.wallMs / 1000).toFixed(0)} s)`,
        );
      } else if (m.kind === 'done') {
        outcome = { ok: true, virtualMs: m.virtualMs, wallMs: m.wallMs, cpuS: m.cpuS, heapBytesPerMember: m.heapBytesPerMember };
      } else {
        outcome = {
          ok: false,
          reason: `did not converge in ${m.virtualMs} ms of virtual time (${m.complete} of ${n} nodes complete, ${m.meanKnown} members known on average; ${Math.round(m.wallMs / 1000)} s wall)`,
        };
      }
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, COLD_WALL_S * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (outcome) return resolve(outcome);
      const where = last
        ? `at virtual t=${last.virtualMs} ms, ${last.complete} of ${n} nodes complete, ${last.meanKnown} members known on average, heap ${last.heapMb} MB`
        : 'before the first virtual second had been simulated';
      const why = timedOut
        ? `stopped after the wall budget of ${COLD_WALL_S} s`
        : /heap out of memory/.test(stderr)
          ? `ran out of its ${COLD_HEAP_MB} MB heap`
          : `the simulation process exited (${signal ?? `status ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
      resolve({ ok: false, reason: `${why} ${where}` });
    });
  });
}

async function waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const out: Record<string, unknown> = { bench: 'gossip' };

  progress('convergence, 1,000 nodes, no loss');
  const c1 = await converge(1000, 0, 11);
  out['converge_ms_n1000_loss0'] = c1.max;
  out['converge_ms_n1000_loss0_p50'] = c1.p50;
  progress(`  max ${c1.max} ms, p50 ${c1.p50} ms (cpu ${c1.cpuS.toFixed(1)} s)`);

  progress('convergence, 1,000 nodes, 10% loss');
  const c2 = await converge(1000, 0.1, 12);
  out['converge_ms_n1000_loss10'] = c2.max;
  out['converge_ms_n1000_loss10_p50'] = c2.p50;
  out['false_positives_n1000_loss10'] = c2.falseDeaths;
  progress(`  max ${c2.max} ms, p50 ${c2.p50} ms, ${c2.falseDeaths} nodes falsely declared dead (cpu ${c2.cpuS.toFixed(1)} s)`);

  progress('convergence, 10,000 nodes, no loss (formed membership from a shared snapshot)');
  const c3 = await converge(10_000, 0, 13);
  out['converge_ms_n10000_loss0'] = c3.max;
  out['converge_ms_n10000_loss0_p50'] = c3.p50;
  progress(`  max ${c3.max} ms, p50 ${c3.p50} ms (cpu ${c3.cpuS.toFixed(1)} s)`);

  // A size runs when its heap estimate (the largest converged size's bytes per member x N^2)
  // fits; the first always runs, as there is nothing yet to estimate from.
  let perMember: { n: number; bytes: number } | undefined;
  for (const [k, n] of COLD_SIZES.entries()) {
    const label = n.toLocaleString('en-US');
    const estimateMb = perMember ? Math.round((perMember.bytes * n * n) / 1e6) : undefined;
    out[`cold_join_ms_n${n}`] = null;
    out[`cold_join_wall_ms_n${n}`] = null;
    if (estimateMb !== undefined && estimateMb > COLD_HEAP_MB) {
      const why = `not run: needs about ${estimateMb.toLocaleString('en-US')} MB of heap (${perMember!.bytes} B per node per member, measured at ${perMember!.n.toLocaleString('en-US')} nodes, x N^2) in one process, over BENCH_GOSSIP_COLD_HEAP_MB=${COLD_HEAP_MB}`;
      out[`cold_join_n${n}`] = why;
      progress(`cold join, ${label} nodes: ${why}`);
      continue;
    }
    progress(`cold join, ${label} nodes through 3 seeds, all at once`);
    const r = await coldJoin(n, 18 + k);
    if (r.ok) {
      out[`cold_join_ms_n${n}`] = r.virtualMs;
      out[`cold_join_wall_ms_n${n}`] = r.wallMs;
      out[`cold_join_cpu_s_n${n}`] = r.cpuS;
      perMember = { n, bytes: r.heapBytesPerMember };
      progress(`  ${r.virtualMs} ms virtual, ${r.wallMs} ms wall (cpu ${r.cpuS} s), heap ${r.heapBytesPerMember} B per node per member`);
    } else {
      out[`cold_join_n${n}`] = r.reason;
      progress(`  ${r.reason}`);
    }
  }
  if (perMember) out['cold_join_heap_bytes_per_member'] = perMember.bytes;

  progress('failure detection, 1,000 nodes');
  out['detect_ms_n1000'] = await detect(14);
  progress(`  ${out['detect_ms_n1000']} ms`);

  progress('false positives, 1,000 nodes, 1% slow by 2 s, 120 s');
  const fp = await falsePositives(15);
  out['false_positives_n1000_slow1pct'] = fp.falsePositives;
  out['suspicions_of_healthy_n1000_slow1pct'] = fp.suspicionsOfHealthy;
  progress(`  ${fp.falsePositives} false deaths (${fp.suspicionsOfHealthy} suspicion events about healthy nodes, all refuted)`);

  progress('bandwidth, 1,000 nodes, 6 minutes');
  out['bytes_per_node_per_s_n1000'] = await bandwidth(16, 0);
  out['bytes_per_node_per_s_n1000_writes'] = await bandwidth(17, 1);
  progress(`  ${out['bytes_per_node_per_s_n1000']} B/node/s idle, ${out['bytes_per_node_per_s_n1000_writes']} with one write per second`);

  progress('real loopback UDP/TCP, 100 nodes');
  const r = await realUdp();
  out['converge_ms_n100_real_udp'] = r.max;
  out['converge_ms_n100_real_udp_p50'] = r.p50;
  progress(`  max ${r.max} ms, p50 ${r.p50} ms`);

  out['virtual_time'] = 'all but *_real_udp are virtual-time simulations on a MemoryNetwork (1 ms latency + 0-1 ms jitter)';
  out['n10000_start'] =
    'converge_*: formed membership (shared snapshot), table dissemination only; cold_join_*: formation, every node joining through 3 seeds at once';
  out['profile'] = 'LAN: gossip 200 ms, fanout 3, probe 500 ms, retransmit 4 x ceil(log10(N+1))';
  out['wall_s'] = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const run = process.argv[2] === COLD_CHILD ? coldJoinChild(Number(process.argv[3]), Number(process.argv[4])) : main();
run.then(
  () => {
    if (process.argv[2] === COLD_CHILD) process.disconnect?.();
  },
  (err: unknown) => {
    process.stderr.write(`[gossip bench] failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
