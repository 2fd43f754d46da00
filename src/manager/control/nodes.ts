/**
 * Node operations (`shoal node ls|inspect|update|promote|demote|rm`): a node's spec
 * (availability, role, labels, name) is the operator's; its status is its agent's
 * (agents.ts). A change that can move tasks (drain, removal) reconciles the services that
 * may have tasks there in the same transaction.
 */
import type { ListNodesFilter, Node, NodeSpec } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { newId } from '../../common/ids.ts';
import type { NodeRecord } from '../objects.ts';
import type { TxContext } from '../orchestrator.ts';
import { nodeName, resolveNode } from '../refs.ts';
import { completeRotationIfDone } from './certificates.ts';
import { isLive, isTerminal } from '../scheduler.ts';
import { normalizeNodeSpec } from '../spec-validation.ts';
import { endpointStateFor } from '../views.ts';
import type { ControlCore } from './core.ts';
import { clusterOf, managerNodeId } from './core.ts';
import { matchesIds, matchesLabels, matchesNames } from './filters.ts';

/** Writes a new node with its ingress sandbox endpoint (at join, and for the manager's node at cluster init). */
export function insertNode(ctx: TxContext, node: NodeRecord): void {
  ctx.tx.put('node', node);
  const ingressId = ctx.cluster().ingressNetworkId;
  const a = ctx.alloc.allocateEndpoint(ingressId);
  ctx.tx.put('endpoint', {
    id: newId(),
    version: 0,
    networkId: ingressId,
    kind: 'node-ingress',
    ownerId: node.id,
    serviceId: '',
    serviceName: '',
    nodeId: node.id,
    name: `ingress-sbox-${node.id.slice(0, 12)}`,
    aliases: [],
    addr: a.addr,
    mac: a.mac,
    addrV6: a.addrV6,
    state: endpointStateFor(node),
    hostname: '',
  });
  ctx.invalidateNodes();
}

export class NodeControl {
  constructor(private readonly core: ControlCore) {}

  async listNodes(filter: ListNodesFilter = {}): Promise<Node[]> {
    return this.core.store.view((tx) =>
      tx
        .all('node')
        .filter(
          (n) =>
            matchesIds(n.id, filter.ids) &&
            matchesNames(nodeName(n), filter.names) &&
            matchesLabels(n.spec.labels, filter.labels) &&
            (!filter.role || n.spec.role === filter.role),
        )
        .sort((a, b) => nodeName(a).localeCompare(nodeName(b)) || a.id.localeCompare(b.id)),
    );
  }

  async inspectNode(ref: string): Promise<Node> {
    return this.core.store.view((tx) => resolveNode(tx, ref, managerNodeId(tx)));
  }

  async updateNode(ref: string, input: NodeSpec, version = 0): Promise<Node> {
    const spec = normalizeNodeSpec(input);
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      const node = resolveNode(tx, ref, managerNodeId(tx));
      if (version !== 0 && version !== node.version) {
        throw apiError(
          'SHOAL_ERR_VERSION_CONFLICT',
          `update out of sequence: node ${nodeName(node)} is at version ${node.version}, the update was made against version ${version}`,
          { nodeId: node.id },
        );
      }
      if (node.spec.role === 'manager' && spec.role === 'worker') {
        if (node.id === clusterOf(tx).managerNodeId) {
          throw apiError('SHOAL_ERR_LAST_MANAGER', `node ${nodeName(node)} runs the manager of this swarm and cannot be demoted`, {
            nodeId: node.id,
          });
        }
        const managers = tx.all('node').filter((n) => n.spec.role === 'manager');
        if (managers.length <= 1)
          throw apiError('SHOAL_ERR_LAST_MANAGER', `cannot demote the last manager of the swarm (${nodeName(node)})`, {
            nodeId: node.id,
          });
      }
      node.spec = spec;
      node.updatedAt = ctx.now;
      if (spec.role === 'manager' && !node.managerStatus) node.managerStatus = { leader: false, reachability: 'unreachable', addr: '' };
      if (spec.role === 'worker') delete node.managerStatus;
      tx.put('node', node);
      ctx.invalidateNodes();
      this.core.reconcileNode(ctx, node.id);
      return tx.get('node', node.id)!;
    });
  }

  async removeNode(ref: string, force = false): Promise<void> {
    const { orchestrator } = this.core;
    await this.core.mutate((ctx) => {
      const { tx } = ctx;
      const node = resolveNode(tx, ref, managerNodeId(tx));
      if (node.id === clusterOf(tx).managerNodeId) {
        throw apiError('SHOAL_ERR_NODE_IS_MANAGER', `node ${nodeName(node)} runs the manager of this swarm and cannot be removed`, {
          nodeId: node.id,
        });
      }
      if (node.spec.role === 'manager' && !force) {
        throw apiError('SHOAL_ERR_NODE_IS_MANAGER', `node ${nodeName(node)} is a manager; demote it before removing it (or use --force)`, {
          nodeId: node.id,
        });
      }
      if (node.status.state !== 'down' && node.status.state !== 'unknown' && !force) {
        throw apiError('SHOAL_ERR_NODE_UP', `node ${nodeName(node)} is not down and can't be removed (use --force)`, {
          nodeId: node.id,
          state: node.status.state,
        });
      }
      // which services had tasks there must be read before the node and its tasks change
      const affected = orchestrator.servicesForNode(ctx, node.id);
      for (const c of tx.byIndex('container', 'node', node.id)) {
        orchestrator.releaseEndpoints(ctx, c.id);
        tx.delete('container', c.id);
      }
      orchestrator.releaseEndpoints(ctx, node.id);
      tx.delete('node', node.id);
      // a root CA rotation waiting only for this node completes with its removal
      completeRotationIfDone(tx, ctx.nowMs);
      ctx.invalidateNodes();
      for (const t of tx.byIndex('task', 'node', node.id)) {
        if (isLive(t)) orchestrator.shutdownTask(ctx, t, 'node removed');
        else if (!isTerminal(t)) {
          t.status = { ...t.status, state: 'orphaned', message: 'node removed', timestamp: ctx.now };
          orchestrator.releaseEndpoints(ctx, t.id);
          if (!orchestrator.collectEnded(ctx, t)) tx.put('task', t);
        }
      }
      for (const id of affected) orchestrator.reconcile(ctx, id);
    });
  }
}
