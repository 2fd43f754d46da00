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
 *   end. Goal: as fast as the /16.
 * - heap_bytes_per_100k: heap growth (V8 heap + ArrayBuffer stores) for 100,000 held
 *   addresses, the worse of an IPv4 /14 and an IPv6 /64. Goal < 5,000,000 (50 bytes per
 *   address); heap_bytes_per_address is the same divided by 100,000.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { createAddressSpace, restoreAddressSpace } from '../src/ipam/index.ts';

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
    alloc_release_per_s_v6_64: v6.pairPerS,
    heap_bytes_per_100k: Math.max(heap.v4, heap.v6),
    heap_bytes_per_100k_v4_14: heap.v4,
    heap_bytes_per_100k_v6_64: heap.v6,
    heap_bytes_per_address: Math.max(heap.v4, heap.v6) / 100_000,
  }),
);
