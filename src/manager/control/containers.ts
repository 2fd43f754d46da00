/**
 * Standalone container operations (`shoal container run|ls|inspect|rm`): a container is
 * placed on a node (the manager's own unless `--node`) and attached to attachable networks
 * at creation; `network connect` and `disconnect` (networks.ts) change that later.
 */
import type { Container, ContainerSpec, ListContainersFilter } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { newId } from '../../common/ids.ts';
import type { ContainerRecord, NetworkRecord } from '../objects.ts';
import { resolveContainer, resolveNetwork, resolveNode } from '../refs.ts';
import { normalizeContainerSpec } from '../spec-validation.ts';
import type { ControlCore } from './core.ts';
import { clusterOf, managerNodeId } from './core.ts';
import { matchesIds, matchesNames } from './filters.ts';
import { attachContainer, checkAttachable } from './networks.ts';

export class ContainerControl {
  constructor(private readonly core: ControlCore) {}

  async runContainer(input: ContainerSpec): Promise<Container> {
    const spec = normalizeContainerSpec(input);
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      const id = newId();
      if (spec.name === '') spec.name = `shoal-${id.slice(0, 12)}`;
      const taken = tx.byIndex('container', 'name', spec.name)[0];
      if (taken)
        throw apiError('SHOAL_ERR_CONTAINER_EXISTS', `the container name ${spec.name} is already in use by container ${taken.id}`, {
          name: spec.name,
        });
      const node = spec.node === '' ? tx.get('node', clusterOf(tx).managerNodeId) : resolveNode(tx, spec.node, managerNodeId(tx));
      if (!node) throw apiError('SHOAL_ERR_NODE_NOT_FOUND', 'the manager node is missing');
      const nets: { net: NetworkRecord; aliases: string[] }[] = [];
      for (const att of spec.networks) {
        const net = resolveNetwork(tx, att.target);
        checkAttachable(net);
        if (nets.some((n) => n.net.id === net.id)) throw apiError('SHOAL_ERR_BAD_SPEC', `network ${net.spec.name} is given twice`);
        nets.push({ net, aliases: att.aliases });
        att.target = net.id;
      }
      spec.node = node.id;
      const c: ContainerRecord = {
        id,
        version: 0,
        createdAt: ctx.now,
        updatedAt: ctx.now,
        spec,
        nodeId: node.id,
        networks: [],
        state: 'created',
      };
      for (const { net, aliases } of nets) c.networks.push(attachContainer(ctx, c, net, aliases));
      return tx.put('container', c);
    });
  }

  async listContainers(filter: ListContainersFilter = {}): Promise<Container[]> {
    return this.core.store.view((tx) => {
      const netIds =
        filter.networks && filter.networks.length > 0 ? new Set(filter.networks.map((r) => resolveNetwork(tx, r).id)) : undefined;
      const nodeIds =
        filter.nodes && filter.nodes.length > 0 ? new Set(filter.nodes.map((r) => resolveNode(tx, r, managerNodeId(tx)).id)) : undefined;
      return tx
        .all('container')
        .filter(
          (c) =>
            matchesIds(c.id, filter.ids) &&
            matchesNames(c.spec.name, filter.names) &&
            (!netIds || c.networks.some((n) => netIds.has(n.networkId))) &&
            (!nodeIds || nodeIds.has(c.nodeId)),
        )
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name));
    });
  }

  async inspectContainer(ref: string): Promise<Container> {
    return this.core.store.view((tx) => resolveContainer(tx, ref));
  }

  async removeContainer(ref: string, force = false): Promise<void> {
    await this.core.mutate((ctx) => {
      const c = resolveContainer(ctx.tx, ref);
      if (c.state === 'running' && !force) {
        throw apiError('SHOAL_ERR_CONTAINER_RUNNING', `container ${c.spec.name} is running: stop it first or remove it with --force`, {
          containerId: c.id,
        });
      }
      this.core.orchestrator.releaseEndpoints(ctx, c.id);
      ctx.tx.delete('container', c.id);
    });
  }
}
