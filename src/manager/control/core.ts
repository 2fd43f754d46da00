/**
 * What every part of the manager's core shares: the store, the allocator, the
 * orchestrator, the drain and join waits, the clock, the configuration and the logger, and the one way to change
 * anything, `mutate` (one store transaction with allocation and scheduling available).
 *
 * Each resource's operations (networks.ts, services.ts, ...) hold this object and nothing
 * else of each other, so a part can be read, and tested through ManagerControl, alone.
 */
import type { Clock } from '../../common/clock.ts';
import { ShoalError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { Allocator } from '../allocator.ts';
import type { ManagerConfig } from '../config.ts';
import type { DrainTracker } from '../drain-tracker.ts';
import type { JoinTracker } from '../join-tracker.ts';
import type { ClusterRecord, Kinds } from '../objects.ts';
import { CLUSTER_KEY } from '../objects.ts';
import type { Orchestrator } from '../orchestrator.ts';
import { TxContext } from '../orchestrator.ts';
import type { ReadTx, Store } from '../store.ts';

export interface ControlDeps {
  store: Store<Kinds>;
  clock: Clock;
  config: ManagerConfig;
  logger: Logger;
}

export class ControlCore {
  readonly store: Store<Kinds>;
  readonly allocator: Allocator;
  readonly orchestrator: Orchestrator;
  readonly drains: DrainTracker;
  readonly joins: JoinTracker;
  readonly clock: Clock;
  readonly config: ManagerConfig;
  readonly logger: Logger;

  constructor(deps: ControlDeps, allocator: Allocator, orchestrator: Orchestrator, drains: DrainTracker, joins: JoinTracker) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.config = deps.config;
    this.logger = deps.logger;
    this.allocator = allocator;
    this.orchestrator = orchestrator;
    this.drains = drains;
    this.joins = joins;
  }

  /** Wall-clock now, from the injected clock. */
  nowMs(): number {
    return this.clock.wallNow();
  }

  /** One transaction with allocation and scheduling available; any throw rolls all of it back. */
  mutate<T>(fn: (ctx: TxContext) => T): Promise<T> {
    return this.store.update((tx) => this.allocator.within(tx, (alloc) => fn(new TxContext(tx, alloc, this.nowMs()))));
  }

  /** Reconciles every service whose placement a change to this node may affect. */
  reconcileNode(ctx: TxContext, nodeId: string): void {
    for (const id of this.orchestrator.servicesForNode(ctx, nodeId)) this.orchestrator.reconcile(ctx, id);
  }
}

/** The cluster record; a store without one was never initialised. */
export function clusterOf(tx: ReadTx<Kinds>): ClusterRecord {
  const c = tx.get('cluster', CLUSTER_KEY);
  if (!c) throw new ShoalError('SHOAL_ERR_INTERNAL', 'the cluster is not initialised');
  return c;
}

/** The ID of the manager's own node ('' before cluster init): what "self" names. */
export function managerNodeId(tx: ReadTx<Kinds>): string {
  return tx.get('cluster', CLUSTER_KEY)?.managerNodeId ?? '';
}
