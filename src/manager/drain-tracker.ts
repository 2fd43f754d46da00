/**
 * Drain acknowledgements, in memory: which nodes a task that is shutting down still waits
 * for before the manager marks it drained (Task.drained), and the deadline of that wait.
 *
 * When the manager shuts a task down on a live node, its endpoints go `draining` in that
 * transaction (orchestrator.ts `drainTask`), and the nodes whose WatchEndpoints streams
 * cover one of the task's networks at that moment (`DrainWatchers`, the dispatcher's watch
 * hub) are the ones to wait for: each must acknowledge the task's draining endpoints on
 * the networks it watches (AgentReport.drained_endpoint_ids), which says its load
 * balancers send them no new connections. When the last one has, or DRAIN_ACK_TIMEOUT_MS
 * after the drain started, the task is drained (control/drains.ts writes the flag, and logs
 * the nodes that did not answer). A task nobody has to be waited for is drained in its
 * shutdown transaction and never gets here.
 *
 * Only the flag is durable. A restarted manager has no waits: it starts a fresh one for
 * every task still draining (timer from the restart), waiting for the Ready nodes that can
 * watch the task's networks, and the acknowledgements agents send again after their
 * sessions reconnect complete them.
 *
 * A wait ends early without completing when its task no longer needs it (it ended, was
 * removed or drained, or one of its endpoints stopped draining because its node went
 * Down; the drain starts again when the node is Ready): `onCommit` follows the store.
 * Acknowledgements from nodes not waited for, for endpoints no wait holds, or repeated,
 * change nothing.
 */
import type { Clock, Timer } from '../common/clock.ts';
import type { EndpointRecord, TaskRecord } from './objects.ts';
import { undrained } from './objects.ts';
import type { ChangeBatch } from './store.ts';

/** How long a task waits for the nodes' acknowledgements before it is drained anyway, ms. */
export const DRAIN_ACK_TIMEOUT_MS = 10_000;

/** Who watches the endpoints of a network now (the dispatcher's endpoint watch hub). */
export interface DrainWatchers {
  nodesWatching(networkId: string): ReadonlySet<string>;
}

/** Per node to wait for, the endpoint IDs it must acknowledge. */
export type DrainWaits = Map<string, Set<string>>;

/** A wait that ended with the task drained. */
export interface DrainOutcome {
  taskId: string;
  /** The nodes that had not acknowledged when the wait ran out; empty when all did. */
  missing: string[];
}

export interface DrainTrackerOptions {
  clock: Clock;
  /** How long a wait lasts, ms (default DRAIN_ACK_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Called (outside any transaction) with a wait that ran out. */
  onTimeout: (outcome: DrainOutcome) => void;
}

interface Wait {
  taskId: string;
  /** node -> endpoint IDs it has not acknowledged yet */
  pending: Map<string, Set<string>>;
  endpointIds: string[];
  timer: Timer;
}

export class DrainTracker {
  private readonly clock: Clock;
  readonly timeoutMs: number;
  private readonly onTimeout: (outcome: DrainOutcome) => void;
  private watchers: DrainWatchers | undefined;
  /** task ID -> its wait */
  private readonly waits = new Map<string, Wait>();
  /** endpoint ID -> the task whose wait holds it */
  private readonly byEndpoint = new Map<string, string>();
  private closed = false;

  constructor(options: DrainTrackerOptions) {
    this.clock = options.clock;
    this.timeoutMs = options.timeoutMs ?? DRAIN_ACK_TIMEOUT_MS;
    this.onTimeout = options.onTimeout;
  }

  /** Sets where watchers are known (the dispatcher's hub); undefined: nobody watches. */
  attachWatchers(watchers: DrainWatchers | undefined): void {
    this.watchers = watchers;
  }

  /** Tasks waiting for acknowledgements (diagnostics, tests). */
  get waiting(): number {
    return this.waits.size;
  }

  isWaiting(taskId: string): boolean {
    return this.waits.has(taskId);
  }

  /** The nodes a task still waits for, sorted (diagnostics, tests); empty when it waits for none. */
  pendingNodes(taskId: string): string[] {
    return [...(this.waits.get(taskId)?.pending.keys() ?? [])].sort();
  }

  /**
   * Who must acknowledge which of these endpoints: every node watching a network one of
   * them is on (now), for the endpoints on the networks it watches; `expected` adds nodes
   * that are not watching yet but will be (after a restart). A pure read, safe inside a
   * transaction.
   */
  waitsFor(endpoints: readonly Pick<EndpointRecord, 'id' | 'networkId'>[], expected?: (networkId: string) => Iterable<string>): DrainWaits {
    const waits: DrainWaits = new Map();
    for (const ep of endpoints) {
      const nodes = new Set(this.watchers?.nodesWatching(ep.networkId) ?? []);
      if (expected) for (const n of expected(ep.networkId)) nodes.add(n);
      for (const n of nodes) {
        let ids = waits.get(n);
        if (!ids) waits.set(n, (ids = new Set()));
        ids.add(ep.id);
      }
    }
    return waits;
  }

  /**
   * Starts waiting for a task (call once the transaction that made its endpoints draining
   * committed); replaces an older wait of the same task. An empty `waits` starts nothing.
   */
  begin(taskId: string, waits: DrainWaits): void {
    if (this.closed) return;
    this.cancel(taskId);
    if (waits.size === 0) return;
    const pending = new Map<string, Set<string>>();
    const endpointIds = new Set<string>();
    for (const [node, ids] of waits) {
      if (ids.size === 0) continue;
      pending.set(node, new Set(ids));
      for (const id of ids) endpointIds.add(id);
    }
    if (pending.size === 0) return;
    const timer = this.clock.setTimer(this.timeoutMs, () => {
      const w = this.waits.get(taskId);
      if (!w || w.timer !== timer) return;
      const missing = [...w.pending.keys()].sort();
      this.drop(w);
      this.onTimeout({ taskId, missing });
    });
    const w: Wait = { taskId, pending, endpointIds: [...endpointIds], timer };
    this.waits.set(taskId, w);
    for (const id of w.endpointIds) this.byEndpoint.set(id, taskId);
  }

  /**
   * A node says its load balancers left these endpoints. Returns the tasks whose waits it
   * completed (every node they waited for has acknowledged); those waits are over.
   */
  acknowledge(nodeId: string, endpointIds: readonly string[]): DrainOutcome[] {
    const done: DrainOutcome[] = [];
    for (const id of endpointIds) {
      if (typeof id !== 'string') continue;
      const taskId = this.byEndpoint.get(id);
      if (taskId === undefined) continue;
      const w = this.waits.get(taskId);
      const ids = w?.pending.get(nodeId);
      if (!w || !ids || !ids.delete(id)) continue;
      if (ids.size > 0) continue;
      w.pending.delete(nodeId);
      if (w.pending.size > 0) continue;
      this.drop(w);
      done.push({ taskId, missing: [] });
    }
    return done;
  }

  /** Stops waiting for a task (idempotent). */
  cancel(taskId: string): void {
    const w = this.waits.get(taskId);
    if (w) this.drop(w);
  }

  private drop(w: Wait): void {
    w.timer.cancel();
    this.waits.delete(w.taskId);
    for (const id of w.endpointIds) if (this.byEndpoint.get(id) === w.taskId) this.byEndpoint.delete(id);
  }

  /**
   * Follows the store: a task that ended, was removed or drained, or whose endpoint was
   * removed or stopped draining (its node went Down), no longer waits.
   */
  onCommit(batch: ChangeBatch): void {
    if (this.waits.size === 0) return;
    for (const e of batch.events) {
      if (e.kind === 'task') {
        if (!this.waits.has(e.id)) continue;
        if (e.op === 'delete' || !undrained(e.object as TaskRecord)) this.cancel(e.id);
      } else if (e.kind === 'endpoint') {
        const taskId = this.byEndpoint.get(e.id);
        if (taskId === undefined) continue;
        if (e.op === 'delete' || (e.object as EndpointRecord).state !== 'draining') this.cancel(taskId);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.waits.values()]) this.drop(w);
    this.watchers = undefined;
  }
}
