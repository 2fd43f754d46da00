/**
 * The manager's core: every API operation as one validated store transaction.
 *
 * Each mutation normalises its input first (spec-validation.ts), then runs one
 * `store.update`: it resolves references, checks everything that needs the store (names
 * taken, networks in use, ports held), allocates (allocator.ts) and schedules
 * (orchestrator.ts), and writes. Any error anywhere rolls the whole transaction back, the
 * allocator's memory included, so a refused request leaves the store byte-identical.
 *
 * The same class serves the agent side: joining (certificate issue), node state changes
 * from the dispatcher (ready, down) and task state reports.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../common/clock.ts';
import { ShoalError } from '../common/errors.ts';
import { newId } from '../common/ids.ts';
import type { Logger } from '../common/logger.ts';
import type {
  Container,
  ContainerSpec,
  Endpoint,
  IssueCertificateRequest,
  IssueCertificateResponse,
  JoinToken,
  ListContainersFilter,
  ListNetworksFilter,
  ListNodesFilter,
  ListServicesFilter,
  ListTasksFilter,
  Network,
  NetworkAttachment,
  NetworkEndpoints,
  NetworkSpec,
  Node,
  NodeRole,
  NodeSpec,
  Peer,
  Service,
  ServiceSpec,
  Swarm,
  Task,
  TaskStatusUpdate,
} from './api-types.ts';
import { Allocator } from './allocator.ts';
import { certificateFingerprint, issueNodeCertificate } from './ca.ts';
import type { ManagerApi } from './client.ts';
import type { ManagerConfig } from './config.ts';
import { managerError } from './errors.ts';
import { keyringInfo, keyringDue, rotateKeyring } from './keyring.ts';
import type { ClusterRecord, ContainerRecord, Kinds, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord } from './objects.ts';
import { CLUSTER_KEY } from './objects.ts';
import { isoTime, Orchestrator, TxContext } from './orchestrator.ts';
import { nodeName, resolveContainer, resolveNetwork, resolveNode, resolveService } from './refs.ts';
import { isLive, isTerminal, TERMINAL_STATES } from './scheduler.ts';
import { normalizeContainerSpec, normalizeNetworkSpec, normalizeNodeSpec, normalizeServiceSpec } from './spec-validation.ts';
import type { ReadTx, Store } from './store.ts';
import { generateJoinToken, roleForToken } from './tokens.ts';
import { networkDerived, networkView, serviceView } from './views.ts';

export interface ControlDeps {
  store: Store<Kinds>;
  clock: Clock;
  config: ManagerConfig;
  logger: Logger;
}

/** Version string reported for nodes this process describes. */
export const SHOAL_VERSION = '0.1.0';

/** Order of task states an agent may move a task through (reports never move it back). */
const STATE_RANK: Readonly<Record<string, number>> = {
  new: 0,
  pending: 1,
  assigned: 2,
  accepted: 3,
  preparing: 4,
  starting: 5,
  running: 6,
  complete: 7,
  shutdown: 7,
  failed: 7,
  rejected: 7,
  orphaned: 7,
};
const REPORTABLE = new Set(['accepted', 'preparing', 'starting', 'running', 'complete', 'failed', 'shutdown', 'rejected']);

function matchesLabels(labels: Record<string, string>, filters: readonly string[] | undefined): boolean {
  for (const f of filters ?? []) {
    const eq = f.indexOf('=');
    if (eq < 0 ? !(f in labels) : labels[f.slice(0, eq)] !== f.slice(eq + 1)) return false;
  }
  return true;
}

function matchesIds(id: string, filters: readonly string[] | undefined): boolean {
  return !filters || filters.length === 0 || filters.some((f) => id.startsWith(f));
}

function matchesNames(name: string, filters: readonly string[] | undefined): boolean {
  return !filters || filters.length === 0 || filters.some((f) => name.includes(f));
}

export class ManagerControl implements ManagerApi {
  readonly store: Store<Kinds>;
  readonly allocator: Allocator;
  readonly orchestrator: Orchestrator;
  private readonly clock: Clock;
  private readonly config: ManagerConfig;
  private readonly logger: Logger;

  constructor(
    deps: ControlDeps,
    clusterConfig: { defaultAddrPools: readonly string[]; defaultAddrPoolMaskLength: number; portRangeStart: number; portRangeEnd: number },
  ) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.config = deps.config;
    this.logger = deps.logger;
    this.allocator = new Allocator({
      addressSpace: {
        defaultAddrPools: clusterConfig.defaultAddrPools,
        defaultAddrPoolMaskLength: clusterConfig.defaultAddrPoolMaskLength,
      },
      portRangeStart: clusterConfig.portRangeStart,
      portRangeEnd: clusterConfig.portRangeEnd,
    });
    this.orchestrator = new Orchestrator({
      clock: deps.clock,
      historyRetention: deps.config.taskHistoryRetention,
      onWake: (id) => {
        this.reconcileServices([id]).catch((err: unknown) => this.logger.warn({ err, serviceId: id }, 'reconcile after timer failed'));
      },
    });
  }

  // ------------------------------------------------------------------ plumbing

  /** Wall-clock now, from the injected clock. */
  nowMs(): number {
    return this.clock.wallNow();
  }

  /** One transaction with allocation and scheduling available. */
  mutate<T>(fn: (ctx: TxContext) => T): Promise<T> {
    return this.store.update((tx) => this.allocator.within(tx, (alloc) => fn(new TxContext(tx, alloc, this.nowMs()))));
  }

  private cluster(tx: ReadTx<Kinds>): ClusterRecord {
    const c = tx.get('cluster', CLUSTER_KEY);
    if (!c) throw new ShoalError('SHOAL_ERR_INTERNAL', 'the cluster is not initialised');
    return c;
  }

  /** Reconciles services in one transaction (timers, sweeps). */
  async reconcileServices(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.mutate((ctx) => {
      for (const id of ids) this.orchestrator.reconcile(ctx, id);
    });
  }

  /** Reconciles every service, a few per transaction, yielding between them (after a restart). */
  async sweep(batch = 20): Promise<void> {
    const ids = this.store.view((tx) => tx.all('service').map((s) => s.id));
    for (let i = 0; i < ids.length; i += batch) {
      await this.reconcileServices(ids.slice(i, i + batch));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  close(): void {
    this.orchestrator.close();
  }

  // ------------------------------------------------------------------ networks

  async createNetwork(input: NetworkSpec): Promise<Network> {
    const spec = normalizeNetworkSpec(input);
    if (spec.ingress) throw managerError('SHOAL_ERR_NETWORK_EXISTS', 'an ingress network already exists; only one is allowed');
    return this.mutate((ctx) => {
      const { tx } = ctx;
      if (tx.byIndex('network', 'name', spec.name).length > 0) {
        throw managerError('SHOAL_ERR_NETWORK_EXISTS', `network with name ${spec.name} already exists`, { name: spec.name });
      }
      const rec = this.insertNetwork(ctx, spec, false);
      return networkView(tx, rec);
    });
  }

  /** Allocates and writes a network (also used for ingress at cluster init). */
  insertNetwork(ctx: TxContext, spec: NetworkSpec, ingress: boolean): NetworkRecord {
    const id = newId();
    const { vxlanId, ipam } = ctx.alloc.createNetwork(id, spec, ingress);
    const rec: NetworkRecord = {
      id,
      version: 0,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      spec,
      vxlanId,
      ipam,
      scope: 'swarm',
      ingress,
    };
    ctx.tx.put('network', rec);
    return rec;
  }

  async listNetworks(filter: ListNetworksFilter = {}): Promise<Network[]> {
    return this.store.view((tx) => {
      const list = tx
        .all('network')
        .filter(
          (n) =>
            matchesIds(n.id, filter.ids) &&
            matchesNames(n.spec.name, filter.names) &&
            matchesLabels(n.spec.labels, filter.labels) &&
            (!filter.driver || n.spec.driver === filter.driver),
        )
        .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : a.id < b.id ? -1 : 1));
      const derived = list.length > 32 ? networkDerived(tx) : undefined;
      return list.map((n) => networkView(tx, n, derived));
    });
  }

  async inspectNetwork(ref: string): Promise<Network> {
    return this.store.view((tx) => networkView(tx, resolveNetwork(tx, ref)));
  }

  private checkRemovable(tx: ReadTx<Kinds>, net: NetworkRecord): void {
    if (net.ingress) {
      throw managerError(
        'SHOAL_ERR_INGRESS_PROTECTED',
        `network ${net.spec.name} is the ingress network (the routing mesh) and cannot be removed`,
        { networkId: net.id },
      );
    }
    const services = tx.byIndex('service', 'network', net.id);
    if (services.length > 0) {
      throw managerError(
        'SHOAL_ERR_NETWORK_IN_USE',
        `network ${net.spec.name} is in use by service ${services.map((s) => s.spec.name).join(', ')}`,
        {
          networkId: net.id,
          services: services.map((s) => s.id),
        },
      );
    }
    const endpoints = tx.countByIndex('endpoint', 'network', net.id);
    if (endpoints > 0) {
      const containers = tx
        .byIndex('endpoint', 'network', net.id)
        .filter((e) => e.kind === 'container')
        .map((e) => e.name);
      throw managerError(
        'SHOAL_ERR_NETWORK_IN_USE',
        containers.length > 0
          ? `network ${net.spec.name} has active endpoints (containers ${containers.join(', ')})`
          : `network ${net.spec.name} has ${endpoints} active endpoints`,
        { networkId: net.id, endpoints },
      );
    }
  }

  private deleteNetwork(ctx: TxContext, net: NetworkRecord): void {
    ctx.alloc.removeNetwork(net.id, net.vxlanId);
    ctx.tx.delete('network', net.id);
  }

  async removeNetwork(ref: string): Promise<void> {
    await this.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, ref);
      this.checkRemovable(ctx.tx, net);
      this.deleteNetwork(ctx, net);
    });
  }

  async pruneNetworks(): Promise<string[]> {
    return this.mutate((ctx) => {
      const removed: string[] = [];
      for (const net of ctx.tx.all('network')) {
        if (net.ingress) continue;
        if (ctx.tx.countByIndex('service', 'network', net.id) > 0 || ctx.tx.countByIndex('endpoint', 'network', net.id) > 0) continue;
        this.deleteNetwork(ctx, net);
        removed.push(net.spec.name);
      }
      return removed.sort();
    });
  }

  private attachable(net: NetworkRecord): void {
    if (net.ingress)
      throw managerError('SHOAL_ERR_NOT_ATTACHABLE', `network ${net.spec.name} is the ingress network; containers cannot attach to it`, {
        networkId: net.id,
      });
    if (!net.spec.attachable) {
      throw managerError('SHOAL_ERR_NOT_ATTACHABLE', `network ${net.spec.name} is not manually attachable (create it with --attachable)`, {
        networkId: net.id,
      });
    }
  }

  private attachContainer(ctx: TxContext, c: ContainerRecord, net: NetworkRecord, aliases: string[]): NetworkAttachment {
    const a = ctx.alloc.allocateEndpoint(net.id);
    const endpointId = newId();
    ctx.tx.put('endpoint', {
      id: endpointId,
      version: 0,
      networkId: net.id,
      kind: 'container',
      ownerId: c.id,
      serviceId: '',
      serviceName: '',
      nodeId: c.nodeId,
      name: c.spec.name,
      aliases,
      addr: a.addr,
      mac: a.mac,
      addrV6: a.addrV6,
    });
    return {
      networkId: net.id,
      networkName: net.spec.name,
      addresses: [a.addr, a.addrV6].filter((x) => x !== ''),
      mac: a.mac,
      aliases,
      endpointId,
    };
  }

  async connectNetwork(networkRef: string, containerRef: string, aliases: string[] = []): Promise<Container> {
    const checked = normalizeContainerSpec({ networks: [{ target: networkRef || '-', aliases }] }).networks[0]!.aliases;
    return this.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, networkRef);
      const c = resolveContainer(ctx.tx, containerRef);
      this.attachable(net);
      if (c.networks.some((n) => n.networkId === net.id)) {
        throw managerError('SHOAL_ERR_ALREADY_CONNECTED', `container ${c.spec.name} is already connected to network ${net.spec.name}`, {
          containerId: c.id,
          networkId: net.id,
        });
      }
      c.networks.push(this.attachContainer(ctx, c, net, checked));
      c.spec.networks.push({ target: net.id, aliases: checked });
      c.updatedAt = ctx.now;
      return ctx.tx.put('container', c);
    });
  }

  async disconnectNetwork(networkRef: string, containerRef: string, _force = false): Promise<void> {
    await this.mutate((ctx) => {
      const net = resolveNetwork(ctx.tx, networkRef);
      const c = resolveContainer(ctx.tx, containerRef);
      const att = c.networks.find((n) => n.networkId === net.id);
      if (!att)
        throw managerError('SHOAL_ERR_NOT_CONNECTED', `container ${c.spec.name} is not connected to network ${net.spec.name}`, {
          containerId: c.id,
          networkId: net.id,
        });
      const ep = ctx.tx.get('endpoint', att.endpointId);
      if (ep) {
        ctx.alloc.release(ep.networkId, ep.addr, ep.addrV6);
        ctx.tx.delete('endpoint', ep.id);
      }
      c.networks = c.networks.filter((n) => n.networkId !== net.id);
      c.spec.networks = c.spec.networks.filter((n) => n.target !== net.id);
      c.updatedAt = ctx.now;
      ctx.tx.put('container', c);
    });
  }

  async networkEndpoints(ref: string): Promise<NetworkEndpoints> {
    return this.store.view((tx) => {
      const net = resolveNetwork(tx, ref);
      const endpoints: Endpoint[] = tx.byIndex('endpoint', 'network', net.id);
      const nodeIds = [...new Set(endpoints.map((e) => e.nodeId).filter((id) => id !== ''))].sort();
      const peers: Peer[] = [];
      for (const id of nodeIds) {
        const n = tx.get('node', id);
        if (n) peers.push({ nodeId: n.id, addr: n.status.addr, hostname: n.description.hostname, role: n.spec.role });
      }
      return { version: tx.revision, network: networkView(tx, net), endpoints, peers };
    });
  }

  // ------------------------------------------------------------------ services

  /** Resolves the spec's network references to IDs and checks them. */
  private resolveServiceNetworks(tx: ReadTx<Kinds>, spec: ServiceSpec): void {
    const seen = new Set<string>();
    for (const att of spec.networks) {
      const net = resolveNetwork(tx, att.target);
      if (net.ingress) {
        throw managerError(
          'SHOAL_ERR_BAD_SPEC',
          `service cannot be explicitly attached to the ingress network ${net.spec.name}; publish a port instead`,
          { networkId: net.id },
        );
      }
      if (seen.has(net.id)) throw managerError('SHOAL_ERR_BAD_SPEC', `network ${net.spec.name} is given twice`, { networkId: net.id });
      seen.add(net.id);
      att.target = net.id;
    }
  }

  /** Allocates VIPs for the service on every network it needs one on, keeping existing ones. */
  private allocateVips(ctx: TxContext, svc: ServiceRecord, previous: ServiceRecord | undefined): void {
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
        });
      }
      vips.push({ networkId: w.networkId, addr: ep.addr !== '' ? ep.addr : ep.addrV6 });
    }
    svc.endpoint.virtualIps = vips;
  }

  async createService(input: ServiceSpec): Promise<Service> {
    const spec = normalizeServiceSpec(input);
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const taken = tx.byIndex('service', 'name', spec.name)[0];
      if (taken)
        throw managerError('SHOAL_ERR_SERVICE_EXISTS', `service ${spec.name} already exists (${taken.id})`, {
          name: spec.name,
          serviceId: taken.id,
        });
      this.resolveServiceNetworks(tx, spec);
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
      this.allocateVips(ctx, svc, undefined);
      tx.put('service', svc);
      svc.specVersion = svc.version;
      tx.put('service', svc);
      this.orchestrator.reconcile(ctx, id);
      return serviceView(tx, tx.get('service', id)!);
    });
  }

  async listServices(filter: ListServicesFilter = {}): Promise<Service[]> {
    return this.store.view((tx) =>
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
    return this.store.view((tx) => serviceView(tx, resolveService(tx, ref)));
  }

  async updateService(ref: string, input: ServiceSpec, version = 0): Promise<Service> {
    const spec = normalizeServiceSpec(input);
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      if (version !== 0 && version !== svc.version) {
        throw managerError(
          'SHOAL_ERR_VERSION_CONFLICT',
          `update out of sequence: service ${svc.spec.name} is at version ${svc.version}, the update was made against version ${version}; inspect it again and retry`,
          {
            serviceId: svc.id,
            version: svc.version,
          },
        );
      }
      if (spec.name !== svc.spec.name)
        throw managerError('SHOAL_ERR_BAD_SPEC', `renaming services is not supported (${svc.spec.name} -> ${spec.name})`);
      if ((spec.mode.global !== undefined) !== (svc.spec.mode.global !== undefined)) {
        throw managerError(
          'SHOAL_ERR_BAD_SPEC',
          `service mode change is not allowed (${svc.spec.mode.global ? 'global' : 'replicated'} -> ${spec.mode.global ? 'global' : 'replicated'})`,
        );
      }
      this.resolveServiceNetworks(tx, spec);
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
      this.allocateVips(ctx, svc, previous);
      const hostPorts = (s: ServiceRecord): string => JSON.stringify(s.endpoint.ports.filter((p) => p.publishMode === 'host'));
      const ingressOf = (s: ServiceRecord): boolean => s.endpoint.ports.some((p) => p.publishMode === 'ingress');
      const tasksChange =
        JSON.stringify(previous.spec.taskTemplate) !== JSON.stringify(spec.taskTemplate) ||
        JSON.stringify(previous.spec.networks) !== JSON.stringify(spec.networks) ||
        hostPorts(previous) !== hostPorts(svc) ||
        ingressOf(previous) !== ingressOf(svc);
      tx.put('service', svc);
      if (tasksChange) {
        svc.specVersion = svc.version;
        svc.updateStatus = { state: 'updating', startedAt: ctx.now, completedAt: '', message: 'update in progress' };
        tx.put('service', svc);
        this.orchestrator.startUpdate(svc.id);
      }
      this.orchestrator.reconcile(ctx, svc.id);
      return serviceView(tx, tx.get('service', svc.id)!);
    });
  }

  async scaleService(ref: string, replicas: number): Promise<Service> {
    if (!Number.isInteger(replicas) || replicas < 0)
      throw managerError('SHOAL_ERR_BAD_SPEC', `replicas must be a whole number >= 0 (got ${replicas})`);
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      if (!svc.spec.mode.replicated)
        throw managerError('SHOAL_ERR_BAD_SPEC', `scale can only be used with replicated mode (service ${svc.spec.name} is global)`);
      const normalized = normalizeServiceSpec({ ...svc.spec, mode: { replicated: { replicas } } });
      svc.spec.mode = normalized.mode;
      svc.updatedAt = ctx.now;
      tx.put('service', svc);
      this.orchestrator.reconcile(ctx, svc.id);
      return serviceView(tx, tx.get('service', svc.id)!);
    });
  }

  async removeService(ref: string): Promise<void> {
    let removedId = '';
    await this.mutate((ctx) => {
      const { tx } = ctx;
      const svc = resolveService(tx, ref);
      removedId = svc.id;
      for (const t of tx.byIndex('task', 'service', svc.id)) this.orchestrator.removeTask(ctx, t);
      this.orchestrator.releaseEndpoints(ctx, svc.id);
      ctx.alloc.releasePorts(svc.id);
      tx.delete('service', svc.id);
    });
    this.orchestrator.forget(removedId);
  }

  async listTasks(filter: ListTasksFilter = {}): Promise<Task[]> {
    return this.store.view((tx) => {
      let tasks: TaskRecord[];
      if (filter.services && filter.services.length > 0) {
        tasks = filter.services.flatMap((ref) => tx.byIndex('task', 'service', resolveService(tx, ref).id));
      } else if (filter.nodes && filter.nodes.length > 0) {
        tasks = filter.nodes.flatMap((ref) => tx.byIndex('task', 'node', resolveNode(tx, ref, this.managerNodeId(tx)).id));
      } else {
        tasks = tx.all('task');
      }
      if (filter.nodes && filter.nodes.length > 0 && filter.services && filter.services.length > 0) {
        const nodeIds = new Set(filter.nodes.map((ref) => resolveNode(tx, ref, this.managerNodeId(tx)).id));
        tasks = tasks.filter((t) => nodeIds.has(t.nodeId));
      }
      const desired = filter.desiredState ?? '';
      if (desired !== '') {
        const want = desired === 'accepted' ? 'running' : desired;
        if (want !== 'running' && want !== 'shutdown')
          throw managerError('SHOAL_ERR_BAD_SPEC', `desired-state filter ${JSON.stringify(desired)} is not running, shutdown or accepted`);
        tasks = tasks.filter((t) => t.desiredState === want);
      }
      tasks = tasks.filter((t) => matchesIds(t.id, filter.ids));
      const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
      return tasks.sort(
        (a, b) =>
          cmp(a.serviceName, b.serviceName) ||
          a.slot - b.slot ||
          cmp(a.nodeId, b.nodeId) ||
          cmp(b.createdAt, a.createdAt) ||
          cmp(a.id, b.id),
      );
    });
  }

  // ------------------------------------------------------------------ containers

  async runContainer(input: ContainerSpec): Promise<Container> {
    const spec = normalizeContainerSpec(input);
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const id = newId();
      if (spec.name === '') spec.name = `shoal-${id.slice(0, 12)}`;
      const taken = tx.byIndex('container', 'name', spec.name)[0];
      if (taken)
        throw managerError('SHOAL_ERR_CONTAINER_EXISTS', `the container name ${spec.name} is already in use by container ${taken.id}`, {
          name: spec.name,
        });
      const node = spec.node === '' ? tx.get('node', this.cluster(tx).managerNodeId) : resolveNode(tx, spec.node, this.managerNodeId(tx));
      if (!node) throw managerError('SHOAL_ERR_NODE_NOT_FOUND', 'the manager node is missing');
      const nets: { net: NetworkRecord; aliases: string[] }[] = [];
      for (const att of spec.networks) {
        const net = resolveNetwork(tx, att.target);
        this.attachable(net);
        if (nets.some((n) => n.net.id === net.id)) throw managerError('SHOAL_ERR_BAD_SPEC', `network ${net.spec.name} is given twice`);
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
      for (const { net, aliases } of nets) c.networks.push(this.attachContainer(ctx, c, net, aliases));
      return tx.put('container', c);
    });
  }

  async listContainers(filter: ListContainersFilter = {}): Promise<Container[]> {
    return this.store.view((tx) => {
      const netIds =
        filter.networks && filter.networks.length > 0 ? new Set(filter.networks.map((r) => resolveNetwork(tx, r).id)) : undefined;
      const nodeIds =
        filter.nodes && filter.nodes.length > 0
          ? new Set(filter.nodes.map((r) => resolveNode(tx, r, this.managerNodeId(tx)).id))
          : undefined;
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
    return this.store.view((tx) => resolveContainer(tx, ref));
  }

  async removeContainer(ref: string, force = false): Promise<void> {
    await this.mutate((ctx) => {
      const c = resolveContainer(ctx.tx, ref);
      if (c.state === 'running' && !force) {
        throw managerError('SHOAL_ERR_CONTAINER_RUNNING', `container ${c.spec.name} is running: stop it first or remove it with --force`, {
          containerId: c.id,
        });
      }
      this.orchestrator.releaseEndpoints(ctx, c.id);
      ctx.tx.delete('container', c.id);
    });
  }

  // ------------------------------------------------------------------ nodes

  private managerNodeId(tx: ReadTx<Kinds>): string {
    return tx.get('cluster', CLUSTER_KEY)?.managerNodeId ?? '';
  }

  async listNodes(filter: ListNodesFilter = {}): Promise<Node[]> {
    return this.store.view((tx) =>
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
    return this.store.view((tx) => resolveNode(tx, ref, this.managerNodeId(tx)));
  }

  async updateNode(ref: string, input: NodeSpec, version = 0): Promise<Node> {
    const spec = normalizeNodeSpec(input);
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const node = resolveNode(tx, ref, this.managerNodeId(tx));
      if (version !== 0 && version !== node.version) {
        throw managerError(
          'SHOAL_ERR_VERSION_CONFLICT',
          `update out of sequence: node ${nodeName(node)} is at version ${node.version}, the update was made against version ${version}`,
          { nodeId: node.id },
        );
      }
      if (node.spec.role === 'manager' && spec.role === 'worker') {
        if (node.id === this.cluster(tx).managerNodeId) {
          throw managerError('SHOAL_ERR_LAST_MANAGER', `node ${nodeName(node)} runs the manager of this swarm and cannot be demoted`, {
            nodeId: node.id,
          });
        }
        const managers = tx.all('node').filter((n) => n.spec.role === 'manager');
        if (managers.length <= 1)
          throw managerError('SHOAL_ERR_LAST_MANAGER', `cannot demote the last manager of the swarm (${nodeName(node)})`, {
            nodeId: node.id,
          });
      }
      node.spec = spec;
      node.updatedAt = ctx.now;
      if (spec.role === 'manager' && !node.managerStatus) node.managerStatus = { leader: false, reachability: 'unreachable', addr: '' };
      if (spec.role === 'worker') delete node.managerStatus;
      tx.put('node', node);
      ctx.invalidateNodes();
      for (const id of this.orchestrator.servicesForNode(ctx, node.id)) this.orchestrator.reconcile(ctx, id);
      return tx.get('node', node.id)!;
    });
  }

  async removeNode(ref: string, force = false): Promise<void> {
    await this.mutate((ctx) => {
      const { tx } = ctx;
      const node = resolveNode(tx, ref, this.managerNodeId(tx));
      if (node.id === this.cluster(tx).managerNodeId) {
        throw managerError('SHOAL_ERR_NODE_IS_MANAGER', `node ${nodeName(node)} runs the manager of this swarm and cannot be removed`, {
          nodeId: node.id,
        });
      }
      if (node.spec.role === 'manager' && !force) {
        throw managerError(
          'SHOAL_ERR_NODE_IS_MANAGER',
          `node ${nodeName(node)} is a manager; demote it before removing it (or use --force)`,
          { nodeId: node.id },
        );
      }
      if (node.status.state !== 'down' && node.status.state !== 'unknown' && !force) {
        throw managerError('SHOAL_ERR_NODE_UP', `node ${nodeName(node)} is not down and can't be removed (use --force)`, {
          nodeId: node.id,
          state: node.status.state,
        });
      }
      const affected = this.orchestrator.servicesForNode(ctx, node.id);
      for (const c of tx.byIndex('container', 'node', node.id)) {
        this.orchestrator.releaseEndpoints(ctx, c.id);
        tx.delete('container', c.id);
      }
      this.orchestrator.releaseEndpoints(ctx, node.id);
      tx.delete('node', node.id);
      ctx.invalidateNodes();
      for (const t of tx.byIndex('task', 'node', node.id)) {
        if (isLive(t)) this.orchestrator.shutdownTask(ctx, t, 'node removed');
        else if (!isTerminal(t)) {
          t.status = { ...t.status, state: 'orphaned', message: 'node removed', timestamp: ctx.now };
          this.orchestrator.releaseEndpoints(ctx, t.id);
          tx.put('task', t);
        }
      }
      for (const id of affected) this.orchestrator.reconcile(ctx, id);
    });
  }

  // ------------------------------------------------------------------ swarm

  private swarmView(c: ClusterRecord): Swarm {
    return {
      id: c.clusterId,
      version: c.version,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      joinTokens: { ...c.joinTokens },
      rootCaCert: c.ca.certPem,
      caDigest: c.ca.digest,
      defaultAddrPool: [...c.defaultAddrPools],
      subnetSize: c.defaultAddrPoolMaskLength,
      dataPathPort: 4789,
      heartbeatPeriodMs: this.config.heartbeatPeriodMs,
      gossipKeys: keyringInfo(c.keyring),
      managerAddr: c.managerAddr,
    };
  }

  async inspectSwarm(): Promise<Swarm> {
    return this.store.view((tx) => this.swarmView(this.cluster(tx)));
  }

  async joinToken(role: NodeRole, rotate = false): Promise<JoinToken> {
    if (role !== 'worker' && role !== 'manager')
      throw managerError('SHOAL_ERR_BAD_SPEC', `join token role ${JSON.stringify(role)} is not worker or manager`);
    if (!rotate) {
      return this.store.view((tx) => {
        const c = this.cluster(tx);
        return { role, token: c.joinTokens[role], managerAddr: c.managerAddr };
      });
    }
    return this.store.update((tx) => {
      const c = this.cluster(tx);
      c.joinTokens = { ...c.joinTokens, [role]: generateJoinToken(c.ca.digest) };
      c.updatedAt = isoTime(this.nowMs());
      tx.put('cluster', c);
      return { role, token: c.joinTokens[role], managerAddr: c.managerAddr };
    });
  }

  async rotateGossipKey(): Promise<Swarm> {
    return this.store.update((tx) => {
      const c = this.cluster(tx);
      const now = isoTime(this.nowMs());
      c.keyring = rotateKeyring(c.keyring, now, this.config.gossipKeyringSize);
      c.updatedAt = now;
      return this.swarmView(tx.put('cluster', c));
    });
  }

  /** Rotates the gossip keyring if its primary key is older than the configured age. */
  async rotateGossipKeyIfDue(): Promise<boolean> {
    const due = this.store.view((tx) => keyringDue(this.cluster(tx).keyring, this.nowMs(), this.config.gossipKeyRotationMs));
    if (due) await this.rotateGossipKey();
    return due;
  }

  async dump(): Promise<string> {
    return this.store.dump(redactSecrets);
  }

  // ------------------------------------------------------------------ agent side

  /** Admits a node presenting a join token: creates its node record and signs its certificate. */
  async issueNodeCertificate(req: IssueCertificateRequest): Promise<IssueCertificateResponse> {
    const advertise = typeof req.advertiseAddr === 'string' ? req.advertiseAddr : '';
    return this.mutate((ctx) => {
      const { tx } = ctx;
      const c = this.cluster(tx);
      const role = roleForToken(req.token, c.joinTokens);
      const id = newId();
      const certPem = issueNodeCertificate(c.ca, {
        nodeId: id,
        role,
        clusterId: c.clusterId,
        publicKeyPem: req.publicKeyPem,
        nowMs: this.nowMs(),
        validityMs: this.config.nodeCertValidityMs,
        ips: advertise !== '' ? [advertise] : [],
      });
      const node: NodeRecord = {
        id,
        version: 0,
        createdAt: ctx.now,
        updatedAt: ctx.now,
        spec: { name: '', labels: {}, role, availability: 'active' },
        description: { hostname: req.hostname || id.slice(0, 12), platformOs: '', platformArch: '', version: '' },
        status: { state: 'unknown', message: 'joined; waiting for its session', addr: advertise },
        certFingerprint: certificateFingerprint(certPem),
      };
      if (role === 'manager') node.managerStatus = { leader: false, reachability: 'unreachable', addr: '' };
      this.addNode(ctx, node);
      return { nodeId: id, certPem, caPem: c.ca.certPem, role, clusterId: c.clusterId };
    });
  }

  /** Writes a new node with its ingress sandbox endpoint. */
  addNode(ctx: TxContext, node: NodeRecord): void {
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
    });
    ctx.invalidateNodes();
  }

  /** The node record for an authenticated caller, or UNAUTHENTICATED when it was removed. */
  requireNode(nodeId: string): NodeRecord {
    const node = this.store.view((tx) => tx.get('node', nodeId));
    if (!node)
      throw managerError(
        'SHOAL_ERR_UNAUTHENTICATED',
        `node ${nodeId} is not a member of this cluster (it was removed); join again with a token`,
        { nodeId },
      );
    return node;
  }

  /** A node's session started or its heartbeats resumed: mark it ready and schedule onto it. */
  async nodeReady(
    nodeId: string,
    info: { hostname: string; platformOs: string; platformArch: string; version: string; addr: string },
  ): Promise<void> {
    await this.mutate((ctx) => {
      const node = ctx.tx.get('node', nodeId);
      if (!node) return;
      const changed =
        node.status.state !== 'ready' ||
        (info.addr !== '' && node.status.addr !== info.addr) ||
        (info.hostname !== '' && node.description.hostname !== info.hostname) ||
        node.description.version !== info.version;
      if (!changed) return;
      node.status = { state: 'ready', message: '', addr: info.addr !== '' ? info.addr : node.status.addr };
      node.description = {
        hostname: info.hostname || node.description.hostname,
        platformOs: info.platformOs || node.description.platformOs,
        platformArch: info.platformArch || node.description.platformArch,
        version: info.version || node.description.version,
      };
      if (node.managerStatus)
        node.managerStatus = {
          ...node.managerStatus,
          reachability: node.id === ctx.cluster().managerNodeId ? 'reachable' : node.managerStatus.reachability,
        };
      node.updatedAt = ctx.now;
      ctx.tx.put('node', node);
      ctx.invalidateNodes();
      for (const id of this.orchestrator.servicesForNode(ctx, nodeId)) this.orchestrator.reconcile(ctx, id);
    });
  }

  /** Heartbeats stopped: mark the node down and move its tasks. */
  async nodeDown(nodeId: string, message: string): Promise<void> {
    await this.mutate((ctx) => {
      const node = ctx.tx.get('node', nodeId);
      if (!node || node.status.state === 'down') return;
      node.status = { ...node.status, state: 'down', message };
      node.updatedAt = ctx.now;
      ctx.tx.put('node', node);
      ctx.invalidateNodes();
      for (const id of this.orchestrator.servicesForNode(ctx, nodeId)) this.orchestrator.reconcile(ctx, id);
    });
  }

  /** Task states reported by a node's agent (one transaction per report). */
  async reportTaskStates(nodeId: string, updates: readonly TaskStatusUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await this.mutate((ctx) => {
      const services = new Set<string>();
      for (const u of updates) {
        const t = ctx.tx.get('task', u.taskId);
        if (!t || t.nodeId !== nodeId || !u.status) continue;
        const state = u.status.state;
        if (!REPORTABLE.has(state)) continue;
        if (isTerminal(t)) continue;
        if ((STATE_RANK[state] ?? 0) < (STATE_RANK[t.status.state] ?? 0)) continue;
        const same = t.status.state === state && t.status.health === (u.status.health ?? '') && t.status.err === (u.status.err ?? '');
        if (same) continue;
        t.status = {
          state,
          message: u.status.message ?? '',
          err: u.status.err ?? '',
          timestamp: ctx.now,
          exitCode: u.status.exitCode ?? 0,
          health: u.status.health ?? '',
        };
        t.updatedAt = ctx.now;
        if (TERMINAL_STATES.has(state)) {
          t.desiredState = 'shutdown';
          this.orchestrator.releaseEndpoints(ctx, t.id);
          services.add(t.serviceId);
        }
        ctx.tx.put('task', t);
      }
      for (const id of services) this.orchestrator.reconcile(ctx, id);
    });
  }

  /** Container states reported by a node's agent. */
  async reportContainerStates(nodeId: string, updates: readonly { containerId: string; state: string }[]): Promise<void> {
    if (updates.length === 0) return;
    await this.store.update((tx) => {
      for (const u of updates) {
        const c = tx.get('container', u.containerId);
        if (!c || c.nodeId !== nodeId || c.state === u.state || !['created', 'running', 'exited'].includes(u.state)) continue;
        c.state = u.state;
        c.updatedAt = isoTime(this.nowMs());
        tx.put('container', c);
      }
    });
  }

  /** Describes this process's own node (for the manager node record). */
  static localDescription(): { hostname: string; platformOs: string; platformArch: string; version: string } {
    return { hostname: os.hostname(), platformOs: os.platform(), platformArch: os.arch(), version: SHOAL_VERSION };
  }
}

/** Replaces secrets with their SHA-256 in dumps (they are still compared, never shown). */
export function redactSecrets(kind: string, obj: Record<string, unknown>): Record<string, unknown> {
  if (kind !== 'cluster') return obj;
  const c = obj as unknown as ClusterRecord;
  const hash = (s: string): string => `sha256:${createHashHex(s)}`;
  return {
    ...obj,
    ca: { ...c.ca, keyPem: hash(c.ca.keyPem) },
    joinTokens: { worker: hash(c.joinTokens.worker), manager: hash(c.joinTokens.manager) },
    keyring: { ...c.keyring, keys: c.keyring.keys.map((k) => ({ ...k, key: hash(k.key) })) },
  };
}

function createHashHex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
