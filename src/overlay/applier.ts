/**
 * The overlay applier: a list of changes (diff.ts) -> kernel calls, in phases
 * (changePhase): what clears the way, namespaces, links, addresses, routes, neighbours
 * and fdb entries, sysctls and nftables, then the deletes in reverse. The changes of one
 * phase run concurrently, at most APPLY_CONCURRENCY at a time: 1,000 neighbour and fdb
 * entries are 2,000 netlink requests in flight through one handle per namespace, which
 * the kernel layer itself keeps to 200 in flight on a 4 MiB receive buffer (rtnl.ts).
 *
 * A failed change is reported (op, object, error code, errno) and the others still run;
 * a change that depends on a failed one fails by itself (a missing link) and is reported
 * too. Nothing is retried here: the syncer makes the next sync a full one.
 */
import { runLimited } from '../common/concurrency.ts';
import { asShoalError, deletedUnlessMissing, isExists } from '../common/errors.ts';
import type { LinkSpec } from '../kernel/types.ts';
import { changePhase, type ChangeKind, type OverlayChange } from './diff.ts';
import type { DesiredLink, OverlayItemType, OverlayProblem } from './objects.ts';
import type { OverlayKernel } from './overlay-kernel.ts';

/** Changes of one phase in flight at once. */
export const APPLY_CONCURRENCY = 256;

export interface AppliedOp {
  kind: ChangeKind;
  type: OverlayItemType;
  /** Namespace ('' = host). */
  netns: string;
  key: string;
  /** The object's canonical text (what was added or set; what was deleted). */
  text: string;
  /** The change was made by deleting the object and creating it again. */
  recreate?: boolean;
}

export interface FailedOp extends AppliedOp {
  /** Stable error code (SHOAL_ERR_...). */
  code: string;
  errno?: string;
  message: string;
}

export interface ApplyReport {
  /** Every change applied, in the order they completed. */
  applied: AppliedOp[];
  /** Every change that failed, and every namespace that could not be read. */
  failures: FailedOp[];
  /** Model items the planner left out (not kernel failures: another sync does not help). */
  problems: OverlayProblem[];
  durationMs: number;
  /** The slowest changes applied or failed, slowest first (at most SLOWEST_KEPT): where a slow sync spent its time. */
  slowest: TimedOp[];
}

/** One change and how long the kernel took for it. */
export interface TimedOp {
  kind: OverlayChange['kind'];
  netns: string;
  text: string;
  ms: number;
}

const SLOWEST_KEPT = 3;

function keepSlowest(list: TimedOp[], op: TimedOp): void {
  if (list.length === SLOWEST_KEPT && list[SLOWEST_KEPT - 1]!.ms >= op.ms) return;
  list.push(op);
  list.sort((a, b) => b.ms - a.ms);
  if (list.length > SLOWEST_KEPT) list.length = SLOWEST_KEPT;
}

function opOf(c: OverlayChange): AppliedOp {
  const op: AppliedOp = { kind: c.kind, type: c.type, netns: c.netns, key: c.key, text: c.text };
  if (c.recreate) op.recreate = true;
  return op;
}

async function ignoreMissing(op: () => Promise<unknown>): Promise<void> {
  await deletedUnlessMissing(op);
}

// ---------------------------------------------------------------------------------------
// Links

async function createBridge(k: OverlayKernel, netns: string, l: DesiredLink): Promise<void> {
  // The MTU given at creation holds until the first port joins; from then on the bridge
  // follows its smallest port, which is the overlay MTU too.
  const spec: LinkSpec = { name: l.name, kind: 'bridge', up: l.up };
  if (l.mtu !== undefined) spec.mtu = l.mtu;
  if (l.mac !== undefined) spec.mac = l.mac; // set at creation, the kernel keeps it whatever the ports
  await (await k.rtnl(netns)).addLink(spec);
}

/**
 * Created in the host namespace, so that its UDP socket (port 4789 on the VTEP address)
 * lives there; then moved into the overlay namespace under its final name, and only
 * there enslaved and brought up. If the move fails, the device is deleted again.
 */
async function createVxlan(k: OverlayKernel, netns: string, l: DesiredLink): Promise<void> {
  const host = await k.rtnl('');
  const temp = l.tempName ?? l.name;
  const spec: LinkSpec = { name: temp, kind: 'vxlan', vxlan: l.vxlan! };
  if (l.mtu !== undefined) spec.mtu = l.mtu;
  await host.addLink(spec);
  try {
    await host.setLink(temp, { netns, name: l.name });
  } catch (err) {
    await host.deleteLink(temp).catch(() => false);
    throw err;
  }
  const ov = await k.rtnl(netns);
  await ov.setLink(l.name, { ...(l.master !== undefined ? { master: l.master } : {}), up: l.up });
}

/** A veth pair from its creating end, the peer made directly in its namespace. */
async function createVethPair(k: OverlayKernel, netns: string, l: DesiredLink, peer: DesiredLink | undefined): Promise<void> {
  const r = await k.rtnl(netns);
  const p = l.peer!;
  const spec: LinkSpec = {
    name: l.name,
    kind: 'veth',
    up: l.up,
    veth: {
      peerName: p.name,
      ...(p.netns !== netns ? { peerNetns: p.netns } : {}),
      ...(peer?.mac !== undefined ? { peerMac: peer.mac } : {}),
    },
  };
  if (l.mtu !== undefined) spec.mtu = l.mtu;
  if (l.master !== undefined) spec.master = l.master;
  try {
    await r.addLink(spec);
  } catch (err) {
    if (!isExists(err)) throw err;
    // One end exists where the reader did not look (a namespace not read this sync): the
    // pair is made again from scratch.
    await deleteVethEnds(k, netns, l);
    await r.addLink(spec);
  }
  // The MTU given at creation is both ends'; the peer comes up by itself only when told.
  if (peer?.up) await (await k.rtnl(p.netns)).setLink(p.name, { up: true });
}

async function deleteVethEnds(k: OverlayKernel, netns: string, l: DesiredLink): Promise<void> {
  await ignoreMissing(async () => (await k.rtnl(netns)).deleteLink(l.name));
  if (l.peer) {
    const p = l.peer;
    await ignoreMissing(async () => (await k.rtnl(p.netns)).deleteLink(p.name));
  }
}

async function applyLink(k: OverlayKernel, c: OverlayChange): Promise<void> {
  if (c.item.type !== 'link') return;
  const l = c.item.link;
  const r = await k.rtnl(c.netns);
  if (c.kind === 'delete') {
    await r.deleteLink(l.name);
    return;
  }
  if (c.kind === 'change' && !c.recreate) {
    await r.setLink(l.name, c.linkChanges ?? {});
    return;
  }
  if (c.recreate) {
    if (l.create === 'veth') await deleteVethEnds(k, c.netns, l);
    else await r.deleteLink(l.name);
  }
  switch (l.create) {
    case 'bridge':
      return createBridge(k, c.netns, l);
    case 'vxlan':
      return createVxlan(k, c.netns, l);
    case 'veth':
      return createVethPair(k, c.netns, l, c.item.peerLink);
    case 'veth-peer':
    case 'existing':
      // Made by the kernel or by the other end: only changed in place, never created here.
      return;
  }
}

// ---------------------------------------------------------------------------------------

async function applyOne(k: OverlayKernel, c: OverlayChange): Promise<void> {
  const item = c.item;
  switch (item.type) {
    case 'netns':
      if (c.kind === 'delete') await k.netns.delete(item.name);
      else await k.netns.create(item.name);
      return;
    case 'link':
      return applyLink(k, c);
    case 'addr': {
      const r = await k.rtnl(c.netns);
      if (c.kind === 'delete') await r.deleteAddress(item.addr);
      else await r.addAddress(item.addr);
      return;
    }
    case 'route': {
      const r = await k.rtnl(c.netns);
      if (c.kind === 'delete') {
        await r.deleteRoute(item.route);
        return;
      }
      if (c.kind === 'change' && c.previous?.type === 'route') await r.deleteRoute(c.previous.route);
      await r.addRoute(item.route);
      return;
    }
    case 'neigh': {
      const r = await k.rtnl(c.netns);
      if (c.kind === 'delete') await r.deleteNeighbor(item.neigh);
      else await r.setNeighbor(item.neigh);
      return;
    }
    case 'fdb': {
      const r = await k.rtnl(c.netns);
      if (c.kind === 'delete') await r.deleteFdb(item.fdb);
      else await r.setFdb(item.fdb);
      return;
    }
    case 'nft': {
      const nft = k.nft(c.netns);
      if (c.kind === 'delete') await nft.deleteTable(item.table.family, item.table.name);
      else await nft.apply(item.table.script ?? '');
      return;
    }
    case 'sysctl':
      await k.sysctl(c.netns).set(item.sysctl.name, item.sysctl.value);
      return;
  }
}

/**
 * Applies `changes` (as diffOverlay returns them) phase by phase, continuing past
 * failures; the report lists every change applied and every failure.
 */
export async function applyOverlay(k: OverlayKernel, changes: readonly OverlayChange[]): Promise<ApplyReport> {
  const started = performance.now();
  const report: ApplyReport = { applied: [], failures: [], problems: [], durationMs: 0, slowest: [] };
  const phases = new Map<number, OverlayChange[]>();
  for (const c of changes) {
    const p = changePhase(c);
    let list = phases.get(p);
    if (!list) phases.set(p, (list = []));
    list.push(c);
  }
  for (const p of [...phases.keys()].sort((a, b) => a - b)) {
    await runLimited(phases.get(p)!, APPLY_CONCURRENCY, async (c) => {
      const opStarted = performance.now();
      try {
        await applyOne(k, c);
        report.applied.push(opOf(c));
      } catch (err) {
        const e = asShoalError(err);
        const failed: FailedOp = { ...opOf(c), code: e.code, message: e.message };
        if (e.errno !== undefined) failed.errno = e.errno;
        report.failures.push(failed);
      }
      const ms = Math.round((performance.now() - opStarted) * 10) / 10;
      keepSlowest(report.slowest, { kind: c.kind, netns: c.netns, text: c.text, ms });
    });
  }
  report.durationMs = performance.now() - started;
  return report;
}
