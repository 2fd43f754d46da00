/**
 * The scheduler: a pure planner from one service, its tasks and the nodes to the changes
 * that bring the service to its desired state.
 *
 * - Replicated services have slots 1..replicas; each slot wants one task whose desired
 *   state is running. New tasks go to the Active, Ready node with the fewest tasks of the
 *   service (then the fewest tasks overall, then the lowest node ID): spread.
 * - Global services want one task per Active, Ready node.
 * - A task on a node that is Down, drained or gone is shut down and (replicated) replaced
 *   on another node. Paused nodes keep their tasks and get no new ones.
 * - A task that ended by itself (complete, failed, rejected) is restarted per the restart
 *   policy: condition none | on-failure | any, after `delayMs`, at most `maxAttempts`
 *   times per slot (0 = no limit).
 * - Tasks running an older spec are replaced `parallelism` at a time (0 = all), one batch
 *   per call while the caller allows a batch (it spaces batches by the update delay) and
 *   every live task of the current spec is settled: it runs, passes its health check and
 *   is in every load balancer that should balance to it (`ScheduleInput.joined`, the
 *   caller's join acknowledgements): the next batch waits for the previous one. (Their old
 *   tasks drain out of the load balancers before they stop: orchestrator.ts.) Order
 *   stop-first: the old task is shut down and the slot's new task is created once the old
 *   one ended; start-first: the new task is created beside the old one, which is shut down
 *   once the new one is settled. A rollback
 *   (updateStatus rollback_*) is paced by rollbackConfig instead of updateConfig; a paused
 *   update (paused, rollback_paused) starts no batch.
 * - Failures: a task of the current spec that ends by itself or turns unhealthy within the
 *   monitor window (monitorMs after it was created: a task record keeps its latest status
 *   only, and creation is the earliest it can have started) is a failure of the update;
 *   failures / tasks of the current spec > maxFailureRatio sets `updateFailed` for the
 *   caller to act on the failure action.
 * - Ended tasks beyond the history retention are removed, oldest first.
 *
 * Task states: new -> pending (allocated, waiting for a node) -> assigned (node chosen) ->
 * running (reported by the agent) -> complete | failed | shutdown | rejected; orphaned is
 * for tasks whose node never came back. Desired state: running | shutdown.
 *
 * No I/O, no clock: the caller passes `nowMs` and applies the plan in one store transaction.
 */
import type { NodeRecord, ServiceRecord, TaskRecord } from './objects.ts';

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);
/** States a task reaches by itself (not because the manager asked it to stop). */
const SELF_ENDED: ReadonlySet<string> = new Set(['complete', 'failed', 'rejected']);

export function isTerminal(t: TaskRecord): boolean {
  return TERMINAL_STATES.has(t.status.state);
}

/** A task the manager wants running. */
export function isLive(t: TaskRecord): boolean {
  return t.desiredState === 'running';
}

/** Whether new tasks may be placed on the node. */
export function canPlace(n: NodeRecord | undefined): boolean {
  return n !== undefined && n.status.state === 'ready' && n.spec.availability === 'active';
}

/** Whether a task already on the node may stay there. */
export function canKeep(n: NodeRecord | undefined): boolean {
  return n !== undefined && n.status.state !== 'down' && n.spec.availability !== 'drain';
}

export interface ScheduleInput {
  service: ServiceRecord & { specVersion: number };
  /** Every task of the service (history included). */
  tasks: readonly TaskRecord[];
  nodes: readonly NodeRecord[];
  /** Live tasks per node over all services (the spread tie-break). */
  nodeLoad: ReadonlyMap<string, number>;
  nowMs: number;
  /** Ended tasks kept per slot (or per node for global services). */
  historyRetention: number;
  /** Whether a rolling-update batch may start now. */
  updateBatchAllowed: boolean;
  /**
   * `mode=host` published ports (`tcp/8080`) that live tasks of other services hold, per
   * node: a task of this service that publishes one of them cannot go there.
   */
  hostPortsInUse?: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Whether a running, healthy task is in every load balancer that should balance to it
   * (join-tracker.ts); asked only of such tasks, when an update waits for them. Default:
   * always (no load balancers to wait for).
   */
  joined?: (t: TaskRecord) => boolean;
}

/** The `mode=host` published ports of a service, as `PROTO/PORT` keys. */
export function hostPortKeys(ports: ReadonlyArray<{ protocol: string; publishedPort?: number; publishMode: string }>): string[] {
  return ports
    .filter((p) => p.publishMode === 'host' && p.publishedPort !== undefined && p.publishedPort > 0)
    .map((p) => `${p.protocol}/${p.publishedPort}`);
}

export interface TaskToCreate {
  slot: number;
  /** '' when no node can take it (the task stays pending). */
  nodeId: string;
}

export interface SchedulePlan {
  create: TaskToCreate[];
  assign: { taskId: string; nodeId: string }[];
  shutdown: { taskId: string; message: string }[];
  remove: string[];
  /** Earliest time something waits for (a restart delay), if any. */
  wakeAtMs?: number;
  /** Live tasks still running an older spec after this plan. */
  outdatedRemaining: number;
  /** Whether this plan started an update batch. */
  updateBatchStarted: boolean;
  /** Tasks of the current spec that failed within their monitor window. */
  updateFailures: number;
  /** Tasks of the current spec so far (the failure ratio's denominator). */
  updatedTasks: number;
  /** Whether an update (or rollback) in progress failed beyond its max failure ratio. */
  updateFailed: boolean;
  /**
   * During an update with nothing outdated left: when the monitor window of its newest
   * task ends, if that is still ahead (the update is complete only then: a task failing
   * in it still counts, as in Docker).
   */
  monitorUntilMs?: number;
}

/** Update states during which batches run and failures count. */
const UPDATING_STATES: ReadonlySet<string> = new Set(['updating', 'rollback_started']);
/** Update states that start no batch until the next service update. */
const PAUSED_STATES: ReadonlySet<string> = new Set(['paused', 'rollback_paused']);

/** The pacing that applies now: rollbackConfig while a rollback runs, else updateConfig. */
export function activeUpdateConfig(service: ServiceRecord): ServiceRecord['spec']['updateConfig'] {
  return service.updateStatus.state.startsWith('rollback') ? service.spec.rollbackConfig : service.spec.updateConfig;
}

/**
 * Whether a task of the current spec failed within its monitor window: it ended by itself,
 * or its health check says unhealthy, no later than `monitorMs` after it was created.
 */
export function failedInMonitor(t: TaskRecord, monitorMs: number): boolean {
  const failed = SELF_ENDED.has(t.status.state) || (t.status.state === 'running' && t.status.health === 'unhealthy');
  if (!failed) return false;
  const created = Date.parse(t.createdAt);
  if (Number.isNaN(created)) return true;
  return tsOf(t) - created <= monitorMs;
}

function tsOf(t: TaskRecord): number {
  const v = Date.parse(t.status.timestamp || t.updatedAt);
  return Number.isNaN(v) ? 0 : v;
}

/** Newest first by creation time, then spec version (a replacement made in the same ms), then ID. */
function newestFirst(a: TaskRecord, b: TaskRecord): number {
  return b.createdAt.localeCompare(a.createdAt) || b.specVersion - a.specVersion || b.id.localeCompare(a.id);
}

export function planService(input: ScheduleInput): SchedulePlan {
  const { service, nodes, nowMs } = input;
  const plan: SchedulePlan = {
    create: [],
    assign: [],
    shutdown: [],
    remove: [],
    outdatedRemaining: 0,
    updateBatchStarted: false,
    updateFailures: 0,
    updatedTasks: 0,
    updateFailed: false,
  };
  const pacing = activeUpdateConfig(service);
  const startFirst = pacing.order === 'start-first';
  const nodeById = new Map(nodes.map((n) => [n.id, n]));
  const placeable = nodes.filter(canPlace).sort((a, b) => a.id.localeCompare(b.id));
  const policy = service.spec.taskTemplate.restartPolicy;
  const global = service.spec.mode.global !== undefined;
  // settled and in the load balancers: what an update goes on past
  const ready = (t: TaskRecord): boolean => settled(t) && (input.joined?.(t) ?? true);

  const shutdownIds = new Set<string>();
  const shutdown = (t: TaskRecord, message: string): void => {
    if (shutdownIds.has(t.id)) return;
    shutdownIds.add(t.id);
    plan.shutdown.push({ taskId: t.id, message });
  };

  // spread bookkeeping: tasks of this service per node that stay
  const perNode = new Map<string, number>();
  const load = new Map(input.nodeLoad);
  const bump = (nodeId: string): void => {
    perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
    load.set(nodeId, (load.get(nodeId) ?? 0) + 1);
  };
  // mode=host ports: two tasks publishing the same host port never share a node
  const ownPorts = hostPortKeys(service.endpoint.ports);
  const portsTaken = new Map<string, Set<string>>();
  const takePorts = (nodeId: string): void => {
    if (ownPorts.length === 0) return;
    const set = portsTaken.get(nodeId) ?? new Set<string>();
    for (const k of ownPorts) set.add(k);
    portsTaken.set(nodeId, set);
  };
  const portsFree = (nodeId: string): boolean =>
    ownPorts.every((k) => !portsTaken.get(nodeId)?.has(k) && !input.hostPortsInUse?.get(nodeId)?.has(k));
  const choose = (): string => {
    let best: string | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (const n of placeable) {
      if (!portsFree(n.id)) continue;
      const key: [number, number] = [perNode.get(n.id) ?? 0, load.get(n.id) ?? 0];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && key[1] < bestKey[1])) {
        best = n.id;
        bestKey = key;
      }
    }
    if (best === undefined) return '';
    bump(best);
    takePorts(best);
    return best;
  };

  const restartAllowed = (history: readonly TaskRecord[]): { allowed: boolean; wakeAt?: number } => {
    const last = history[0];
    if (!last || !SELF_ENDED.has(last.status.state)) return { allowed: true };
    // a task that ended under an older spec does not hold its slot back from the new spec
    // (an update or rollback runs every slot once, whatever the restart policy)
    if (last.specVersion < service.specVersion) return { allowed: true };
    if (policy.condition === 'none') return { allowed: false };
    if (policy.condition === 'on-failure' && last.status.state === 'complete') return { allowed: false };
    if (policy.maxAttempts > 0) {
      // maxAttempts counts restarts, as Docker's --restart-max-attempts: the first run is
      // not one, so N allows N+1 runs in all
      const ended = history.filter((t) => SELF_ENDED.has(t.status.state)).length;
      if (ended > policy.maxAttempts) return { allowed: false };
    }
    const due = tsOf(last) + policy.delayMs;
    if (due > nowMs) return { allowed: false, wakeAt: due };
    return { allowed: true };
  };
  const wake = (at: number | undefined): void => {
    if (at !== undefined && (plan.wakeAtMs === undefined || at < plan.wakeAtMs)) plan.wakeAtMs = at;
  };

  // group by slot (replicated) or node (global)
  const groups = new Map<string, TaskRecord[]>();
  const keyOf = (t: TaskRecord): string => (global ? t.nodeId : String(t.slot));
  for (const t of input.tasks) {
    const k = keyOf(t);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(t);
  }
  for (const g of groups.values()) g.sort(newestFirst);

  const wanted = new Set<string>();
  if (global) {
    for (const n of nodes) {
      if (canPlace(n) || (canKeep(n) && (groups.get(n.id) ?? []).some(isLive))) wanted.add(n.id);
    }
  } else {
    const replicas = service.spec.mode.replicated?.replicas ?? 0;
    for (let s = 1; s <= replicas; s++) wanted.add(String(s));
  }

  // 1. live tasks: keep, or shut down (and note the slot/node as needing a task)
  const outdated: TaskRecord[] = [];
  const pendingAssign: TaskRecord[] = [];
  const needs = new Set<string>();
  // slots whose outdated task is being replaced: start-first (old kept until the new one
  // settles) or stop-first (old draining, the new one created once it ended)
  let replacing = 0;
  for (const [k, group] of groups) {
    let live = group.filter(isLive);
    // start-first: the slot's new task runs beside the outdated one until it is settled
    const fresh = live.find((t) => t.specVersion === service.specVersion && !isTerminal(t));
    if (fresh && live.length > 1 && wanted.has(k)) {
      const olds = live.filter((t) => t !== fresh && t.specVersion < service.specVersion);
      if (ready(fresh)) for (const o of olds) shutdown(o, 'replaced by a service update');
      else {
        for (const o of olds) {
          if (o.nodeId === '') continue;
          bump(o.nodeId);
          takePorts(o.nodeId);
        }
        if (olds.length > 0) replacing++;
      }
      live = [fresh, ...live.filter((t) => t !== fresh && !olds.includes(t))];
    }
    // more than one live task per slot/node should not happen; keep the newest
    for (const extra of live.slice(1)) shutdown(extra, 'duplicate task for the slot');
    const t = live[0];
    if (!t) continue;
    if (!wanted.has(k)) {
      shutdown(t, global ? 'node no longer eligible' : 'scaled down');
      continue;
    }
    if (isTerminal(t)) {
      shutdown(t, `task ${t.status.state}`);
      continue;
    }
    if (t.nodeId !== '' && !canKeep(nodeById.get(t.nodeId))) {
      const n = nodeById.get(t.nodeId);
      shutdown(t, n === undefined ? 'node removed' : n.status.state === 'down' ? 'node down' : 'node drained');
      if (!global) needs.add(k);
      continue;
    }
    if (t.nodeId === '') {
      if (t.specVersion < service.specVersion) {
        shutdown(t, 'replaced by a service update');
        if (!global) needs.add(k);
      } else pendingAssign.push(t);
      continue;
    }
    bump(t.nodeId);
    takePorts(t.nodeId);
    if (t.specVersion < service.specVersion) outdated.push(t);
  }

  // 2. slots/nodes without a live task
  for (const k of [...wanted].sort(compareKeys)) {
    const group = groups.get(k) ?? [];
    if (group.some((t) => isLive(t) && !shutdownIds.has(t.id))) continue;
    // stop-first: an outdated task replaced by the update ends (drains and stops) before
    // its slot's new task is created
    if (group.some((t) => !isLive(t) && !isTerminal(t) && t.specVersion < service.specVersion && canKeep(nodeById.get(t.nodeId)))) {
      replacing++;
      continue;
    }
    if (needs.has(k)) {
      // replaced because of its node, not its own end: no restart policy
      plan.create.push({ slot: global ? 0 : Number(k), nodeId: '' });
      continue;
    }
    const ended = group.filter((t) => !isLive(t) || shutdownIds.has(t.id));
    const r = restartAllowed(ended);
    if (!r.allowed) {
      wake(r.wakeAt);
      continue;
    }
    if (global) {
      if (canPlace(nodeById.get(k)) && portsFree(k)) {
        plan.create.push({ slot: 0, nodeId: k });
        bump(k);
        takePorts(k);
      }
    } else {
      plan.create.push({ slot: Number(k), nodeId: '' });
    }
  }

  // 3. rolling update: replace outdated tasks a batch at a time, and only once the tasks of
  // the current spec (the previous batch) run, pass their health checks and are in the
  // load balancers
  outdated.sort((a, b) => a.slot - b.slot || a.nodeId.localeCompare(b.nodeId));
  const unsettled = (): boolean =>
    input.tasks.some((t) => isLive(t) && !shutdownIds.has(t.id) && t.specVersion === service.specVersion && !ready(t));
  const current = input.tasks.filter((t) => t.specVersion === service.specVersion);
  plan.updatedTasks = current.length;
  plan.updateFailures = current.filter((t) => failedInMonitor(t, pacing.monitorMs)).length;
  const inUpdate = UPDATING_STATES.has(service.updateStatus.state);
  plan.updateFailed = inUpdate && plan.updatedTasks > 0 && plan.updateFailures / plan.updatedTasks > pacing.maxFailureRatio;
  // a failure that pauses (or rolls back) stops the batches here; 'continue' goes on
  const stopped = PAUSED_STATES.has(service.updateStatus.state) || (plan.updateFailed && pacing.failureAction !== 'continue');
  // tasks this plan creates run the current spec and are not settled yet either
  // (the join check last: it is asked only when nothing else holds the batch back)
  if (outdated.length > 0 && input.updateBatchAllowed && replacing === 0 && plan.create.length === 0 && !stopped && !unsettled()) {
    const parallelism = pacing.parallelism;
    const batch = parallelism === 0 ? outdated : outdated.slice(0, parallelism);
    for (const t of batch) {
      if (startFirst) {
        // the old task keeps running (and its place) until the new one is settled
        plan.create.push(global ? { slot: 0, nodeId: t.nodeId } : { slot: t.slot, nodeId: '' });
        continue;
      }
      shutdown(t, 'replaced by a service update');
      // a task shut down gives its host ports up at once (its agent unpublishes them)
      for (const k of ownPorts) portsTaken.get(t.nodeId)?.delete(k);
      perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 1) - 1);
      // stop-first: the slot's new task is created (step 2 of a later plan) once this one
      // drained and its agent reported it stopped
    }
    plan.updateBatchStarted = true;
  }
  plan.outdatedRemaining = outdated.length + replacing;
  if (inUpdate && plan.outdatedRemaining === 0 && pacing.monitorMs > 0) {
    let until = 0;
    for (const t of current) {
      if (!isLive(t)) continue;
      const created = Date.parse(t.createdAt);
      if (!Number.isNaN(created)) until = Math.max(until, created + pacing.monitorMs);
    }
    if (until > nowMs) {
      plan.monitorUntilMs = until;
      wake(until);
    }
  }

  // 4. placement: pending tasks, then new replicated tasks
  for (const t of pendingAssign) {
    const nodeId = choose();
    if (nodeId !== '') plan.assign.push({ taskId: t.id, nodeId });
  }
  for (const c of plan.create) if (c.nodeId === '') c.nodeId = choose();

  // 5. history retention: ended tasks beyond the limit, oldest first; a restart policy with
  // a maximum keeps enough of them to count its attempts
  const keep = Math.max(input.historyRetention, policy.maxAttempts > 0 ? policy.maxAttempts + 1 : 0);
  for (const group of groups.values()) {
    const ended = group.filter((t) => !isLive(t) && isTerminal(t));
    for (const t of ended.slice(keep)) plan.remove.push(t.id);
  }
  return plan;
}

/**
 * A task that runs and whose health check passes (or that has none): an update may go on
 * past it once it is in the load balancers too (ScheduleInput.joined).
 */
export function settled(t: TaskRecord): boolean {
  return t.status.state === 'running' && (t.status.health === '' || t.status.health === 'healthy');
}

function compareKeys(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return a.localeCompare(b);
}
