/**
 * The east-west load balancer at scale, on the real kernel, through VipSyncer.
 *
 * one change: 10,000 services x 10 backends (one TCP port each) programmed in one fresh
 * namespace; then ROUNDS times, one backend of one service replaced by another (a rolling
 * update's step), timed end to end through an incremental sync: planning the changed
 * service, the nft element transaction, the conntrack deletion of the departed backend.
 * one_change_to_commit_ms is the part until the nft transaction is committed (new
 * connections avoid the departed backend from then on); the rest is the conntrack deletion
 * of its established flows. process_floor_ms is one `nsenter ... true` from this process:
 * each of the two steps pays it once.
 * Reference, same run, same namespace: the same change written as a whole-table rewrite
 * (what a table-per-sync design pays), and kube-proxy's nftables mode (141 ms, the issue's
 * figure). Also: one backend removed (the count changes: a pick chain comes and goes).
 *
 * full sync: 5,000 services x 50 backends (250,000 backends) written by a full sync into a
 * fresh namespace (plan, read back, one rewrite transaction); then a full sync over the
 * converged table (plan, read back 250,000 elements, compare, nothing applied). Reference:
 * kube-proxy's 2-20 minutes (the figure).
 *
 * mesh (bench/_mesh.ts): the routing mesh in a 3-host testbed cluster against the same
 * HTTP server reached directly (wrk requests and new connections per second), and how fast
 * every host's ingress load balancer follows a scale of the service.
 *
 *   npm run bench -- vip      (root; SHOAL_BENCH_ROUNDS, default 15;
 *                              SHOAL_BENCH_VIP_PARTS: some of one,full,mesh, default all)
 *
 * Progress goes to stderr; the last stdout line is one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConntrack } from '../src/kernel/conntrack.ts';
import { execInNetns } from '../src/kernel/exec.ts';
import { createNft } from '../src/kernel/nft.ts';
import type { VipBackend, VipModel, VipService } from '../src/vip/model.ts';
import { VipSyncer, type VipReport } from '../src/vip/apply.ts';
import { planVip } from '../src/vip/plan.ts';
import { rewriteScript } from '../src/vip/table-state.ts';
import { meshBench } from './_mesh.ts';
import { median, percentile, round1 } from './_stats.ts';

const ROUNDS = Number(process.env['SHOAL_BENCH_ROUNDS'] ?? 15);
const PART_NAMES = ['one', 'full', 'mesh'] as const;
const PARTS = new Set((process.env['SHOAL_BENCH_VIP_PARTS'] ?? PART_NAMES.join(',')).split(',').map((p) => p.trim()));
for (const p of PARTS) {
  if (!(PART_NAMES as readonly string[]).includes(p)) {
    throw new Error(`SHOAL_BENCH_VIP_PARTS: unknown part ${JSON.stringify(p)} (parts: ${PART_NAMES.join(', ')})`);
  }
}
const tag = randomBytes(3).toString('hex');
const namespaces: string[] = [];

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function newNetns(label: string): string {
  const name = `shoal-bvip${tag}-${label}`;
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return name;
}

function cleanup(): void {
  for (const ns of namespaces.splice(0)) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
// SIGTERM too: the bench runner ends a bench past its time limit with SIGTERM
for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(status);
  });
}

/** Backend address number n: 10.64.0.0 + n (up to 4 million). */
function backendIp(n: number): string {
  return `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

function services(count: number, perService: number): VipService[] {
  const out: VipService[] = [];
  for (let i = 0; i < count; i++) {
    const backends: VipBackend[] = [];
    for (let j = 0; j < perService; j++) backends.push({ ip: backendIp(i * perService + j), healthy: true });
    out.push({
      id: `svc-${String(i).padStart(6, '0')}`,
      vip: `10.${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
      backends,
    });
  }
  return out;
}

function check(r: VipReport, transaction: VipReport['transaction'], what: string): void {
  if (r.transaction !== transaction || r.failures.length > 0 || r.problems.length > 0) {
    throw new Error(
      `${what}: expected a ${transaction} transaction, got ${r.transaction} (${r.failures.length} failures, ${r.problems.length} problems)`,
    );
  }
}

async function oneChange(): Promise<Record<string, number>> {
  const ns = newNetns('one');
  const nft = createNft(ns);
  const syncer = new VipSyncer(nft, createConntrack(ns));
  let svcs = services(10_000, 10);
  let t = performance.now();
  const first = await syncer.sync({ tableName: 'shoal-lb', services: svcs }, true);
  check(first, 'rewrite', 'programming 10,000 services');
  const loadMs = performance.now() - t;
  log(`10,000 services x 10 backends programmed in ${round1(loadMs)} ms (nft ${round1(first.timings.applyMs)} ms)`);

  // The floor: one process in the namespace (nsenter, then a program that does nothing).
  const floor: number[] = [];
  for (let k = 0; k < 10; k++) {
    t = performance.now();
    await execInNetns(ns, 'true', []);
    floor.push(performance.now() - t);
  }
  log(`one process in the namespace: ${round1(median(floor))} ms (rss ${Math.round(process.memoryUsage().rss / 1e6)} MB)`);

  const replace: number[] = [];
  const replaceNft: number[] = [];
  const replaceCommit: number[] = [];
  const replaceConntrack: number[] = [];
  const remove: number[] = [];
  const rewrite: number[] = [];
  let fresh = 10_000 * 10;
  for (let round = 0; round < ROUNDS; round++) {
    const i = (round * 7919) % 10_000;
    const next = [...svcs];
    const old = svcs[i]!;
    next[i] = { ...old, backends: [...old.backends.slice(1), { ip: backendIp(fresh++), healthy: true }] };
    t = performance.now();
    const r = await syncer.sync({ tableName: 'shoal-lb', services: next }, false);
    replace.push(performance.now() - t);
    check(r, 'elements', 'one backend replaced');
    replaceNft.push(r.timings.applyMs);
    replaceCommit.push(r.timings.planMs + r.timings.applyMs);
    replaceConntrack.push(r.timings.conntrackMs);
    svcs = next;

    // The same state written as a whole-table rewrite (the reference).
    const model: VipModel = { tableName: 'shoal-lb', services: svcs };
    t = performance.now();
    await nft.apply(rewriteScript(planVip(model).state));
    rewrite.push(performance.now() - t);
    syncer.invalidate(); // the table was written behind the syncer's back
    check(await syncer.sync(model, true), 'none', 'the rewrite wrote the plan');

    // One backend removed, then back: the count changes (pick-tcp-9 comes, goes).
    const j = (i + 1) % 10_000;
    const fewer = [...svcs];
    fewer[j] = { ...svcs[j]!, backends: svcs[j]!.backends.slice(1) };
    t = performance.now();
    check(await syncer.sync({ tableName: 'shoal-lb', services: fewer }, false), 'elements', 'one backend removed');
    remove.push(performance.now() - t);
    check(await syncer.sync({ tableName: 'shoal-lb', services: svcs }, false), 'elements', 'the backend back');
    log(
      `round ${round + 1}/${ROUNDS}: replace ${round1(replace.at(-1)!)} ms (nft ${round1(replaceNft.at(-1)!)}, conntrack ${round1(replaceConntrack.at(-1)!)}), remove ${round1(remove.at(-1)!)} ms, rewrite ${round1(rewrite.at(-1)!)} ms`,
    );
  }
  return {
    one_change_ms_10k_services: round1(median(replace)),
    one_change_p90_ms_10k_services: round1(percentile(replace, 90)),
    one_change_to_commit_ms_10k_services: round1(median(replaceCommit)),
    one_change_nft_ms_10k_services: round1(median(replaceNft)),
    one_change_conntrack_ms_10k_services: round1(median(replaceConntrack)),
    one_backend_removed_ms_10k_services: round1(median(remove)),
    one_change_rewrite_ms_10k_services: round1(median(rewrite)),
    process_floor_ms: round1(median(floor)),
    load_ms_10k_services_100k_backends: round1(loadMs),
  };
}

async function fullSync(): Promise<Record<string, number>> {
  const ns = newNetns('full');
  const syncer = new VipSyncer(createNft(ns), createConntrack(ns));
  const model: VipModel = { tableName: 'shoal-lb', services: services(5_000, 50) };
  let t = performance.now();
  const r = await syncer.sync(model, true);
  const fullMs = performance.now() - t;
  check(r, 'rewrite', 'the full sync of 250,000 backends');
  log(
    `full sync, 5,000 services x 50 backends: ${round1(fullMs)} ms (plan ${round1(r.timings.planMs)}, read ${round1(r.timings.readMs)}, nft ${round1(r.timings.applyMs)}, ${(r.scriptBytes / 1e6).toFixed(1)} MB)`,
  );
  t = performance.now();
  const again = await syncer.sync(model, true);
  const convergedMs = performance.now() - t;
  check(again, 'none', 'the converged full sync');
  log(`full sync over the converged table: ${round1(convergedMs)} ms (read back ${round1(again.timings.readMs)} ms)`);
  return {
    full_sync_ms_5k_services_250k_backends: round1(fullMs),
    full_sync_nft_ms_5k_services_250k_backends: round1(r.timings.applyMs),
    full_resync_converged_ms_5k_services_250k_backends: round1(convergedMs),
    full_resync_read_ms_5k_services_250k_backends: round1(again.timings.readMs),
  };
}

try {
  const one = PARTS.has('one') ? await oneChange() : {};
  cleanup();
  const full = PARTS.has('full') ? await fullSync() : {};
  cleanup();
  const mesh = PARTS.has('mesh') ? await meshBench(log) : undefined;
  if (mesh && mesh.mesh_wrk_error_total > 0) {
    log(`FAILED: wrk saw ${mesh.mesh_wrk_error_total} errors through the mesh or the direct server (mesh_wrk_errors in the JSON)`);
    process.exitCode = 1;
  }
  const result = {
    bench: 'vip',
    parts: [...PARTS],
    ...one,
    ...full,
    ...mesh,
    goals: { one_change_ms_10k_services: 50, full_sync_ms_5k_services_250k_backends: 10_000 },
    references: {
      kube_proxy_nftables_one_change_ms: 141,
      kube_proxy_full_sync_ms_5k_services_250k_backends: '120000-1200000',
      ...(one['one_change_rewrite_ms_10k_services'] === undefined
        ? {}
        : { one_change_as_rewrite_ms: one['one_change_rewrite_ms_10k_services'] }),
    },
    rounds: ROUNDS,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  cleanup();
}
