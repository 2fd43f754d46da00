/**
 * The orchestrator: applies the scheduler's plans inside store transactions.
 *
 * It owns the task lifecycle on the manager side: creating tasks with their network
 * attachments (one endpoint per network, addresses from the allocator), assigning pending
 * tasks, shutting tasks down (draining them out of the load balancers first, see
 * drain-tracker.ts) and giving their addresses back once they can no longer be using them,
 * deleting the ended tasks of removed services, pruning history. A rolling update goes on
 * past a new task once it is in every load balancer too (join-tracker.ts): the scheduler
 * asks, and a task it found missing is waited for, waking its service when it joins or its
 * wait runs out. It also keeps the two pieces of scheduling state that are
 * deliberately not stored: when the next rolling-update batch of a service may start, and
 * timers that wake a service whose restart delay is running (both are recomputed from the
 * store after a restart: a restarted manager at worst starts a batch or a restart early).
 */
import type { Clock, Timer } from '../common/clock.ts';
import { ShoalError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import type { NetworkAttachment, TaskStatus } from '../api/api-types.ts';
import type { AllocTx } from './allocator.ts';
import type { DrainTracker } from './drain-tracker.ts';
import type { JoinTask, JoinTracker } from './join-tracker.ts';
import type { ClusterRecord, Kinds, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord } from './objects.ts';
import { CLUSTER_KEY } from './objects.ts';
import { activeUpdateConfig, hostPortKeys, isLive, isTerminal, planService } from './scheduler.ts';
import { endpointStateFor } from './views.ts';
import type { WriteTx } from './store.ts';

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Per-transaction caches shared by every reconcile in the transaction. */
export class TxContext {
  private nodesCache: NodeRecord[] | undefined;
  private loadCache: Map<string, number> | undefined;
  private readonly networks = new Map<string, NetworkRecord | undefined>();
  private clusterCache: ClusterRecord | undefined;

  constructor(
    readonly tx: WriteTx<Kinds>,
    readonly alloc: AllocTx,
    readonly nowMs: number,
  ) {}

  private nowText: string | undefined;

  /** The transaction's time as RFC 3339 (one clock reading per transaction). */
  get now(): string {
    this.nowText ??= isoTime(this.nowMs);
    return this.nowText;
  }

  private nodeIndex: Map<string, NodeRecord> | undefined;

  nodes(): NodeRecord[] {
    this.nodesCache ??= this.tx.all('node');
    return this.nodesCache;
  }

  node(id: string): NodeRecord | undefined {
    this.nodeIndex ??= new Map(this.nodes().map((n) => [n.id, n]));
    return this.nodeIndex.get(id);
  }

  /** Call after writing a node so later reconciles see it. */
  invalidateNodes(): void {
    this.nodesCache = undefined;
    this.nodeIndex = undefined;
  }

  nodeLoad(): Map<string, number> {
    if (!this.loadCache) {
      this.loadCache = new Map();
      for (const n of this.nodes()) this.loadCache.set(n.id, this.tx.countByIndex('task', 'node', n.id));
    }
    return this.loadCache;
  }

  addLoad(nodeId: string, delta: number): void {
    if (nodeId === '') return;
    const load = this.nodeLoad();
    load.set(nodeId, (load.get(nodeId) ?? 0) + delta);
  }

  private hostPortsCache: Map<string, Map<string, Set<string>>> | undefined;

  /** Call after a task with host ports was placed, shut down or created. */
  invalidateHostPorts(): void {
    this.hostPortsCache = undefined;
  }

  /**
   * The `mode=host` ports live tasks hold, per node, leaving out those of service
   * `exceptService` (the scheduler tracks a service's own). Read once per transaction.
   */
  hostPortsInUse(exceptService: string): Map<string, Set<string>> {
    if (!this.hostPortsCache) {
      this.hostPortsCache = new Map();
      for (const t of this.tx.all('task')) {
        if (!isLive(t) || t.nodeId === '' || t.hostPorts.length === 0) continue;
        const byNode = this.hostPortsCache.get(t.nodeId) ?? new Map<string, Set<string>>();
        for (const k of hostPortKeys(t.hostPorts)) {
          const owners = byNode.get(k) ?? new Set<string>();
          owners.add(t.serviceId);
          byNode.set(k, owners);
        }
        this.hostPortsCache.set(t.nodeId, byNode);
      }
    }
    const out = new Map<string, Set<string>>();
    for (const [node, ports] of this.hostPortsCache) {
      const keys = new Set<string>();
      for (const [k, owners] of ports) if ([...owners].some((o) => o !== exceptService)) keys.add(k);
      if (keys.size > 0) out.set(node, keys);
    }
    return out;
  }

  network(id: string): NetworkRecord | undefined {
    if (!this.networks.has(id)) this.networks.set(id, this.tx.get('network', id));
    return this.networks.get(id);
  }

  cluster(): ClusterRecord {
    this.clusterCache ??= this.tx.get('cluster', CLUSTER_KEY);
    if (!this.clusterCache) throw new ShoalError('SHOAL_ERR_INTERNAL', 'the cluster record is missing from the store');
    return this.clusterCache;
  }
}

export interface OrchestratorOptions {
  clock: Clock;
  historyRetention: number;
  /** Called (outside any transaction) when a service's timer fires. */
  onWake: (serviceId: string) => void;
  /** The drain acknowledgements of tasks shutting down. */
  drains: DrainTracker;
  /** The join acknowledgements rolling updates wait for; without it a settled task counts as joined. */
  joins?: JoinTracker;
  /**
   * Rolls a failed update back in a transaction of its own (called after the commit that
   * saw it fail), with its ports, VIPs and networks settled as a requested rollback's are.
   * Without it the specs are swapped in the same transaction.
   */
  rollBackLater?: (serviceId: string, why: string) => void;
}

export class Orchestrator {
  private readonly clock: Clock;
  private readonly historyRetention: number;
  private readonly onWake: (serviceId: string) => void;
  private readonly drains: DrainTracker;
  private readonly joins: JoinTracker | undefined;
  private readonly rollBackLater: ((serviceId: string, why: string) => void) | undefined;
  private readonly nextBatchAt = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: Timer }>();
  private closed = false;

  constructor(options: OrchestratorOptions) {
    this.clock = options.clock;
    this.historyRetention = options.historyRetention;
    this.onWake = options.onWake;
    this.drains = options.drains;
    this.joins = options.joins;
    this.rollBackLater = options.rollBackLater;
  }

  /** Networks a service's tasks attach to: its own, plus ingress when it publishes ingress ports. */
  taskNetworks(ctx: TxContext, svc: ServiceRecord): { networkId: string; aliases: string[] }[] {
    const out = svc.spec.networks.map((n) => ({ networkId: n.target, aliases: [...n.aliases] }));
    if (svc.endpoint.ports.some((p) => p.publishMode === 'ingress')) {
      const ingress = ctx.cluster().ingressNetworkId;
      if (!out.some((n) => n.networkId === ingress)) out.push({ networkId: ingress, aliases: [] });
    }
    return out;
  }

  createTask(ctx: TxContext, svc: ServiceRecord, slot: number, nodeId: string): TaskRecord {
    const { tx } = ctx;
    const id = newId();
    const name = `${svc.spec.name}.${svc.spec.mode.global !== undefined ? nodeId : slot}.${id}`;
    const networks: NetworkAttachment[] = [];
    const state = endpointStateFor(nodeId === '' ? undefined : ctx.node(nodeId));
    for (const att of this.taskNetworks(ctx, svc)) {
      const n = this.attachEndpoint(ctx, svc, { id, name, nodeId }, att, state);
      if (n) networks.push(n);
    }
    const status: TaskStatus = {
      state: nodeId === '' ? 'pending' : 'assigned',
      message: nodeId === '' ? 'no suitable node (waiting for an active, ready node)' : 'scheduler assigned task to node',
      err: '',
      timestamp: ctx.now,
      exitCode: 0,
      health: '',
    };
    const task: TaskRecord = {
      id,
      version: 0,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      serviceId: svc.id,
      serviceName: svc.spec.name,
      slot,
      nodeId,
      desiredState: 'running',
      status,
      spec: svc.spec.taskTemplate,
      networks,
      specVersion: svc.specVersion,
      name,
      hostPorts: svc.endpoint.ports.filter((p) => p.publishMode === 'host'),
      drained: false,
    };
    tx.put('task', task);
    ctx.addLoad(nodeId, 1);
    if (task.hostPorts.length > 0) ctx.invalidateHostPorts();
    return task;
  }

  /** Allocates a task's endpoint on one network; undefined when the network is gone. */
  private attachEndpoint(
    ctx: TxContext,
    svc: ServiceRecord,
    task: { id: string; name: string; nodeId: string },
    att: { networkId: string; aliases: string[] },
    state: string,
  ): NetworkAttachment | undefined {
    const net = ctx.network(att.networkId);
    if (!net) return undefined;
    const a = ctx.alloc.allocateEndpoint(att.networkId);
    const endpointId = newId();
    ctx.tx.put('endpoint', {
      id: endpointId,
      version: 0,
      networkId: att.networkId,
      kind: 'task',
      ownerId: task.id,
      serviceId: svc.id,
      serviceName: svc.spec.name,
      nodeId: task.nodeId,
      name: task.name,
      aliases: att.aliases,
      addr: a.addr,
      mac: a.mac,
      addrV6: a.addrV6,
      state,
      hostname: svc.spec.taskTemplate.hostname || task.id.slice(0, 12),
    });
    return {
      networkId: att.networkId,
      networkName: net.spec.name,
      addresses: [a.addr, a.addrV6].filter((x) => x !== ''),
      mac: a.mac,
      aliases: att.aliases,
      endpointId,
    };
  }

  /**
   * Brings the network attachments of a service's live tasks to what the service wants
   * now, in place: an endpoint allocated on each network added, the endpoint on each
   * network removed released, aliases updated. The tasks keep running (their agents add or
   * remove one interface each, and the load balancers follow); Swarm restarts every task
   * for this. Returns how many tasks changed.
   */
  reattachTasks(ctx: TxContext, svc: ServiceRecord): number {
    const want = this.taskNetworks(ctx, svc);
    let changed = 0;
    for (const t of ctx.tx.byIndex('task', 'service', svc.id)) {
      if (!isLive(t) || isTerminal(t)) continue;
      const wanted = new Map(want.map((w) => [w.networkId, w]));
      const kept: NetworkAttachment[] = [];
      let touched = false;
      for (const a of t.networks) {
        const w = wanted.get(a.networkId);
        if (!w) {
          for (const ep of ctx.tx.byIndex('endpoint', 'owner', t.id)) {
            if (ep.networkId !== a.networkId) continue;
            ctx.alloc.release(ep.networkId, ep.addr, ep.addrV6);
            ctx.tx.delete('endpoint', ep.id);
          }
          touched = true;
          continue;
        }
        wanted.delete(a.networkId);
        if (a.aliases.join('\0') !== w.aliases.join('\0')) {
          for (const ep of ctx.tx.byIndex('endpoint', 'owner', t.id)) {
            if (ep.networkId !== a.networkId) continue;
            ep.aliases = [...w.aliases];
            ctx.tx.put('endpoint', ep);
          }
          kept.push({ ...a, aliases: [...w.aliases] });
          touched = true;
        } else kept.push(a);
      }
      const state = endpointStateFor(t.nodeId === '' ? undefined : ctx.node(t.nodeId));
      for (const w of wanted.values()) {
        const n = this.attachEndpoint(ctx, svc, t, w, state);
        if (n) {
          kept.push(n);
          touched = true;
        }
      }
      if (!touched) continue;
      t.networks = kept;
      t.updatedAt = ctx.now;
      ctx.tx.put('task', t);
      changed++;
    }
    return changed;
  }

  /** Gives back the addresses of every endpoint owned by a task, container or node. */
  releaseEndpoints(ctx: TxContext, ownerId: string): void {
    for (const ep of ctx.tx.byIndex('endpoint', 'owner', ownerId)) {
      ctx.alloc.release(ep.networkId, ep.addr, ep.addrV6);
      ctx.tx.delete('endpoint', ep.id);
    }
  }

  assignTask(ctx: TxContext, task: TaskRecord, nodeId: string): void {
    task.nodeId = nodeId;
    task.status = { ...task.status, state: 'assigned', message: 'scheduler assigned task to node', timestamp: ctx.now };
    task.updatedAt = ctx.now;
    ctx.tx.put('task', task);
    if (task.hostPorts.length > 0) ctx.invalidateHostPorts();
    const state = endpointStateFor(ctx.node(nodeId));
    for (const ep of ctx.tx.byIndex('endpoint', 'owner', task.id)) {
      ep.nodeId = nodeId;
      ep.state = state;
      ctx.tx.put('endpoint', ep);
    }
    ctx.addLoad(nodeId, 1);
  }

  /**
   * Sets a task's desired state to shutdown. A task no agent holds (pending, or on a node
   * that is gone) is ended here and its addresses are freed; a task on a live node drains
   * (drainTask) and ends when its agent reports it stopped. An ended task whose service is
   * gone is deleted.
   */
  shutdownTask(ctx: TxContext, task: TaskRecord, message: string): void {
    const node = task.nodeId === '' ? undefined : ctx.node(task.nodeId);
    task.desiredState = 'shutdown';
    task.updatedAt = ctx.now;
    if (task.hostPorts.length > 0) ctx.invalidateHostPorts();
    if (!isTerminal(task)) {
      if (task.nodeId === '' || task.status.state === 'new' || task.status.state === 'pending') {
        task.status = { ...task.status, state: 'shutdown', message, timestamp: ctx.now };
        this.releaseEndpoints(ctx, task.id);
      } else if (!node) {
        task.status = { ...task.status, state: 'orphaned', message, timestamp: ctx.now };
        this.releaseEndpoints(ctx, task.id);
      } else {
        task.status = { ...task.status, message };
        this.drainTask(ctx, task);
      }
    } else {
      this.releaseEndpoints(ctx, task.id);
    }
    ctx.addLoad(task.nodeId, -1);
    if (!this.collectEnded(ctx, task)) ctx.tx.put('task', task);
  }

  /**
   * Takes a task that is shutting down out of the load balancers: its endpoints go
   * draining, and the task is drained (Task.drained) once every node watching one of its
   * networks acknowledged them, or when the wait runs out (drain-tracker.ts); at once, here,
   * when it has no endpoints or nobody watches their networks. On a Down node nothing
   * changes (its endpoints stay down; this runs again when the node is Ready). `expected`
   * adds nodes to wait for that do not watch yet (a restarted manager's). Returns whether
   * it changed the task record, which the caller writes.
   */
  drainTask(ctx: TxContext, task: TaskRecord, expected?: (networkId: string) => Iterable<string>): boolean {
    const node = ctx.node(task.nodeId);
    if (!node || node.status.state === 'down' || isTerminal(task)) return false;
    const endpoints = ctx.tx.byIndex('endpoint', 'owner', task.id);
    let changed = false;
    for (const ep of endpoints) {
      if (ep.state === 'draining') continue;
      ep.state = 'draining';
      ctx.tx.put('endpoint', ep);
      changed = true;
    }
    if (task.drained === true) return false;
    // a drain already under way keeps its wait (and the acknowledgements it has)
    if (!changed && this.drains.isWaiting(task.id)) return false;
    const waits = this.drains.waitsFor(endpoints, expected);
    if (waits.size === 0) {
      task.drained = true;
      return true;
    }
    const taskId = task.id;
    ctx.tx.onCommit(() => this.drains.begin(taskId, waits));
    return false;
  }

  /**
   * Deletes a task that has ended and whose service is gone (`service rm`), releasing
   * what it still holds; returns whether it did.
   */
  collectEnded(ctx: TxContext, task: TaskRecord): boolean {
    if (!isTerminal(task) || ctx.tx.get('service', task.serviceId)) return false;
    this.removeTask(ctx, task);
    return true;
  }

  removeTask(ctx: TxContext, task: TaskRecord): void {
    this.releaseEndpoints(ctx, task.id);
    ctx.tx.delete('task', task.id);
  }

  /** Brings one service to its desired state within the transaction. */
  reconcile(ctx: TxContext, serviceId: string): void {
    const svc = ctx.tx.get('service', serviceId);
    if (!svc) return;
    const tasks = ctx.tx.byIndex('task', 'service', serviceId);
    const batchAt = this.nextBatchAt.get(serviceId) ?? 0;
    // the tasks the plan found not yet in every load balancer: waited for once this commits
    const unjoined: JoinTask[] = [];
    const joins = this.joins;
    const plan = planService({
      service: svc,
      tasks,
      nodes: ctx.nodes(),
      nodeLoad: ctx.nodeLoad(),
      nowMs: ctx.nowMs,
      historyRetention: this.historyRetention,
      updateBatchAllowed: batchAt <= ctx.nowMs,
      hostPortsInUse: ctx.hostPortsInUse(serviceId),
      ...(joins
        ? {
            joined: (t: TaskRecord): boolean => {
              const ok = joins.joined(t, svc, ctx.nowMs);
              if (!ok) unjoined.push({ id: t.id, serviceId: t.serviceId, status: { ...t.status }, networks: [...t.networks] });
              return ok;
            },
          }
        : {}),
    });
    if (joins && unjoined.length > 0) {
      const service = { spec: { endpointSpec: { ...svc.spec.endpointSpec } } };
      ctx.tx.onCommit(() => {
        for (const t of unjoined) joins.await(t, service);
      });
    }
    const byId = new Map(tasks.map((t) => [t.id, t]));
    for (const s of plan.shutdown) {
      const t = byId.get(s.taskId);
      if (t) this.shutdownTask(ctx, t, s.message);
    }
    for (const a of plan.assign) {
      const t = byId.get(a.taskId);
      if (t) this.assignTask(ctx, t, a.nodeId);
    }
    for (const c of plan.create) this.createTask(ctx, svc, c.slot, c.nodeId);
    for (const id of plan.remove) {
      const t = byId.get(id);
      if (t) this.removeTask(ctx, t);
    }

    const delayMs = activeUpdateConfig(svc).delayMs;
    if (plan.updateBatchStarted) {
      const at = ctx.nowMs + delayMs;
      ctx.tx.onCommit(() => this.nextBatchAt.set(serviceId, at));
      if (plan.outdatedRemaining > 0) ctx.tx.onCommit(() => this.wakeAt(serviceId, at));
    } else if (plan.outdatedRemaining > 0 && batchAt > ctx.nowMs) {
      // held back by the update delay: wake when it has passed. A batch held back by its
      // previous one wakes by that one's reports (task states, join acknowledgements or
      // their timeout), not by a timer due now, which would fire again and again
      ctx.tx.onCommit(() => this.wakeAt(serviceId, batchAt));
    }
    if (plan.wakeAtMs !== undefined) {
      const at = plan.wakeAtMs;
      ctx.tx.onCommit(() => this.wakeAt(serviceId, at));
    }
    const state = svc.updateStatus.state;
    if (plan.updateFailed) {
      const action = activeUpdateConfig(svc).failureAction;
      const why = `${plan.updateFailures} of ${plan.updatedTasks} updated tasks failed within the monitor window`;
      if (action === 'rollback' && state === 'updating' && svc.previousSpec) {
        const later = this.rollBackLater;
        if (later) {
          // no further batch meanwhile: the plan stopped them
          ctx.tx.onCommit(() => later(serviceId, why));
        } else {
          this.rollBack(ctx, svc, `update rolled back: ${why}`);
        }
        return;
      }
      if (action !== 'continue') {
        const rollback = state === 'rollback_started';
        svc.updateStatus = {
          ...svc.updateStatus,
          state: rollback ? 'rollback_paused' : 'paused',
          message: `${rollback ? 'rollback' : 'update'} paused: ${why}`,
        };
        ctx.tx.put('service', svc);
        return;
      }
    }
    // complete once nothing is outdated and the newest task's monitor window has passed
    if ((state === 'updating' || state === 'rollback_started') && plan.outdatedRemaining === 0 && plan.monitorUntilMs === undefined) {
      const rollback = state === 'rollback_started';
      svc.updateStatus = {
        ...svc.updateStatus,
        state: rollback ? 'rollback_completed' : 'completed',
        completedAt: ctx.now,
        message: rollback ? 'rollback completed' : 'update completed',
      };
      ctx.tx.put('service', svc);
    }
  }

  /**
   * Switches a service back to its previous spec (the failed one becomes the previous
   * spec, as Docker swaps them) and starts the rollback, paced by rollbackConfig.
   * `swapped`: the caller swapped the specs already (and settled ports and VIPs).
   */
  rollBack(ctx: TxContext, svc: ServiceRecord, message: string, swapped = false): void {
    if (!swapped) {
      const previous = svc.previousSpec;
      if (!previous) return;
      svc.previousSpec = svc.spec;
      svc.spec = previous;
    }
    svc.updatedAt = ctx.now;
    svc.updateStatus = { state: 'rollback_started', startedAt: ctx.now, completedAt: '', message };
    ctx.tx.put('service', svc);
    // tasks of the failed spec become outdated (put set version to this revision)
    svc.specVersion = Math.max(svc.version, svc.specVersion + 1);
    ctx.tx.put('service', svc);
    const id = svc.id;
    ctx.tx.onCommit(() => this.startUpdate(id));
    this.reconcile(ctx, id);
  }

  /** Services that a change to this node may affect. */
  servicesForNode(ctx: TxContext, nodeId: string): string[] {
    const ids = new Set<string>();
    for (const t of ctx.tx.byIndex('task', 'node', nodeId)) if (isLive(t)) ids.add(t.serviceId);
    for (const id of ctx.tx.idsByIndex('service', 'mode', 'global')) ids.add(id);
    for (const id of ctx.tx.countsByIndex('task', 'unassigned').keys()) ids.add(id);
    return [...ids].sort();
  }

  private wakeAt(serviceId: string, atWallMs: number): void {
    if (this.closed) return;
    const existing = this.timers.get(serviceId);
    if (existing && existing.at <= atWallMs) return;
    existing?.timer.cancel();
    const delay = Math.max(0, atWallMs - this.clock.wallNow());
    const timer = this.clock.setTimer(delay, () => {
      this.timers.delete(serviceId);
      if (!this.closed) this.onWake(serviceId);
    });
    this.timers.set(serviceId, { at: atWallMs, timer });
  }

  forget(serviceId: string): void {
    this.timers.get(serviceId)?.timer.cancel();
    this.timers.delete(serviceId);
    this.nextBatchAt.delete(serviceId);
  }

  /** Marks the start of an update: the first batch may start now. */
  startUpdate(serviceId: string): void {
    this.nextBatchAt.delete(serviceId);
  }

  close(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) timer.cancel();
    this.timers.clear();
  }
}
