/**
 * IPAM benchmark: `npm run bench -- ipam`. Progress goes to stderr; the last stdout line is
 * one JSON object of figures.
 *
 * - alloc_release_per_s_v4_16: allocate+release pairs per second on a /16 holding 30,000
 *   addresses (each step takes a new address and releases the oldest held one), through
 *   the string API the manager uses. Goal >= 1,000,000.
 * - carve_65536_networks_ms: 65,536 networks created without --subnet, each carving a /24
 *   from 10.0.0.0/8 (carveExclude emptied so that all 65,536 fit). Goal < 1,000 ms.
 *   carve_65536_networks_cpu_ms is the process CPU time of the same (GC threads included),
 *   less sensitive to other load on the machine.
 * - restore_65536_networks_ms: restoreAddressSpace over those networks' stored forms.
 * - alloc_per_s_v6_64: dynamic allocations per second in an IPv6 /64, 1,000,000 held at the
 *   end. Goal: as fast as the /16: alloc_per_s_v6_64_over_v4_16 (= alloc_per_s_v6_64 /
 *   alloc_per_s_v4_16, the /16 measured in the same run) >= 1.
 * - heap_bytes_per_100k: heap growth (V8 heap + ArrayBuffer stores) for 100,000 held
 *   addresses, the worse of an IPv4 /14 and an IPv6 /64. Goal < 5,000,000 (50 bytes per
 *   address); heap_bytes_per_address is the same divided by 100,000.
 *
 * The figures above run on an empty or serially filled network, the shape serial allocation
 * is best at. The fragmented patterns below (a seeded Rng: `seed`, BENCH_SEED to change it)
 * put the same operations on a network or pool whose free space is scattered, each beside a
 * reference measured in the same run; each `*_per_op_sequential` / `*_per_op_random` pair
 * has `*_random_over_sequential` = random / sequential (above 1: the fragmented pattern is
 * slower):
 *
 * - alloc_v4_16_holes_ns_per_op_{sequential,random}: one dynamic allocation in a /16.
 *   Sequential = alloc_per_s_v4_16 (an empty range, taken in order). Random: the /16 filled
 *   (65,533 addresses), a seeded-random half released, then the holes filled again; 16
 *   rounds, only the refills timed.
 * - churn_v4_16_ns_per_op_{sequential,random}: one allocate+release pair in a /16 filled and
 *   then left half full (32,766 held). Sequential: the oldest half released, then each step
 *   releases the oldest held address (FIFO). Random: a seeded-random half released, then each
 *   step releases a uniformly random held address (the holes stay scattered).
 * - churn_v6_64_ns_per_op_{sequential,random}: the same in an IPv6 /64 after 1,000,000
 *   allocations, 500,000 held. (Serial allocation in a /64 never comes back to a hole before
 *   2^64 addresses, so there is no "allocate into the holes" figure for IPv6: what
 *   fragmentation costs there is the release and the sparse, growing bitmap.)
 * - subnet_create_us_per_op_{sequential,random}: creating one network (no --subnet, a /24
 *   carved from 10.0.0.0/8, carveExclude emptied). Sequential = carve_65536_networks_ms per
 *   network (an empty pool, carved in order). Random: the pool filled with 65,536 networks,
 *   a seeded-random half of them removed, then as many created again into the scattered
 *   holes. subnet_create_us_per_op_one_gap is the same refill after removing the oldest
 *   half instead (one contiguous gap at the start of the pool).
 * - subnet_remove_us_per_op_{sequential,random}: removing one network from that full pool
 *   until half are gone: in the order they were created (oldest first), or a seeded-random
 *   half.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { createRng, type Rng } from '../src/common/rng.ts';
import { createAddressSpace, restoreAddressSpace } from '../src/ipam/index.ts';
import type { NetworkIpam } from '../src/ipam/index.ts';

const SEED = Number(process.env['BENCH_SEED'] ?? 20_260_101);

let restoreMs = 0;

function log(msg: string): void {
  process.stderr.write(`ipam: ${msg}\n`);
}

function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = getGc();

/** V8 heap plus ArrayBuffer backing stores (large typed arrays live outside the heap). */
function heapAfterGc(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function allocReleaseV4(): number {
  const space = createAddressSpace();
  const net = space.createNetwork({ id: 'b16', name: 'b16', subnets: [{ subnet: '10.20.0.0/16' }] });
  const held = 30_000;
  const ring: string[] = new Array(held);
  for (let i = 0; i < held; i++) ring[i] = net.allocate();
  const pairs = 3_000_000;
  // warm-up
  let head = 0;
  for (let i = 0; i < 200_000; i++) {
    net.release(ring[head]!);
    ring[head] = net.allocate();
    head = head + 1 === held ? 0 : head + 1;
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < pairs; i++) {
    const a = net.allocate();
    net.release(ring[head]!);
    ring[head] = a;
    head = head + 1 === held ? 0 : head + 1;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (net.usage().ipv4!.used !== held) throw new Error('bench: held count drifted');
  return Math.round(pairs / s);
}

function carve(): { ms: number; cpuMs: number; defaultMs: number } {
  // Warm-up (JIT) on a throwaway space.
  const warm = createAddressSpace({ carveExclude: [] });
  for (let i = 0; i < 4_096; i++) warm.createNetwork({ id: `w${i}`, name: `warm-${i}` });
  const space = createAddressSpace({ carveExclude: [] });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let last = '';
  let net;
  for (let i = 0; i < 65_536; i++) net = space.createNetwork({ id: `n${i}`, name: `net-${i}` });
  last = net!.subnets[0]!.subnet;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1e3;
  if (last !== '10.255.255.0/24') throw new Error(`bench: last carved subnet ${last}`);
  let exhausted = false;
  try {
    space.createNetwork({ id: 'extra', name: 'extra' });
  } catch {
    exhausted = true;
  }
  if (!exhausted) throw new Error('bench: the 65,537th network should find the pool exhausted');

  // Restore of the same 65,536 networks (each holding a few addresses) from their forms.
  let k = 0;
  for (const n of space.networks()) if (k++ % 4 === 0) n.allocateEndpoint();
  const stored = space.serializeAll();
  const t2 = process.hrtime.bigint();
  const back = restoreAddressSpace({ carveExclude: [] }, stored);
  restoreMs = Number(process.hrtime.bigint() - t2) / 1e6;
  if (back.size !== 65_536) throw new Error('bench: restore lost networks');

  // Default config: ingress present, 10.255.0.0/16 skipped, 65,280 networks fit.
  const d = createAddressSpace();
  d.createNetwork({ id: 'ingress', name: 'ingress', subnets: [{ subnet: '10.255.0.0/16', gateway: '10.255.0.1' }] });
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 65_280; i++) d.createNetwork({ id: `n${i}`, name: `net-${i}` });
  const defaultMs = Number(process.hrtime.bigint() - t1) / 1e6;
  return { ms, cpuMs, defaultMs };
}

function allocV6(): { allocPerS: number; pairPerS: number } {
  const space = createAddressSpace();
  const net = space.createNetwork({ id: 'v6', name: 'v6', ipv4: false, subnets: [{ subnet: 'fd00:1:2:3::/64' }] });
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) net.allocate(6);
  const allocPerS = Math.round(n / (Number(process.hrtime.bigint() - t0) / 1e9));

  const held = 30_000;
  const net2 = space.createNetwork({ id: 'v6b', name: 'v6b', ipv4: false, subnets: [{ subnet: 'fd00:1:2:4::/64' }] });
  const ring: string[] = new Array(held);
  for (let i = 0; i < held; i++) ring[i] = net2.allocate(6);
  let head = 0;
  const pairs = 1_000_000;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < pairs; i++) {
    const a = net2.allocate(6);
    net2.release(ring[head]!);
    ring[head] = a;
    head = head + 1 === held ? 0 : head + 1;
  }
  const pairPerS = Math.round(pairs / (Number(process.hrtime.bigint() - t1) / 1e9));
  return { allocPerS, pairPerS };
}

function heapPer100k(): { v4: number; v6: number } {
  // Four networks of 100,000 held addresses each, averaged, to rise above GC noise. The
  // returned strings are dropped: only what IPAM keeps is measured.
  const measure = (subnets: string[], family: 4 | 6): number => {
    const space = createAddressSpace();
    const nets = subnets.map((subnet, i) =>
      space.createNetwork({ id: `h${i}`, name: `h${i}`, ...(family === 6 ? { ipv4: false } : {}), subnets: [{ subnet }] }),
    );
    const before = heapAfterGc();
    for (const net of nets) for (let i = 0; i < 100_000; i++) net.allocate(family);
    const after = heapAfterGc();
    for (const net of nets) if (net.usage().subnets[0]!.used !== 100_000) throw new Error('bench: wrong held count');
    return Math.max(0, Math.round((after - before) / nets.length));
  };
  return {
    v4: measure(['10.64.0.0/14', '10.68.0.0/14', '10.72.0.0/14', '10.76.0.0/14'], 4),
    v6: measure(['fd00:9::/64', 'fd00:a::/64', 'fd00:b::/64', 'fd00:c::/64'], 6),
  };
}

function allocV4(): number {
  // 16 rounds of 60,000 allocations in a /16; the releases between rounds are not timed.
  const space = createAddressSpace();
  const net = space.createNetwork({ id: 'a16', name: 'a16', subnets: [{ subnet: '10.21.0.0/16' }] });
  const held: string[] = new Array(60_000);
  let ns = 0;
  for (let round = 0; round < 17; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 60_000; i++) held[i] = net.allocate();
    if (round > 0) ns += Number(process.hrtime.bigint() - t0); // round 0 warms up
    for (const a of held) net.release(a);
  }
  return Math.round((16 * 60_000) / (ns / 1e9));
}

type Order = 'sequential' | 'random';

function elapsedNs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0);
}

/** Allocates until the network's dynamic range is full; returns the addresses in order. */
function fillNetwork(net: NetworkIpam, family: 4 | 6): string[] {
  const free = net.usage()[family === 4 ? 'ipv4' : 'ipv6']!.dynamicFree;
  const out: string[] = new Array(free);
  for (let i = 0; i < free; i++) out[i] = net.allocate(family);
  return out;
}

/** ns per allocation into the seeded-random holes of a full /16 (16 timed refills). */
function allocV4Holes(rng: Rng): number {
  const space = createAddressSpace();
  const net = space.createNetwork({ id: 'f16', name: 'f16', subnets: [{ subnet: '10.22.0.0/16' }] });
  const held = fillNetwork(net, 4);
  const half = held.length >>> 1;
  let ns = 0;
  for (let round = 0; round < 17; round++) {
    rng.shuffle(held);
    for (let i = 0; i < half; i++) net.release(held[i]!);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < half; i++) held[i] = net.allocate();
    if (round > 0) ns += elapsedNs(t0); // round 0 warms up
  }
  if (net.usage().ipv4!.dynamicFree !== 0) throw new Error('bench: the /16 should be full after each refill');
  return ns / (16 * half);
}

/**
 * ns per allocate+release pair in a network first given `fill` addresses of which half are
 * then released: the oldest half and then always the oldest held address (sequential), or a
 * random half and then a random held address (random).
 */
function churn(family: 4 | 6, subnet: string, fill: number | 'full', order: Order, rng: Rng): number {
  const space = createAddressSpace();
  const net = space.createNetwork({ id: 'churn', name: 'churn', ...(family === 6 ? { ipv4: false } : {}), subnets: [{ subnet }] });
  const all = fill === 'full' ? fillNetwork(net, family) : Array.from({ length: fill }, () => net.allocate(family));
  if (order === 'random') rng.shuffle(all);
  const drop = all.length - (all.length >>> 1);
  for (let i = 0; i < drop; i++) net.release(all[i]!);
  const held = all.slice(drop); // sequential: oldest first
  const n = held.length;
  const warm = 200_000;
  const pairs = family === 4 ? 3_000_000 : 1_000_000;
  // The random picks are drawn before the clock starts, so the Rng is not in the figure.
  const picks = new Uint32Array(order === 'random' ? warm + pairs : 0);
  for (let i = 0; i < picks.length; i++) picks[i] = rng.int(n);
  let head = 0;
  let ns = 0;
  for (const [from, to] of [
    [0, warm],
    [warm, warm + pairs],
  ] as const) {
    const t0 = process.hrtime.bigint();
    if (order === 'random') {
      for (let i = from; i < to; i++) {
        const j = picks[i]!;
        const a = net.allocate(family);
        net.release(held[j]!);
        held[j] = a;
      }
    } else {
      for (let i = from; i < to; i++) {
        const a = net.allocate(family);
        net.release(held[head]!);
        held[head] = a;
        head = head + 1 === n ? 0 : head + 1;
      }
    }
    ns = elapsedNs(t0); // the warm-up's time is overwritten
  }
  if (net.usage().subnets[0]!.used !== n) throw new Error('bench: held count drifted');
  return ns / pairs;
}

/**
 * µs per network removal and per network creation in an address space whose pool (10.0.0.0/8
 * in /24s) is full: half the networks removed (in creation order, or a seeded-random half),
 * then as many created again.
 */
function subnetChurn(order: Order, rng: Rng): { removeUs: number; createUs: number } {
  const run = (count: number): { removeUs: number; createUs: number } => {
    const space = createAddressSpace({ carveExclude: [] });
    const ids: string[] = new Array(count);
    for (let i = 0; i < count; i++) {
      ids[i] = `n${i}`;
      space.createNetwork({ id: ids[i]!, name: `net-${i}` });
    }
    if (order === 'random') rng.shuffle(ids);
    const half = count >>> 1;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < half; i++) if (!space.removeNetwork(ids[i]!)) throw new Error(`bench: ${ids[i]} was not there`);
    const removeNs = elapsedNs(t0);
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < half; i++) space.createNetwork({ id: `m${i}`, name: `again-${i}` });
    const createNs = elapsedNs(t1);
    if (space.size !== count) throw new Error('bench: network count drifted');
    if (count === 65_536) {
      let exhausted = false;
      try {
        space.createNetwork({ id: 'extra', name: 'extra' });
      } catch {
        exhausted = true;
      }
      if (!exhausted) throw new Error('bench: the refilled pool should have no /24 left');
    }
    return { removeUs: removeNs / 1e3 / half, createUs: createNs / 1e3 / half };
  };
  run(4_096); // warm-up (JIT); this pool is far from full, so it does not hunt for holes
  return run(65_536);
}

function ratio(random: number, sequential: number): number {
  return Number((random / sequential).toFixed(2));
}

function round1(x: number): number {
  return Number(x.toFixed(1));
}

function round2(x: number): number {
  return Number(x.toFixed(2));
}

log('allocate+release on a /16 ...');
const v4 = allocReleaseV4();
log(`  ${v4} pairs/s`);
log('carving 65,536 /24 networks ...');
const c = carve();
log(
  `  ${c.ms.toFixed(1)} ms wall, ${c.cpuMs.toFixed(1)} ms CPU (default config, 65,280 networks: ${c.defaultMs.toFixed(1)} ms); restoring 65,536: ${restoreMs.toFixed(1)} ms`,
);
log('allocating in an IPv4 /16 (for comparison) ...');
const v4alloc = allocV4();
log(`  ${v4alloc} allocations/s`);
log('allocating in an IPv6 /64 ...');
const v6 = allocV6();
log(`  ${v6.allocPerS} allocations/s, ${v6.pairPerS} allocate+release pairs/s`);
log('heap for 100,000 held addresses ...');
const heap = heapPer100k();
log(`  IPv4 /14: ${heap.v4} bytes, IPv6 /64: ${heap.v6} bytes`);

log(`fragmented patterns (seed ${SEED}) ...`);
const rng = createRng(SEED);
const holesV4 = allocV4Holes(rng.fork());
const seqAllocV4 = 1e9 / v4alloc;
log(`  allocate in a /16: ${seqAllocV4.toFixed(1)} ns into an empty range, ${holesV4.toFixed(1)} ns into random holes`);
const churnV4Seq = churn(4, '10.23.0.0/16', 'full', 'sequential', rng.fork());
const churnV4Rnd = churn(4, '10.24.0.0/16', 'full', 'random', rng.fork());
log(`  allocate+release in a half-full /16: ${churnV4Seq.toFixed(1)} ns FIFO, ${churnV4Rnd.toFixed(1)} ns random`);
const churnV6Seq = churn(6, 'fd00:1:2:5::/64', 1_000_000, 'sequential', rng.fork());
const churnV6Rnd = churn(6, 'fd00:1:2:6::/64', 1_000_000, 'random', rng.fork());
log(`  allocate+release in a /64 holding 500,000: ${churnV6Seq.toFixed(1)} ns FIFO, ${churnV6Rnd.toFixed(1)} ns random`);
const subnetSeq = subnetChurn('sequential', rng.fork());
const subnetRnd = subnetChurn('random', rng.fork());
log(
  `  65,536 /24 networks, half removed and created again: remove ${subnetSeq.removeUs.toFixed(2)} µs oldest first, ${subnetRnd.removeUs.toFixed(2)} µs random; create ${((c.ms * 1e3) / 65_536).toFixed(2)} µs into an empty pool, ${subnetSeq.createUs.toFixed(2)} µs into one gap, ${subnetRnd.createUs.toFixed(2)} µs into random holes`,
);

console.log(
  JSON.stringify({
    bench: 'ipam',
    alloc_release_per_s_v4_16: v4,
    carve_65536_networks_ms: Math.round(c.ms),
    carve_65536_networks_cpu_ms: Math.round(c.cpuMs),
    carve_65280_networks_default_config_ms: Math.round(c.defaultMs),
    restore_65536_networks_ms: Math.round(restoreMs),
    alloc_per_s_v6_64: v6.allocPerS,
    alloc_per_s_v4_16: v4alloc,
    alloc_per_s_v6_64_over_v4_16: round2(v6.allocPerS / v4alloc),
    alloc_release_per_s_v6_64: v6.pairPerS,
    heap_bytes_per_100k: Math.max(heap.v4, heap.v6),
    heap_bytes_per_100k_v4_14: heap.v4,
    heap_bytes_per_100k_v6_64: heap.v6,
    heap_bytes_per_address: Math.max(heap.v4, heap.v6) / 100_000,
    seed: SEED,
    alloc_v4_16_holes_ns_per_op_sequential: round1(seqAllocV4),
    alloc_v4_16_holes_ns_per_op_random: round1(holesV4),
    alloc_v4_16_holes_random_over_sequential: ratio(holesV4, seqAllocV4),
    churn_v4_16_ns_per_op_sequential: round1(churnV4Seq),
    churn_v4_16_ns_per_op_random: round1(churnV4Rnd),
    churn_v4_16_random_over_sequential: ratio(churnV4Rnd, churnV4Seq),
    churn_v6_64_ns_per_op_sequential: round1(churnV6Seq),
    churn_v6_64_ns_per_op_random: round1(churnV6Rnd),
    churn_v6_64_random_over_sequential: ratio(churnV6Rnd, churnV6Seq),
    subnet_create_us_per_op_sequential: round2((c.ms * 1e3) / 65_536),
    subnet_create_us_per_op_random: round2(subnetRnd.createUs),
    subnet_create_random_over_sequential: ratio(subnetRnd.createUs, (c.ms * 1e3) / 65_536),
    subnet_create_us_per_op_one_gap: round2(subnetSeq.createUs),
    subnet_remove_us_per_op_sequential: round2(subnetSeq.removeUs),
    subnet_remove_us_per_op_random: round2(subnetRnd.removeUs),
    subnet_remove_random_over_sequential: ratio(subnetRnd.removeUs, subnetSeq.removeUs),
  }),
);
