/**
 * Drains of tasks that are shutting down, as store transactions: the acknowledgements
 * agents send (AgentReport.drained_endpoint_ids), the drained flag written when a wait
 * completes or runs out (with the nodes that did not answer logged), and the fresh waits a
 * restarted manager starts for the tasks still draining. The waits themselves are in
 * memory (drain-tracker.ts); the orchestrator starts them when it shuts a task down.
 */
import type { DrainOutcome } from '../drain-tracker.ts';
import type { TxContext } from '../orchestrator.ts';
import { undrained } from '../objects.ts';
import type { ControlCore } from './core.ts';

export class DrainControl {
  constructor(private readonly core: ControlCore) {}

  /**
   * A node's load balancers left these draining endpoints. IDs no wait holds (unknown, not
   * draining, already acknowledged) and nodes no wait is for are ignored; a task whose last
   * awaited node answered is marked drained (one transaction per call).
   */
  async acknowledgeDrained(nodeId: string, endpointIds: readonly string[]): Promise<void> {
    if (endpointIds.length === 0) return;
    const done = this.core.drains.acknowledge(nodeId, endpointIds);
    if (done.length > 0) await this.markDrained(done);
  }

  /** Writes the drained flag of tasks whose waits ended (those still shutting down and not ended). */
  async markDrained(outcomes: readonly DrainOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    for (const o of outcomes) {
      if (o.missing.length === 0) continue;
      this.core.logger.warn(
        { taskId: o.taskId, nodeIds: o.missing, timeoutMs: this.core.drains.timeoutMs },
        'drain: these nodes did not acknowledge the task leaving their load balancers in time; the task is drained anyway',
      );
    }
    await this.core.mutate((ctx) => {
      for (const o of outcomes) {
        const t = ctx.tx.get('task', o.taskId);
        if (!t || !undrained(t)) continue;
        t.drained = true;
        t.updatedAt = ctx.now;
        ctx.tx.put('task', t);
      }
    });
  }

  /**
   * After a manager restart: a fresh wait (timer from now) for every task still draining,
   * for the Ready nodes that can watch its networks (they resend their acknowledgements
   * when their sessions reconnect); a task on a live node whose endpoints were not draining
   * yet (a store written before drains existed) starts draining now. Returns the number of
   * tasks that wait or were drained at once.
   */
  async resumeDrains(): Promise<number> {
    const ids = this.core.store.view((tx) => tx.indexEntries('task', 'undrained').map(([, id]) => id));
    if (ids.length === 0) return 0;
    const { orchestrator, drains } = this.core;
    return this.core.mutate((ctx) => {
      const expected = expectedWatchers(ctx);
      let n = 0;
      for (const id of ids) {
        const t = ctx.tx.get('task', id);
        if (!t || !undrained(t) || drains.isWaiting(t.id)) continue;
        const node = ctx.node(t.nodeId);
        if (!node || node.status.state === 'down') continue;
        if (orchestrator.drainTask(ctx, t, expected)) ctx.tx.put('task', t);
        n++;
      }
      return n;
    });
  }
}

/**
 * The nodes a restarted manager expects to watch a network: the Ready nodes with the network
 * in their assignment (every one for ingress; for the others, those with an endpoint on it).
 */
function expectedWatchers(ctx: TxContext): (networkId: string) => string[] {
  const cache = new Map<string, string[]>();
  return (networkId) => {
    let nodes = cache.get(networkId);
    if (!nodes) {
      const ready = (id: string): boolean => ctx.node(id)?.status.state === 'ready';
      if (networkId === ctx.cluster().ingressNetworkId)
        nodes = ctx
          .nodes()
          .filter((n) => ready(n.id))
          .map((n) => n.id);
      else
        nodes = [...new Set(ctx.tx.byIndex('endpoint', 'network', networkId).map((e) => e.nodeId))].filter((id) => id !== '' && ready(id));
      cache.set(networkId, nodes);
    }
    return nodes;
  };
}
