/**
 * Join acknowledgements, in memory: whether a new task is in every load balancer that
 * should balance to it, which a rolling update waits for before its next batch (and a
 * start-first update before it shuts the old task down), as it waits for the task to run
 * and pass its health check (scheduler.ts `settled`).
 *
 * The opposite of a drain (drain-tracker.ts). Agents say which endpoints their load
 * balancers now send new connections to (AgentReport.joined_endpoint_ids, each ID once per
 * join); the tracker keeps, per endpoint, the nodes that said so. A task is joined when
 * every node whose WatchEndpoints stream covers one of its networks at the time of asking
 * (`DrainWatchers`, the dispatcher's watch hub) has acknowledged the task's endpoint on each
 * network it watches; or when JOIN_ACK_TIMEOUT_MS passed since the task's latest status
 * change while running (Task.status.timestamp: when it started running, or turned healthy);
 * or when nobody watches. Endpoints of a `dnsrr` service are in no load balancer: such a
 * task is joined as soon as it runs.
 *
 * The scheduler asks (`joined`, a pure read inside the transaction); a task it found not
 * joined is then waited for (`await`, once the transaction committed): when the
 * acknowledgements complete it, or its timeout passes, `onWake` gets its service to
 * reconcile, and a wait that ran out names the nodes that did not answer (logged by the
 * caller, once per wait). A timer per waiting task; a wait ends when the task no longer
 * needs it (ended, shut down, status changed, removed).
 *
 * Memory stays bounded: acknowledgements go when their endpoint is deleted from the store,
 * when their task turns unhealthy (it left the load balancers; the agents report it again
 * when it is back), and, not held by a wait, JOIN_ACK_RETAIN_MS after the latest one
 * arrived: by then the task they are for has been running longer than the timeout, or it
 * never ran. Nothing is durable. A restarted manager has no acknowledgements: tasks
 * running for longer than the timeout are joined by it; newer ones complete through the
 * acknowledgements agents resend after their sessions reconnect, or the timeout.
 * Acknowledgements that arrive before the manager sees the task running count.
 */
import type { Clock, Timer } from '../common/clock.ts';
import type { DrainWatchers } from './drain-tracker.ts';
import type { ServiceRecord, TaskRecord } from './objects.ts';
import type { ChangeBatch } from './store.ts';

/** How long after a task started running (or turned healthy) it counts as joined without every acknowledgement, ms. */
export const JOIN_ACK_TIMEOUT_MS = 10_000;

/**
 * How long acknowledgements no wait holds are kept after the latest one for their endpoint, ms.
 * Longer than the timeout with room for acknowledgements that arrive before the manager
 * sees their task running (the agents' gossip can be quicker than the task's own report).
 */
export const JOIN_ACK_RETAIN_MS = 60_000;

/** A wait that ended: its service may go on. */
export interface JoinOutcome {
  taskId: string;
  serviceId: string;
  /** The nodes that had not acknowledged when the wait ran out, sorted; empty when all did. */
  missing: string[];
}

export interface JoinTrackerOptions {
  clock: Clock;
  /** How long a task waits for the acknowledgements, ms (default JOIN_ACK_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long unheld acknowledgements are kept, ms (default JOIN_ACK_RETAIN_MS; at least the timeout). */
  retainMs?: number;
  /** Called (outside any transaction) with each wait that ended: its service reconciles. */
  onWake: (outcome: JoinOutcome) => void;
}

/** What joined() reads of a task. */
export type JoinTask = Pick<TaskRecord, 'id' | 'serviceId' | 'status' | 'networks'>;
/** What joined() reads of its service. */
export type JoinService = { spec: Pick<ServiceRecord['spec'], 'endpointSpec'> };

interface Acks {
  nodes: Set<string>;
  /** clock.now() of the latest acknowledgement. */
  at: number;
}

interface Wait {
  taskId: string;
  serviceId: string;
  /** The task's status timestamp the wait is for (a new status ends it). */
  since: string;
  endpoints: { id: string; networkId: string }[];
  timer: Timer;
}

export class JoinTracker {
  private readonly clock: Clock;
  readonly timeoutMs: number;
  private readonly retainMs: number;
  private readonly onWake: (outcome: JoinOutcome) => void;
  private watchers: DrainWatchers | undefined;
  /** endpoint ID -> the nodes that acknowledged it */
  private readonly acks = new Map<string, Acks>();
  /** task ID -> its wait */
  private readonly waits = new Map<string, Wait>();
  /** endpoint ID -> the tasks whose waits hold it */
  private readonly byEndpoint = new Map<string, Set<string>>();
  /**
   * Tasks whose wait ran out -> the status timestamp it was for: joined from then on, until
   * their status changes (so a timeout is logged once, whatever the wall clock does).
   */
  private readonly expired = new Map<string, string>();
  private sweepTimer: Timer | undefined;
  private closed = false;

  constructor(options: JoinTrackerOptions) {
    this.clock = options.clock;
    this.timeoutMs = options.timeoutMs ?? JOIN_ACK_TIMEOUT_MS;
    this.retainMs = Math.max(options.retainMs ?? JOIN_ACK_RETAIN_MS, this.timeoutMs);
    this.onWake = options.onWake;
  }

  /** Sets where watchers are known (the dispatcher's hub); undefined: nobody watches. */
  attachWatchers(watchers: DrainWatchers | undefined): void {
    this.watchers = watchers;
  }

  /** Tasks waited for (diagnostics, tests). */
  get waiting(): number {
    return this.waits.size;
  }

  isWaiting(taskId: string): boolean {
    return this.waits.has(taskId);
  }

  /** Endpoints with acknowledgements kept (diagnostics, tests). */
  get acknowledgedEndpoints(): number {
    return this.acks.size;
  }

  /** The nodes that acknowledged an endpoint, sorted (diagnostics, tests). */
  acknowledgedBy(endpointId: string): string[] {
    return [...(this.acks.get(endpointId)?.nodes ?? [])].sort();
  }

  /**
   * Whether the task is in every load balancer that should balance to it (see the header),
   * as of `nowMs` (wall clock; the transaction's time). A pure read, safe inside a
   * transaction. A task that is not running is not joined.
   */
  joined(task: JoinTask, service: JoinService, nowMs: number = this.clock.wallNow()): boolean {
    if (task.status.state !== 'running') return false;
    if (service.spec.endpointSpec.mode === 'dnsrr') return true;
    if (this.expired.get(task.id) === task.status.timestamp) return true;
    if (nowMs >= this.deadlineOf(task.status.timestamp)) return true;
    return this.missingOf(endpointsOf(task)).length === 0;
  }

  /**
   * The nodes watching the task's networks now that have not acknowledged its endpoint on
   * a network they watch, sorted (diagnostics, tests, the timeout's log).
   */
  pendingNodes(task: Pick<TaskRecord, 'networks'>): string[] {
    return this.missingOf(endpointsOf(task));
  }

  /**
   * Waits for a task the scheduler found not joined (call once the transaction committed):
   * `onWake` fires when the acknowledgements complete it or its timeout passes. A wait for
   * the same task and status goes on; a task already joined wakes its service at once (on
   * a timer, never inside the caller's commit).
   */
  await(task: JoinTask, service: JoinService): void {
    if (this.closed || task.status.state !== 'running' || service.spec.endpointSpec.mode === 'dnsrr') return;
    const existing = this.waits.get(task.id);
    if (existing && existing.since === task.status.timestamp) return;
    if (existing) this.drop(existing);
    const endpoints = endpointsOf(task);
    const w: Wait = { taskId: task.id, serviceId: task.serviceId, since: task.status.timestamp, endpoints, timer: { cancel: () => {} } };
    this.waits.set(task.id, w);
    for (const ep of endpoints) {
      let tasks = this.byEndpoint.get(ep.id);
      if (!tasks) this.byEndpoint.set(ep.id, (tasks = new Set()));
      tasks.add(task.id);
    }
    const complete = this.expired.get(task.id) === w.since || this.missingOf(endpoints).length === 0;
    const delay = complete ? 0 : Math.max(0, this.deadlineOf(w.since) - this.clock.wallNow());
    w.timer = this.clock.setTimer(delay, () => this.settle(w, true));
  }

  /**
   * A node says its load balancers now send new connections to these endpoints. Returns
   * the waits it completed (every node watching their tasks' networks has acknowledged);
   * the caller wakes their services.
   */
  acknowledge(nodeId: string, endpointIds: readonly string[]): JoinOutcome[] {
    const now = this.clock.now();
    const touched = new Set<string>();
    for (const id of endpointIds) {
      if (typeof id !== 'string' || id === '') continue;
      let a = this.acks.get(id);
      if (!a) this.acks.set(id, (a = { nodes: new Set(), at: now }));
      a.nodes.add(nodeId);
      a.at = now;
      for (const taskId of this.byEndpoint.get(id) ?? []) touched.add(taskId);
    }
    if (this.acks.size > 0) this.armSweep();
    const done: JoinOutcome[] = [];
    for (const taskId of touched) {
      const w = this.waits.get(taskId);
      if (!w || this.missingOf(w.endpoints).length > 0) continue;
      this.drop(w);
      done.push({ taskId, serviceId: w.serviceId, missing: [] });
    }
    return done;
  }

  /** Stops waiting for a task (idempotent). */
  cancel(taskId: string): void {
    const w = this.waits.get(taskId);
    if (w) this.drop(w);
  }

  /**
   * Follows the store: a deleted endpoint's acknowledgements go (and it leaves the waits
   * that held it); a task that turned unhealthy loses its endpoints' acknowledgements; a
   * task deleted, shut down, ended or with a new status no longer waits.
   */
  onCommit(batch: ChangeBatch): void {
    // a task written twice in one transaction: its last write is what it is now
    const tasks = new Map<string, TaskRecord | undefined>();
    for (const e of batch.events) {
      if (e.kind === 'task') tasks.set(e.id, e.op === 'delete' ? undefined : (e.object as TaskRecord));
      else if (e.kind === 'endpoint' && e.op === 'delete') this.forgetEndpoint(e.id);
    }
    for (const [id, t] of tasks) {
      const running = t !== undefined && t.desiredState === 'running' && t.status.state === 'running';
      if (!running || this.expired.get(id) !== t.status.timestamp) this.expired.delete(id);
      if (t?.status.health === 'unhealthy') for (const ep of endpointsOf(t)) this.acks.delete(ep.id);
      const w = this.waits.get(id);
      if (w && (!running || t.status.timestamp !== w.since)) this.drop(w);
    }
  }

  /** A deleted endpoint: its acknowledgements go, and the waits that held it look again (off this commit). */
  private forgetEndpoint(id: string): void {
    this.acks.delete(id);
    const tasks = this.byEndpoint.get(id);
    if (!tasks) return;
    this.byEndpoint.delete(id);
    for (const taskId of tasks) {
      const w = this.waits.get(taskId);
      if (!w) continue;
      w.endpoints = w.endpoints.filter((x) => x.id !== id);
      w.timer.cancel();
      w.timer = this.clock.setTimer(0, () => this.settle(w, false));
    }
  }

  /** Ends a wait whose timer fired: complete, or ran out (`timedOut`), or neither yet (re-armed). */
  private settle(w: Wait, timedOut: boolean): void {
    if (this.waits.get(w.taskId) !== w) return;
    const missing = this.expired.get(w.taskId) === w.since ? [] : this.missingOf(w.endpoints);
    if (missing.length > 0 && !timedOut) {
      const delay = Math.max(0, this.deadlineOf(w.since) - this.clock.wallNow());
      w.timer = this.clock.setTimer(delay, () => this.settle(w, true));
      return;
    }
    this.drop(w);
    if (missing.length > 0) this.expired.set(w.taskId, w.since);
    this.onWake({ taskId: w.taskId, serviceId: w.serviceId, missing });
  }

  /** The wall-clock time a task running since `timestamp` is joined regardless; -Infinity when unreadable. */
  private deadlineOf(timestamp: string): number {
    const since = Date.parse(timestamp);
    return Number.isNaN(since) ? -Infinity : since + this.timeoutMs;
  }

  /** The nodes watching one of these endpoints' networks now that have not acknowledged it, sorted. */
  private missingOf(endpoints: readonly { id: string; networkId: string }[]): string[] {
    if (!this.watchers) return [];
    const missing = new Set<string>();
    for (const ep of endpoints) {
      const acked = this.acks.get(ep.id)?.nodes;
      for (const n of this.watchers.nodesWatching(ep.networkId)) if (!acked?.has(n)) missing.add(n);
    }
    return [...missing].sort();
  }

  private drop(w: Wait): void {
    w.timer.cancel();
    this.waits.delete(w.taskId);
    for (const ep of w.endpoints) {
      const tasks = this.byEndpoint.get(ep.id);
      if (!tasks) continue;
      tasks.delete(w.taskId);
      if (tasks.size === 0) this.byEndpoint.delete(ep.id);
    }
  }

  /** Drops, every retainMs, the acknowledgements no wait holds whose latest one is older than retainMs. */
  private armSweep(): void {
    if (this.sweepTimer || this.closed) return;
    this.sweepTimer = this.clock.setTimer(this.retainMs, () => {
      this.sweepTimer = undefined;
      const before = this.clock.now() - this.retainMs;
      for (const [id, a] of this.acks) if (a.at <= before && !this.byEndpoint.has(id)) this.acks.delete(id);
      if (this.acks.size > 0) this.armSweep();
    });
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.waits.values()]) this.drop(w);
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    this.acks.clear();
    this.expired.clear();
    this.watchers = undefined;
  }
}

/** A task's endpoints, from its network attachments. */
function endpointsOf(task: Pick<TaskRecord, 'networks'>): { id: string; networkId: string }[] {
  return task.networks.filter((a) => a.endpointId !== '').map((a) => ({ id: a.endpointId, networkId: a.networkId }));
}
