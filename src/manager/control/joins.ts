/**
 * Joins of new tasks into the load balancers, which rolling updates wait for: the
 * acknowledgements agents send (AgentReport.joined_endpoint_ids), and the services woken
 * when a waiting task joined or its wait ran out (with the nodes that did not answer
 * logged, once per wait). The acknowledgements and waits are in memory (join-tracker.ts);
 * the orchestrator starts a wait when the scheduler finds a task not joined yet.
 */
import type { JoinOutcome } from '../join-tracker.ts';
import type { ControlCore } from './core.ts';

export class JoinControl {
  constructor(private readonly core: ControlCore) {}

  /**
   * A node's load balancers now send new connections to these endpoints. Kept whatever
   * they are (an acknowledgement may arrive before the manager sees its task running); the
   * services of the waits it completed reconcile (one transaction per call).
   */
  async acknowledgeJoined(nodeId: string, endpointIds: readonly string[]): Promise<void> {
    if (endpointIds.length === 0) return;
    const done = this.core.joins.acknowledge(nodeId, endpointIds);
    if (done.length > 0) await this.wake(done);
  }

  /** Reconciles the services of waits that ended; logs the ones that ran out. */
  async wake(outcomes: readonly JoinOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    for (const o of outcomes) {
      if (o.missing.length === 0) continue;
      this.core.logger.warn(
        { taskId: o.taskId, serviceId: o.serviceId, nodeIds: o.missing, timeoutMs: this.core.joins.timeoutMs },
        'join: these nodes did not acknowledge the task in their load balancers in time; the update goes on anyway',
      );
    }
    const ids = [...new Set(outcomes.map((o) => o.serviceId))].sort();
    await this.core.mutate((ctx) => {
      for (const id of ids) this.core.orchestrator.reconcile(ctx, id);
    });
  }
}
