/**
 * Kernel programming throughput: 1,000 fdb and 1,000 neighbour entries on a VXLAN device
 * through src/kernel (netlink, pipelined), against the same entries through iproute2's
 * `bridge -batch` and `ip -batch` in the same run (the reference: one process each, one
 * netlink socket, requests sent back to back). Each side gets a fresh namespace with an
 * identical VXLAN device. Prints progress to stderr; the last stdout line is JSON.
 *
 *   npm run bench -- kernel
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNetnsManager } from '../src/kernel/netns.ts';
import { openRtnl } from '../src/kernel/rtnl.ts';
import type { Rtnl } from '../src/kernel/types.ts';
import { median, round1 } from './_stats.ts';

const N = 1000;
const ROUNDS = Number(process.env['SHOAL_BENCH_ROUNDS'] ?? 5);
const netns = createNetnsManager();
const tag = randomBytes(3).toString('hex');

function entries(): Array<{ ip: string; mac: string; vtep: string }> {
  const out = [];
  for (let i = 0; i < N; i++) {
    const hi = (i >> 8) & 0xff;
    const lo = i & 0xff;
    const hex = (x: number): string => x.toString(16).padStart(2, '0');
    out.push({ ip: `10.${hi}.${lo}.7`, mac: `02:42:0a:${hex(hi)}:${hex(lo)}:07`, vtep: `192.0.2.${11 + (i % 200)}` });
  }
  return out;
}

async function makeVxlan(ns: string): Promise<Rtnl> {
  await netns.create(ns);
  const rtnl = await openRtnl(ns);
  await rtnl.addLink({
    name: 'vx4097',
    kind: 'vxlan',
    vxlan: { vni: 4097, dstport: 4789, learning: false, proxy: true, l2miss: true, l3miss: true },
    up: true,
  });
  return rtnl;
}

async function ours(round: number): Promise<number> {
  const ns = `shoal-b${tag}-k${round}`;
  const rtnl = await makeVxlan(ns);
  try {
    const list = entries();
    const t0 = performance.now();
    await Promise.all([
      ...list.map((e) => rtnl.setFdb({ link: 'vx4097', mac: e.mac, dst: e.vtep, self: true, permanent: true })),
      ...list.map((e) => rtnl.setNeighbor({ link: 'vx4097', address: e.ip, lladdr: e.mac, state: 'permanent' })),
    ]);
    const ms = performance.now() - t0;
    const fdb = (await rtnl.listFdb({ link: 'vx4097' })).filter((f) => f.self && f.dst).length;
    const neigh = (await rtnl.listNeighbors({ link: 'vx4097', family: 4 })).length;
    if (fdb !== N || neigh !== N) throw new Error(`src/kernel programmed ${fdb} fdb and ${neigh} neighbour entries, want ${N} each`);
    return ms;
  } finally {
    rtnl.close();
    await netns.delete(ns);
  }
}

async function iproute2(round: number): Promise<number> {
  const ns = `shoal-b${tag}-i${round}`;
  const rtnl = await makeVxlan(ns);
  try {
    const list = entries();
    const fdbBatch = list.map((e) => `fdb append ${e.mac} dev vx4097 dst ${e.vtep} self permanent`).join('\n') + '\n';
    const neighBatch = list.map((e) => `neigh replace ${e.ip} lladdr ${e.mac} dev vx4097 nud permanent`).join('\n') + '\n';
    const t0 = performance.now();
    execFileSync('bridge', ['-n', ns, '-batch', '-'], { input: fdbBatch });
    execFileSync('ip', ['-n', ns, '-batch', '-'], { input: neighBatch });
    const ms = performance.now() - t0;
    const fdb = (await rtnl.listFdb({ link: 'vx4097' })).filter((f) => f.self && f.dst).length;
    const neigh = (await rtnl.listNeighbors({ link: 'vx4097', family: 4 })).length;
    if (fdb !== N || neigh !== N) throw new Error(`iproute2 programmed ${fdb} fdb and ${neigh} neighbour entries, want ${N} each`);
    return ms;
  } finally {
    rtnl.close();
    await netns.delete(ns);
  }
}

const oursMs: number[] = [];
const refMs: number[] = [];
await ours(-1); // warm-up: JIT, module loading
for (let r = 0; r < ROUNDS; r++) {
  // alternate the order so drift on a noisy machine hits both sides alike
  if (r % 2 === 0) {
    oursMs.push(await ours(r));
    refMs.push(await iproute2(r));
  } else {
    refMs.push(await iproute2(r));
    oursMs.push(await ours(r));
  }
  process.stderr.write(`round ${r}: src/kernel ${oursMs.at(-1)!.toFixed(1)} ms, iproute2 batch ${refMs.at(-1)!.toFixed(1)} ms\n`);
}
const a = median(oursMs);
const b = median(refMs);
console.log(
  JSON.stringify({
    bench: 'kernel',
    entries: 2 * N,
    rounds: ROUNDS,
    fdb_neigh_2000_ms: round1(a),
    iproute2_batch_ms: round1(b),
    ratio: Math.round((a / b) * 100) / 100,
    goal_ratio_max: 3,
  }),
);
