/**
 * Service and task operations: create (ports, VIPs, tasks and their placement in the same
 * transaction as the service), list, inspect, update (a rolling update when the tasks'
 * template or networks change), scale, remove, and `service ps`.
 *
 * Removing a service (as Docker's `service rm`) removes the service record, its VIPs, its
 * published ports and its name at once (a service of the same name may be created right
 * away), and shuts its tasks down as any shutdown does: a task no agent holds (pending,
 * unassigned, orphaned) or one that already ended is deleted at once; a task running on a
 * node drains out of the load balancers, is stopped by its agent, and is deleted (its
 * addresses released) when the agent reports it ended. Until then it is listed by the
 * unfiltered and per-node task lists (`listTasks()`, `listTasks({ nodes })`), never by
 * `service ps`, `service ls` or `service inspect`, which no longer find the service.
 *
 * Also the reconciles that run outside a request: when a restart-delay or update-batch
 * timer fires, and the sweep of every service after a manager restart.
 */
import type { ListServicesFilter, ListTasksFilter, Service, ServiceSpec, Task, UpdateServiceOptions } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { newId } from '../../common/ids.ts';
import type { Kinds, ServiceRecord, TaskRecord } from '../objects.ts';
import type { TxContext } from '../orchestrator.ts';
import { resolveNetwork, resolveNode, resolveService } from '../refs.ts';
import { generateServiceName } from '../service-names.ts';
import { normalizeServiceSpec } from '../spec-validation.ts';
import type { ReadTx } from '../store.ts';
import { isLive, isTerminal } from '../scheduler.ts';
import { serviceView, taskView } from '../views.ts';
import type { ControlCore } from './core.ts';
import { managerNodeId } from './core.ts';
import { matchesIds, matchesLabels, matchesNames } from './filters.ts';

/** Resolves the spec's network references to IDs and checks them. */
function resolveServiceNetworks(tx: ReadTx<Kinds>, spec: ServiceSpec): void {
  const seen = new Set<string>();
  for (const att of spec.networks) {
    const net = resolveNetwork(tx, att.target);
    if (net.ingress) {
      throw apiError(
        'SHOAL_ERR_BAD_SPEC',
        `service cannot be explicitly attached to the ingress network ${net.spec.name}; publish a port instead`,
        { networkId: net.id },
      );
    }
    if (seen.has(net.id)) throw apiError('SHOAL_ERR_BAD_SPEC', `network ${net.spec.name} is given twice`, { networkId: net.id });
    seen.add(net.id);
    att.target = net.id;
  }
}

/** Allocates VIPs for the service on every network it needs one on, keeping existing ones. */
function allocateVips(ctx: TxContext, svc: ServiceRecord, previous: ServiceRecord | undefined): void {
  const want: { networkId: string; aliases: string[] }[] = [];
  if (svc.spec.endpointSpec.mode === 'vip') {
    for (const n of svc.spec.networks) want.push({ networkId: n.target, aliases: n.aliases });
    if (svc.endpoint.ports.some((p) => p.publishMode === 'ingress')) {
      const ingress = ctx.cluster().ingressNetworkId;
      if (!want.some((w) => w.networkId === ingress)) want.push({ networkId: ingress, aliases: [] });
    }
  }
  const existing = previous ? ctx.tx.byIndex('endpoint', 'owner', svc.id).filter((e) => e.kind === 'vip') : [];
  for (const ep of existing) {
    const w = want.find((x) => x.networkId === ep.networkId);
    if (!w) {
      ctx.alloc.release(ep.networkId, ep.addr, ep.addrV6);
      ctx.tx.delete('endpoint', ep.id);
    } else if (ep.aliases.join('\0') !== w.aliases.join('\0') || ep.name !== svc.spec.name) {
      ep.aliases = w.aliases;
      ctx.tx.put('endpoint', ep);
    }
  }
  const vips = [];
  for (const w of want) {
    let ep = existing.find((e) => e.networkId === w.networkId);
    if (!ep) {
      const a = ctx.alloc.allocateVip(w.networkId);
      ep = ctx.tx.put('endpoint', {
        id: newId(),
        version: 0,
        networkId: w.networkId,
        kind: 'vip',
        ownerId: svc.id,
        serviceId: svc.id,
        serviceName: svc.spec.name,
        nodeId: '',
        name: svc.spec.name,
        aliases: w.aliases,
        addr: a.addr,
        mac: '',
        addrV6: a.addrV6,
        state: 'active',
        hostname: '',
      });
    }
    vips.push({ networkId: w.networkId, addr: ep.addr !== '' ? ep.addr : ep.addrV6 });
  }
  svc.endpoint.virtualIps = vips;
}

export class ServiceControl {
  constructor(private readonly core: ControlCore) {}

  async createService(input: ServiceSpec): Promise<Service> {
    const spec = normalizeServiceSpec(input, { nameOptional: true });
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      if (spec.name === '') {
        // Docker's generated name, chosen where uniqueness is checked: in this transaction
        const name = generateServiceName((n) => tx.byIndex('service', 'name', n).length > 0);
        if (name === undefined) throw apiError('SHOAL_ERR_BAD_NAME', 'no free generated service name: give one with --name');
        spec.name = name;
      }
      const taken = tx.byIndex('service', 'name', spec.name)[0];
      if (taken)
        throw apiError('SHOAL_ERR_SERVICE_EXISTS', `service ${spec.name} already exists (${taken.id})`, {
          name: spec.name,
          serviceId: taken.id,
        });
      resolveServiceNetworks(tx, spec);
      const id = newId();
      const ports = ctx.alloc.allocatePorts({ serviceId: id, serviceName: spec.name }, spec.endpointSpec.ports, [], []);
      const svc: ServiceRecord = {
        id,
        version: 0,
        createdAt: ctx.now,
        updatedAt: ctx.now,
        spec,
        endpoint: { spec: spec.endpointSpec, ports, virtualIps: [] },
        updateStatus: { state: '', startedAt: '', completedAt: '', message: '' },
        specVersion: 0,
      };
      allocateVips(ctx, svc, undefined);
      tx.put('service', svc);
      svc.specVersion = svc.version;
      tx.put('service', svc);
      this.core.orchestrator.reconcile(ctx, id);
      return serviceView(tx, tx.get('service', id)!);
    });
  }

  async listServices(filter: ListServicesFilter = {}): Promise<Service[]> {
    return this.core.store.view((tx) =>
      tx
        .all('service')
        .filter(
          (s) =>
            matchesIds(s.id, filter.ids) &&
            matchesNames(s.spec.name, filter.names) &&
            matchesLabels(s.spec.labels, filter.labels) &&
            (!filter.mode || (filter.mode === 'global') === (s.spec.mode.global !== undefined)),
        )
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
        .map((s) => serviceView(tx, s)),
    );
  }

  async inspectService(ref: string): Promise<Service> {
    return this.core.store.view((tx) => serviceView(tx, resolveService(tx, ref)));
  }

  async updateService(ref: string, input: ServiceSpec, version = 0, options: UpdateServiceOptions = {}): Promise<Service> {
    if (options.rollback === true) return this.rollbackService(ref, version);
    const spec = normalizeServiceSpec(input);
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      checkVersion(svc, version, 'update');
      if (spec.name !== svc.spec.name)
        throw apiError('SHOAL_ERR_BAD_SPEC', `renaming services is not supported (${svc.spec.name} -> ${spec.name})`);
      if ((spec.mode.global !== undefined) !== (svc.spec.mode.global !== undefined)) {
        throw apiError(
          'SHOAL_ERR_BAD_SPEC',
          `service mode change is not allowed (${svc.spec.mode.global ? 'global' : 'replicated'} -> ${spec.mode.global ? 'global' : 'replicated'})`,
        );
      }
      resolveServiceNetworks(tx, spec);
      const previous: ServiceRecord = structuredClone(svc);
      const ports = ctx.alloc.allocatePorts(
        { serviceId: svc.id, serviceName: spec.name },
        spec.endpointSpec.ports,
        svc.spec.endpointSpec.ports,
        svc.endpoint.ports,
      );
      svc.previousSpec = previous.spec;
      svc.spec = spec;
      svc.endpoint = { spec: spec.endpointSpec, ports, virtualIps: previous.endpoint.virtualIps };
      svc.updatedAt = ctx.now;
      allocateVips(ctx, svc, previous);
      const hostPorts = (s: ServiceRecord): string => JSON.stringify(s.endpoint.ports.filter((p) => p.publishMode === 'host'));
      const ingressOf = (s: ServiceRecord): boolean => s.endpoint.ports.some((p) => p.publishMode === 'ingress');
      // what the task runs (or a host port, a scheduling constraint) rolls the tasks; the
      // networks they attach to (ingress too, for a published port added or removed)
      // change in place, without a restart
      const tasksChange =
        JSON.stringify(previous.spec.taskTemplate) !== JSON.stringify(spec.taskTemplate) || hostPorts(previous) !== hostPorts(svc);
      const attachChange =
        JSON.stringify(previous.spec.networks) !== JSON.stringify(spec.networks) || ingressOf(previous) !== ingressOf(svc);
      tx.put('service', svc);
      if (attachChange) this.core.orchestrator.reattachTasks(ctx, svc);
      if (tasksChange) {
        svc.specVersion = svc.version;
        svc.updateStatus = { state: 'updating', startedAt: ctx.now, completedAt: '', message: 'update in progress' };
        tx.put('service', svc);
        this.core.orchestrator.startUpdate(svc.id);
      }
      this.core.orchestrator.reconcile(ctx, svc.id);
      return serviceView(tx, tx.get('service', svc.id)!);
    });
  }

  /**
   * Docker's `service update --rollback`: the previous spec comes back (and the current one
   * becomes the previous), its tasks rolled out as rollbackConfig paces them.
   */
  async rollbackService(ref: string, version = 0): Promise<Service> {
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      checkVersion(svc, version, 'rollback');
      if (!svc.previousSpec) throw apiError('SHOAL_ERR_BAD_SPEC', `service ${svc.spec.name} does not have a previous spec`);
      this.restorePrevious(ctx, svc, 'manually requested rollback');
      return serviceView(tx, tx.get('service', svc.id)!);
    });
  }

  /**
   * The automatic rollback of an update that failed (--update-failure-action rollback), in
   * a transaction of its own, the same way as a requested one: the previous spec's ports
   * and VIPs allocated again, its networks attached in place. When the previous spec can
   * no longer be applied (a network gone, a port taken meanwhile), the update pauses
   * instead, saying why. Does nothing unless the update is still the failed one.
   */
  async autoRollback(serviceId: string, why: string): Promise<void> {
    const eligible = (svc: ServiceRecord | undefined): svc is ServiceRecord =>
      svc !== undefined && svc.updateStatus.state === 'updating' && svc.previousSpec !== undefined;
    try {
      await this.core.mutate((ctx) => {
        const svc = ctx.tx.get('service', serviceId);
        if (eligible(svc)) this.restorePrevious(ctx, svc, `update rolled back: ${why}`);
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.core.mutate((ctx) => {
        const svc = ctx.tx.get('service', serviceId);
        if (!eligible(svc)) return;
        svc.updateStatus = { ...svc.updateStatus, state: 'paused', message: `update paused: ${why}; it cannot be rolled back: ${message}` };
        ctx.tx.put('service', svc);
      });
    }
  }

  /** Swaps a service back to its previous spec (checked like any update) and starts the rollout. */
  private restorePrevious(ctx: TxContext, svc: ServiceRecord, message: string): void {
    const { tx } = ctx;
    // the previous spec goes through the same checks as any update: its networks may be gone
    const back = normalizeServiceSpec(svc.previousSpec!);
    resolveServiceNetworks(tx, back);
    const previous: ServiceRecord = structuredClone(svc);
    svc.endpoint = {
      spec: back.endpointSpec,
      ports: ctx.alloc.allocatePorts(
        { serviceId: svc.id, serviceName: back.name },
        back.endpointSpec.ports,
        svc.spec.endpointSpec.ports,
        svc.endpoint.ports,
      ),
      virtualIps: previous.endpoint.virtualIps,
    };
    svc.previousSpec = svc.spec;
    svc.spec = back;
    allocateVips(ctx, svc, previous);
    this.core.orchestrator.reattachTasks(ctx, svc);
    this.core.orchestrator.rollBack(ctx, svc, message, true);
  }

  async scaleService(ref: string, replicas: number): Promise<Service> {
    if (!Number.isInteger(replicas) || replicas < 0)
      throw apiError('SHOAL_ERR_BAD_SPEC', `replicas must be a whole number >= 0 (got ${replicas})`);
    return this.core.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      if (!svc.spec.mode.replicated)
        throw apiError('SHOAL_ERR_BAD_SPEC', `scale can only be used with replicated mode (service ${svc.spec.name} is global)`);
      const normalized = normalizeServiceSpec({ ...svc.spec, mode: { replicated: { replicas } } });
      svc.spec.mode = normalized.mode;
      svc.updatedAt = ctx.now;
      tx.put('service', svc);
      this.core.orchestrator.reconcile(ctx, svc.id);
      return serviceView(tx, tx.get('service', svc.id)!);
    });
  }

  async removeService(ref: string): Promise<void> {
    const { orchestrator } = this.core;
    let removedId = '';
    await this.core.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      removedId = svc.id;
      orchestrator.releaseEndpoints(ctx, svc.id);
      ctx.alloc.releasePorts(svc.id);
      tx.delete('service', svc.id);
      // the service is gone first, so that each task that ends here is deleted with it
      for (const t of tx.byIndex('task', 'service', svc.id)) {
        if (isLive(t)) orchestrator.shutdownTask(ctx, t, 'service removed');
        else if (isTerminal(t)) orchestrator.removeTask(ctx, t);
        // else: already shutting down (draining, or on a Down node); deleted when it ends
      }
    });
    orchestrator.forget(removedId);
  }

  async listTasks(filter: ListTasksFilter = {}): Promise<Task[]> {
    return this.core.store.view((tx) => {
      const self = managerNodeId(tx);
      let tasks: TaskRecord[];
      if (filter.services && filter.services.length > 0) {
        tasks = filter.services.flatMap((ref) => tx.byIndex('task', 'service', resolveService(tx, ref).id));
      } else if (filter.nodes && filter.nodes.length > 0) {
        tasks = filter.nodes.flatMap((ref) => tx.byIndex('task', 'node', resolveNode(tx, ref, self).id));
      } else {
        tasks = tx.all('task');
      }
      if (filter.nodes && filter.nodes.length > 0 && filter.services && filter.services.length > 0) {
        const nodeIds = new Set(filter.nodes.map((ref) => resolveNode(tx, ref, self).id));
        tasks = tasks.filter((t) => nodeIds.has(t.nodeId));
      }
      const desired = filter.desiredState ?? '';
      if (desired !== '') {
        const want = desired === 'accepted' ? 'running' : desired;
        if (want !== 'running' && want !== 'shutdown')
          throw apiError('SHOAL_ERR_BAD_SPEC', `desired-state filter ${JSON.stringify(desired)} is not running, shutdown or accepted`);
        tasks = tasks.filter((t) => t.desiredState === want);
      }
      tasks = tasks.filter((t) => matchesIds(t.id, filter.ids));
      const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
      return tasks
        .sort(
          (a, b) =>
            cmp(a.serviceName, b.serviceName) ||
            a.slot - b.slot ||
            cmp(a.nodeId, b.nodeId) ||
            cmp(b.createdAt, a.createdAt) ||
            cmp(a.id, b.id),
        )
        .map(taskView);
    });
  }

  /** Reconciles services in one transaction (timers, sweeps). */
  async reconcileServices(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.core.mutate((ctx) => {
      for (const id of ids) this.core.orchestrator.reconcile(ctx, id);
    });
  }

  /** Reconciles every service, a few per transaction, yielding between them (after a restart). */
  async sweep(batch = 20): Promise<void> {
    const ids = this.core.store.view((tx) => tx.all('service').map((s) => s.id));
    for (let i = 0; i < ids.length; i += batch) {
      await this.reconcileServices(ids.slice(i, i + batch));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** Refuses a change made against another version of the service (0 = no check). */
function checkVersion(svc: ServiceRecord, version: number, what: 'update' | 'rollback'): void {
  if (version === 0 || version === svc.version) return;
  throw apiError(
    'SHOAL_ERR_VERSION_CONFLICT',
    `update out of sequence: service ${svc.spec.name} is at version ${svc.version}, the ${what} was made against version ${version}; inspect it again and retry`,
    { serviceId: svc.id, version: svc.version },
  );
}
