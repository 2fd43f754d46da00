/**
 * VipSyncer: brings one namespace's load-balancer table to a model, for the agent's
 * SyncRunner to call, and deletes the conntrack entries of backends that left.
 *
 * Full sync (asked for, the first one, after a table name change, after any nft failure):
 * plans the whole model, reads the table back (`nft -j list table`, never trusted from
 * memory), and compares canonical texts. Equal: nothing is applied. Different only in
 * elements and pick chains: one transaction of element adds and deletes repairs it.
 * Anything else (a missing table, a changed declaration or rule), or a repair nft refuses:
 * the whole table is rewritten in one atomic transaction (`add table; delete table; ...`).
 *
 * Incremental sync: the services that are not the same objects as at the last successful
 * sync are planned again (VipPlanner), and their element changes are applied as one
 * transaction of element adds and deletes (and a pick chain when a backend count appears or
 * disappears): no table statement, no read. If nft refuses it, the same call falls back to
 * a full sync.
 *
 * Conntrack, after the table changed (so no new connection can reach a departed backend):
 * - a backend port (PROTO IP TARGETPORT) that no programmed service keeps any more (its
 *   backend was removed from the model or turned unhealthy; a draining backend is kept)
 *   loses every entry whose reply source it is (as `conntrack -D --reply-src IP -p PROTO
 *   --reply-port-src PORT`): its established connections are cut, the clients reconnect and
 *   get a live backend. Entries of backends still kept are untouched. This also ends direct
 *   connections from this namespace to that backend port, which would not outlive it either;
 * - a backend of an every-port entry (PROTO IP * VIP) no longer kept loses the entries
 *   whose reply source it is and whose original destination is the VIP, on any port
 *   (as `conntrack -D --reply-src IP -p PROTO -d VIP`): what the VIP sent it, and nothing else;
 * - a UDP service port that gets its first backend in an existing table loses the entries
 *   whose original destination it is: a UDP flow sent while the port had no backend would
 *   otherwise stay un-NATed for as long as it keeps sending (kube-proxy does the same). For
 *   an every-port UDP entry: the entries whose reply source is the VIP itself, any port
 *   (un-NATed ones; those already NATed to a backend answer from the backend and stay).
 *   When the table did not exist yet (a new sandbox) nothing is flushed for this;
 * - a backend that turns lost (VipBackend.lost: its node failed) loses the entries whose
 *   reply source it is and that never saw a reply (`reply-src IP`, unreplied): the SYNs
 *   sent to it before the failure was known, which would catch a later connection from a
 *   reused client port. Its answered connections stay. Once per backend while it is lost.
 * All of a sync's deletions are one batch (Conntrack.deleteMatching: one read of the
 * table, where one per deletion cost a dump each of every entry the namespace holds). A
 * batch that fails is reported (each deletion in it) and retried whole at the next sync.
 *
 * sync(), doctor() and remove() never overlap: each waits for the one before it.
 */
import { asShoalError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { withExprText } from '../kernel/nft-expr-text.ts';
import { canonicalNftTable } from '../kernel/nft.ts';
import type { Conntrack, ConntrackDeletion, Nft } from '../kernel/types.ts';
import { vipError } from './errors.ts';
import type { VipModel, VipService } from './model.ts';
import {
  anyPortKey,
  backendKey,
  backendsMapName,
  CHAIN_REFUSE,
  EVERY_PORT,
  MAP_BACKENDS_ANY,
  MAP_SERVICES,
  MAP_SERVICES_ANY,
  parseBackendKey,
  ServiceIndex,
  planVip,
  sortProblems,
  VIP_FAMILY,
  VIP_PROTOCOLS,
  VipPlanner,
  type PlannerDelta,
  type VipProblem,
} from './plan.ts';
import {
  canonicalOfState,
  deltaCounts,
  deltaScript,
  diffStates,
  rewriteScript,
  stateFromCanonical,
  type NftTableState,
} from './table-state.ts';

export interface VipSyncerOptions {
  logger?: Logger;
  /**
   * Run each sync's conntrack deletions after it returns, instead of inside it (default
   * false). A deletion walks the kernel's whole conntrack table (every namespace's
   * entries), which can take hundreds of milliseconds after heavy traffic; deferred, it no
   * longer holds back the next sync's table change, so a new backend is not kept waiting
   * by the cleanup of one that left. Its results are logged, not reported, and a failure
   * is retried by the next sync's deletions. A sync whose model names a backend address
   * still being cleaned up waits for that cleanup first: an address that comes back must
   * not lose its new connections to a deletion meant for its old ones.
   */
  deferConntrack?: boolean;
}

/** A conntrack deletion that failed (it is retried at the next sync). */
export interface VipFailure {
  /** `reply-src tcp 10.0.1.5 8080`, `reply-src tcp 10.0.1.5 * 10.0.0.2` (every port, through that VIP),
   * `orig-dst udp 10.0.0.2 53` or `reply-src udp 10.0.0.2 *` (an every-port UDP entry opened). */
  op: string;
  code: string;
  message: string;
  errno?: string;
}

export interface VipReport {
  /** The sync planned everything and read the table back (asked for, or forced). */
  full: boolean;
  /** An incremental transaction failed and this call went on with a full sync. */
  fellBack: boolean;
  /** What was applied to nft: nothing, element changes, or the whole table. */
  transaction: 'none' | 'elements' | 'rewrite';
  /** Why the table was rewritten (missing, a declaration differs...), when it was. */
  rewriteReason?: string;
  elementsAdded: number;
  elementsDeleted: number;
  chainsAdded: number;
  chainsDeleted: number;
  /** Bytes of the transaction applied (0 when none). */
  scriptBytes: number;
  conntrack: {
    /** Backend ports whose entries were deleted (`PROTO IP PORT`, or `PROTO IP * VIP` for every port through a VIP). */
    flushed: string[];
    /** UDP service ports opened whose un-NATed entries were deleted (`udp VIP PORT`, `udp VIP *` for every port). */
    opened: string[];
    /** Lost backends (VipBackend.lost) whose unanswered entries were deleted, by address. */
    lost: string[];
    /** Entries deleted in all. */
    deleted: number;
  };
  /** Conntrack deletions that failed (an nft failure throws instead). */
  failures: VipFailure[];
  /** Model items left out, and why. */
  problems: VipProblem[];
  /** Services programmed: holding at least one port of their VIP (VipPlanner.programmed). */
  services: number;
  /** Milliseconds: planning, reading the table back, nft transaction, conntrack, whole sync. */
  timings: { planMs: number; readMs: number; applyMs: number; conntrackMs: number };
  durationMs: number;
}

/** Most differences doctor() lists. */
export const DOCTOR_MAX_LINES = 200;
const LOGGED = 20;

/** Freezes a service and what it holds, so a later mutation throws instead of being missed. */
function freezeService(svc: VipService): void {
  if (Object.isFrozen(svc)) return;
  if (Array.isArray(svc.ports)) for (const p of svc.ports) Object.freeze(p);
  if (Array.isArray(svc.backends)) for (const b of svc.backends) Object.freeze(b);
  Object.freeze(svc.ports);
  Object.freeze(svc.backends);
  Object.freeze(svc);
}

function checkModel(model: VipModel): void {
  if (typeof model !== 'object' || model === null || !Array.isArray(model.services)) {
    throw vipError('SHOAL_ERR_VIP_BAD_MODEL', 'a load-balancer model needs a tableName and a services array');
  }
}

/** Backend ports a table's backends maps point at (every-port ones per protocol their VIP serves). */
function backendPortsOf(state: NftTableState | undefined): Set<string> {
  const out = new Set<string>();
  if (!state) return out;
  for (const p of VIP_PROTOCOLS) {
    const set = state.sets.get(backendsMapName(p));
    if (!set) continue;
    for (const data of set.elements.values()) {
      const [ip, port] = data.split(' . ');
      if (ip && port) out.add(backendKey(p, ip, port));
    }
  }
  const protocols = new Map<string, string[]>();
  for (const key of state.sets.get(MAP_SERVICES_ANY)?.elements.keys() ?? []) {
    const [vip, proto] = key.split(' . ');
    if (vip && proto) protocols.set(vip, [...(protocols.get(vip) ?? []), proto]);
  }
  for (const [key, ip] of state.sets.get(MAP_BACKENDS_ANY)?.elements ?? []) {
    const vip = key.split(' . ', 1)[0]!;
    for (const proto of protocols.get(vip) ?? []) out.add(anyPortKey(proto, ip, vip));
  }
  return out;
}

/** UDP service ports that are served in `to` and were not in `from` (undefined = nothing); port 0 = every port. */
function udpOpenedBetween(from: NftTableState | undefined, to: NftTableState): Array<{ vip: string; port: number }> {
  const out: Array<{ vip: string; port: number }> = [];
  const refuse = `goto ${CHAIN_REFUSE}`;
  for (const name of [MAP_SERVICES, MAP_SERVICES_ANY]) {
    const before = from?.sets.get(name)?.elements;
    for (const [key, data] of to.sets.get(name)?.elements ?? []) {
      const [vip, proto, port] = key.split(' . ');
      if (proto !== 'udp' || data === refuse) continue;
      const was = before?.get(key);
      if (was === undefined || was === refuse) out.push({ vip: vip!, port: port === undefined ? EVERY_PORT : Number(port) });
    }
  }
  return out;
}

function kindsOf(state: NftTableState): Map<string, 'set' | 'map'> {
  return new Map([...state.sets.values()].map((s) => [s.name, s.kind]));
}

/** The addresses of the model's lost backends (VipBackend.lost), IPv4 ones (the table's family). */
function lostBackends(model: VipModel): Set<string> {
  const out = new Set<string>();
  for (const svc of model.services) for (const b of svc.backends) if (b.lost && !b.ip.includes(':')) out.add(b.ip);
  return out;
}

function blankReport(full: boolean): VipReport {
  return {
    full,
    fellBack: false,
    transaction: 'none',
    elementsAdded: 0,
    elementsDeleted: 0,
    chainsAdded: 0,
    chainsDeleted: 0,
    scriptBytes: 0,
    conntrack: { flushed: [], opened: [], lost: [], deleted: 0 },
    failures: [],
    problems: [],
    services: 0,
    timings: { planMs: 0, readMs: 0, applyMs: 0, conntrackMs: 0 },
    durationMs: 0,
  };
}

export class VipSyncer {
  readonly #nft: Nft;
  readonly #conntrack: Conntrack;
  readonly #logger: Logger;
  /** The desired table as the last successful sync left the kernel; undefined = next sync is full. */
  #planner: VipPlanner | undefined;
  /** The services that sync was given, by id. */
  #given: ServiceIndex | undefined;
  /** Problems of the model that the planner does not see (duplicate ids). */
  #duplicates: VipProblem[] = [];
  /** Backend ports and UDP service ports whose conntrack deletion failed, to retry. */
  readonly #pendingFlush = new Set<string>();
  readonly #pendingOpen = new Set<string>();
  /** Lost backends whose unanswered entries are deleted (or queued to be), by address. */
  readonly #lostCleared = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  readonly #defer: boolean;
  /** Deferred conntrack deletions, one batch after another. */
  #cleaning: Promise<void> = Promise.resolve();
  /** Addresses a deferred batch has yet to finish with (count of batches naming each). */
  readonly #cleaningIps = new Map<string, number>();
  #lastProblems = '[]';

  constructor(nft: Nft, conntrack: Conntrack, opts: VipSyncerOptions = {}) {
    this.#nft = nft;
    this.#conntrack = conntrack;
    this.#logger = opts.logger ?? silentLogger;
    this.#defer = opts.deferConntrack ?? false;
  }

  /** Resolves when every deferred conntrack deletion started so far has finished. */
  settled(): Promise<void> {
    return this.#cleaning;
  }

  /** Brings the table to the model's state; full = read back and compare everything. */
  sync(model: VipModel, full: boolean): Promise<VipReport> {
    return this.#serial(() => this.#sync(model, full));
  }

  /**
   * What a full sync would change now, without changing it: `+ LINE` for canonical lines
   * the table lacks, `- LINE` for lines it has in excess (at most DOCTOR_MAX_LINES, then a
   * count). Empty when the table is as planned.
   */
  doctor(model: VipModel): Promise<string[]> {
    return this.#serial(async () => {
      checkModel(model);
      const desired = canonicalOfState(planVip(model).state);
      const actual = await this.#readCanonical(model.tableName);
      return doctorLines(model.tableName, desired, actual);
    });
  }

  /** Deletes the table (missing is success) and forgets it: teardown of this namespace's load balancer. */
  remove(tableName: string): Promise<boolean> {
    return this.#serial(async () => {
      await this.#cleaning;
      const existed = await this.#nft.deleteTable(VIP_FAMILY, tableName);
      if (this.#planner?.tableName === tableName) this.invalidate();
      return existed;
    });
  }

  /** Forgets what the last sync applied: the next sync is full. */
  invalidate(): void {
    this.#planner = undefined;
    this.#given = undefined;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #readCanonical(tableName: string): Promise<string | undefined> {
    const dump = await this.#nft.listTable(VIP_FAMILY, tableName);
    return dump ? canonicalNftTable(withExprText(dump.json)) : undefined;
  }

  async #sync(model: VipModel, fullAsked: boolean): Promise<VipReport> {
    const started = performance.now();
    checkModel(model);
    if (this.#cleaningIps.size > 0 && model.services.some((svc) => svc.backends.some((b) => this.#cleaningIps.has(b.ip)))) {
      await this.#cleaning;
    }
    const planner = this.#planner;
    let report: VipReport;
    if (!fullAsked && planner && planner.tableName === model.tableName) {
      report = await this.#incremental(model, planner);
    } else {
      report = await this.#full(model, false);
    }
    report.durationMs = performance.now() - started;
    this.#log(report);
    return report;
  }

  async #incremental(model: VipModel, planner: VipPlanner): Promise<VipReport> {
    const report = blankReport(false);
    let t = performance.now();
    const given = this.#given!;
    const changes = given.diff(model.services);
    for (const svc of changes.upserts) freezeService(svc);
    // The planner now holds the new desired state; it is dropped unless nft takes the change.
    this.#planner = undefined;
    const delta = planner.update(changes.upserts, changes.removals);
    const script = deltaScript(VIP_FAMILY, planner.tableName, delta, kindsOf(planner.state()));
    report.timings.planMs = performance.now() - t;
    if (script !== '') {
      t = performance.now();
      try {
        await this.#nft.apply(script);
      } catch (err) {
        this.#logger.warn(
          { table: planner.tableName, code: asShoalError(err).code, message: asShoalError(err).message },
          'load-balancer element update failed; syncing in full',
        );
        // What may still have entries: every backend kept before this change (those kept now
        // and those this change dropped).
        const full = await this.#full(model, true, new Set([...planner.keep(), ...delta.keepRemoved]));
        full.fellBack = true;
        return full;
      }
      report.timings.applyMs = performance.now() - t;
      Object.assign(report, deltaCounts(delta), { transaction: 'elements', scriptBytes: Buffer.byteLength(script) });
    }
    this.#planner = planner;
    this.#given = given;
    this.#duplicates = changes.duplicates;
    await this.#cleanConntrack(report, planner, delta, model);
    report.problems = sortProblems([...this.#duplicates, ...planner.problems()]);
    report.services = planner.programmed;
    return report;
  }

  /** `previousKeep`: what an incremental sync that failed had programmed (its backends may still hold entries). */
  async #full(model: VipModel, fellBack: boolean, previousKeep?: ReadonlySet<string>): Promise<VipReport> {
    const report = blankReport(true);
    const old = this.#planner;
    const keepBefore = new Set(previousKeep ?? []);
    if (old && old.tableName === model.tableName) for (const k of old.keep()) keepBefore.add(k);
    this.invalidate();
    let t = performance.now();
    const given = new ServiceIndex();
    const changes = given.diff(model.services);
    for (const svc of changes.upserts) freezeService(svc);
    const planner = new VipPlanner(model.tableName);
    planner.update(changes.upserts, []);
    const desired = planner.state();
    const desiredText = canonicalOfState(desired);
    report.timings.planMs = performance.now() - t;

    if (old && old.tableName !== model.tableName) {
      // The model moved to another table: the old one is ours and goes.
      await this.#nft.deleteTable(VIP_FAMILY, old.tableName);
    }
    t = performance.now();
    const actualText = await this.#readCanonical(model.tableName);
    report.timings.readMs = performance.now() - t;
    const actual = actualText === undefined ? undefined : stateFromCanonical(actualText);

    t = performance.now();
    if (actualText !== desiredText) {
      let applied = false;
      const delta = actual ? diffStates(actual, desired) : { rewrite: 'the table does not exist' };
      if (!('rewrite' in delta)) {
        const script = deltaScript(VIP_FAMILY, model.tableName, delta, kindsOf(desired));
        try {
          await this.#nft.apply(script);
          Object.assign(report, deltaCounts(delta), { transaction: 'elements', scriptBytes: Buffer.byteLength(script) });
          applied = true;
        } catch (err) {
          report.rewriteReason = `the element repair failed: ${asShoalError(err).message.split('\n', 1)[0]}`;
        }
      } else {
        report.rewriteReason = delta.rewrite;
      }
      if (!applied) {
        const script = rewriteScript(desired);
        await this.#nft.apply(script); // a failure throws: the next sync is full again
        let elements = 0;
        for (const s of desired.sets.values()) elements += s.elements.size;
        Object.assign(report, {
          transaction: 'rewrite',
          scriptBytes: Buffer.byteLength(script),
          elementsAdded: elements,
          chainsAdded: desired.chains.size,
        });
      }
    }
    report.timings.applyMs = performance.now() - t;
    report.fellBack = fellBack;
    this.#planner = planner;
    this.#given = given;
    this.#duplicates = changes.duplicates;

    // Backends the kernel pointed at (read back) or the last sync kept, and no longer kept.
    const removed = backendPortsOf(actual);
    for (const k of keepBefore) removed.add(k);
    const delta: PlannerDelta = {
      chainsAdded: [],
      chainsDeleted: [],
      deletes: new Map(),
      adds: new Map(),
      keepRemoved: [...removed].sort(),
      // A table that did not exist: the sandbox is new (its first sync comes before its task
      // sends anything), and one conntrack run per UDP port of thousands of services would
      // cost seconds for nothing. Ports that open in an existing table are flushed.
      udpOpened: actual ? udpOpenedBetween(actual, desired) : [],
    };
    await this.#cleanConntrack(report, planner, delta, model);
    report.problems = sortProblems([...this.#duplicates, ...planner.problems()]);
    report.services = planner.programmed;
    return report;
  }

  /** Queues a batch of deletions after the ones queued before it; logs what it did. */
  #deferCleanup(deletions: ConntrackDeletion[], run: (into: VipReport) => Promise<void>): void {
    const ips = [...new Set(deletions.map((d) => d.address))];
    for (const ip of ips) this.#cleaningIps.set(ip, (this.#cleaningIps.get(ip) ?? 0) + 1);
    this.#cleaning = this.#cleaning.then(async () => {
      const started = performance.now();
      const r = blankReport(false);
      try {
        await run(r);
      } finally {
        for (const ip of ips) {
          const n = (this.#cleaningIps.get(ip) ?? 1) - 1;
          if (n > 0) this.#cleaningIps.set(ip, n);
          else this.#cleaningIps.delete(ip);
        }
      }
      const summary = {
        conntrackFlushed: r.conntrack.flushed.length,
        conntrackOpened: r.conntrack.opened.length,
        conntrackLost: r.conntrack.lost.length,
        conntrackDeleted: r.conntrack.deleted,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (r.failures.length > 0) {
        this.#logger.warn(
          { ...summary, failed: r.failures.slice(0, LOGGED).map((f) => `${f.op}: ${f.code}${f.errno ? ` (${f.errno})` : ''}`) },
          'load-balancer conntrack deletions left to retry',
        );
      } else if (r.conntrack.deleted > 0) {
        this.#logger.info(summary, 'load-balancer conntrack deletions done');
      } else {
        this.#logger.debug(summary, 'load-balancer conntrack deletions: nothing to delete');
      }
    });
  }

  async #cleanConntrack(report: VipReport, planner: VipPlanner, delta: PlannerDelta, model: VipModel): Promise<void> {
    const t = performance.now();
    const flush = new Set<string>();
    for (const k of [...delta.keepRemoved, ...this.#pendingFlush]) if (!planner.protects(k)) flush.add(k);
    this.#pendingFlush.clear();
    const sets = planner.state().sets;
    const served = sets.get(MAP_SERVICES)!.elements;
    const servedAny = sets.get(MAP_SERVICES_ANY)!.elements;
    const open = new Set<string>();
    for (const o of delta.udpOpened) open.add(`${o.vip} ${o.port}`);
    for (const k of this.#pendingOpen) {
      const [vip, port] = k.split(' ');
      const data = Number(port) === EVERY_PORT ? servedAny.get(`${vip} . udp`) : served.get(`${vip} . udp . ${port}`);
      if (data !== undefined && data !== `goto ${CHAIN_REFUSE}`) open.add(k);
    }
    this.#pendingOpen.clear();
    const lostNow = lostBackends(model);
    for (const ip of [...this.#lostCleared]) if (!lostNow.has(ip)) this.#lostCleared.delete(ip);
    const lostNew = [...lostNow].filter((ip) => !this.#lostCleared.has(ip)).sort();
    type Job = { op: string; deletion: ConntrackDeletion; retry: () => void; done: (into: VipReport) => void };
    const jobs: Job[] = [];
    for (const k of [...flush].sort()) {
      const key = parseBackendKey(k);
      if (!key) continue;
      const { protocol, ip, port, vip } = key;
      jobs.push({
        op: `reply-src ${k}`,
        deletion: { direction: 'reply-src', address: ip, filter: vip === undefined ? { protocol, port } : { protocol, origDst: vip } },
        retry: () => this.#pendingFlush.add(k),
        done: (into) => into.conntrack.flushed.push(k),
      });
    }
    for (const k of [...open].sort()) {
      const [vip, port] = k.split(' ') as [string, string];
      const every = Number(port) === EVERY_PORT;
      // Every port: the un-NATed entries are those the VIP itself "answers" (reply source).
      jobs.push({
        op: every ? `reply-src udp ${vip} *` : `orig-dst udp ${k}`,
        deletion: every
          ? { direction: 'reply-src', address: vip, filter: { protocol: 'udp' } }
          : { direction: 'orig-dst', address: vip, filter: { protocol: 'udp', port: Number(port) } },
        retry: () => this.#pendingOpen.add(k),
        done: (into) => into.conntrack.opened.push(every ? `udp ${vip} *` : `udp ${k}`),
      });
    }
    for (const ip of lostNew) {
      this.#lostCleared.add(ip);
      jobs.push({
        op: `reply-src ${ip} unreplied`,
        deletion: { direction: 'reply-src', address: ip, filter: { unreplied: true } },
        retry: () => this.#lostCleared.delete(ip),
        done: (into) => into.conntrack.lost.push(ip),
      });
    }
    // One pass over the table for all of them: the kernel walks its whole table (every
    // namespace's entries) per read, and this namespace's entries are parsed per read.
    const run = async (into: VipReport): Promise<void> => {
      try {
        const counts = await this.#conntrack.deleteMatching(jobs.map((j) => j.deletion));
        for (const n of counts) into.conntrack.deleted += n;
        for (const j of jobs) j.done(into);
      } catch (err) {
        const e = asShoalError(err, 'SHOAL_ERR_CONNTRACK');
        for (const j of jobs) {
          j.retry();
          into.failures.push({ op: j.op, code: e.code, message: e.message, ...(e.errno !== undefined ? { errno: e.errno } : {}) });
        }
      }
    };
    if (jobs.length > 0 && this.#defer) {
      this.#deferCleanup(
        jobs.map((j) => j.deletion),
        run,
      );
      report.timings.conntrackMs = performance.now() - t;
      return;
    }
    if (jobs.length > 0) await run(report);
    report.conntrack.flushed.sort();
    report.conntrack.opened.sort();
    report.conntrack.lost.sort();
    report.timings.conntrackMs = performance.now() - t;
  }

  #log(r: VipReport): void {
    const summary = {
      full: r.full,
      fellBack: r.fellBack,
      transaction: r.transaction,
      elementsAdded: r.elementsAdded,
      elementsDeleted: r.elementsDeleted,
      conntrackFlushed: r.conntrack.flushed.length,
      conntrackLost: r.conntrack.lost.length,
      conntrackDeleted: r.conntrack.deleted,
      failures: r.failures.length,
      problems: r.problems.length,
      services: r.services,
      durationMs: Math.round(r.durationMs * 10) / 10,
    };
    if (r.failures.length > 0) {
      this.#logger.warn(
        { ...summary, failed: r.failures.slice(0, LOGGED).map((f) => `${f.op}: ${f.code}${f.errno ? ` (${f.errno})` : ''}`) },
        'load-balancer sync left conntrack deletions to retry',
      );
    } else if (r.transaction !== 'none' || r.conntrack.deleted > 0) {
      this.#logger.info(
        { ...summary, ...(r.rewriteReason ? { rewriteReason: r.rewriteReason } : {}) },
        'load-balancer sync applied changes',
      );
    } else {
      this.#logger.debug(summary, 'load-balancer sync: nothing to change');
    }
    const problems = JSON.stringify(r.problems);
    if (problems !== this.#lastProblems) {
      this.#lastProblems = problems;
      if (r.problems.length > 0) this.#logger.warn({ problems: r.problems.slice(0, LOGGED) }, 'load-balancer model items left out');
      else this.#logger.info({}, 'load-balancer model: every item planned again');
    }
  }
}

/** Canonical lines with their context: a rule names its chain, an element its set. */
function contextLines(text: string): string[] {
  const out: string[] = [];
  let owner = '';
  for (const l of text.split('\n')) {
    if (l === '') continue;
    if (l.startsWith('  ')) {
      out.push(`${l.trim().split(' ', 1)[0]} ${owner}: ${l.trim().slice(l.trim().indexOf(' ') + 1)}`);
    } else {
      out.push(l);
      owner = l.split(' ')[3] ?? '';
    }
  }
  return out;
}

/** doctor()'s lines for a desired and an actual canonical text (undefined = no table). */
export function doctorLines(tableName: string, desired: string, actual: string | undefined): string[] {
  if (actual === desired) return [];
  const out: string[] = [];
  if (actual === undefined) out.push(`table ${VIP_FAMILY} ${tableName} does not exist`);
  const have = new Map<string, number>();
  for (const l of actual === undefined ? [] : contextLines(actual)) have.set(l, (have.get(l) ?? 0) + 1);
  const missing: string[] = [];
  for (const l of contextLines(desired)) {
    const n = have.get(l) ?? 0;
    if (n > 0) have.set(l, n - 1);
    else missing.push(`+ ${l}`);
  }
  const extra: string[] = [];
  for (const [l, n] of have) for (let i = 0; i < n; i++) extra.push(`- ${l}`);
  const all = [...missing, ...extra];
  out.push(...all.slice(0, DOCTOR_MAX_LINES));
  if (all.length > DOCTOR_MAX_LINES) out.push(`... ${all.length - DOCTOR_MAX_LINES} more differences`);
  return out;
}
