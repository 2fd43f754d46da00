/**
 * The manager's core: every API operation as one validated store transaction.
 *
 * Each mutation normalises its input first (spec-validation.ts), then runs one
 * `store.update`: it resolves references, checks everything that needs the store (names
 * taken, networks in use, ports held), allocates (allocator.ts) and schedules
 * (orchestrator.ts), and writes. Any error anywhere rolls the whole transaction back, the
 * allocator's memory included, so a refused request leaves the store byte-identical.
 *
 * The operations live by resource in control/ (networks, services and tasks, containers,
 * nodes, agents, drains, joins, swarm), sharing one ControlCore (store, allocator, orchestrator,
 * drain and join waits, clock, configuration). This class composes them into the one object the API server, the
 * dispatcher and tests call: the ManagerApi of src/api plus the agent-facing operations.
 */
import type {
  Container,
  ContainerSpec,
  DoctorRequest,
  ExecRequest,
  ExecResult,
  IssueCertificateRequest,
  IssueCertificateResponse,
  JoinToken,
  ListContainersFilter,
  ListNetworksFilter,
  ListNodesFilter,
  ListServicesFilter,
  ListTasksFilter,
  LogChunk,
  LogsRequest,
  Network,
  NetworkEndpoints,
  NetworkSpec,
  Node,
  NodeDoctor,
  NodeRole,
  NodeSpec,
  Service,
  ServiceSpec,
  UpdateServiceOptions,
  Swarm,
  CaStatus,
  RenewCertificateResponse,
  RotateCaRequest,
  UpdateSwarmRequest,
  Task,
  TaskStatusUpdate,
  VersionInfo,
} from '../api/api-types.ts';
import type { ManagerApi } from '../api/client.ts';
import { localVersionInfo } from '../common/version.ts';
import { Allocator } from './allocator.ts';
import type { NodeSessionInfo } from './control/agents.ts';
import type { ManagerCertificate } from './control/certificates.ts';
import { AgentControl } from './control/agents.ts';
import { ContainerControl } from './control/containers.ts';
import { DrainControl } from './control/drains.ts';
import { JoinControl } from './control/joins.ts';
import type { ControlDeps } from './control/core.ts';
import { ControlCore } from './control/core.ts';
import { NetworkControl } from './control/networks.ts';
import { NodeControl } from './control/nodes.ts';
import type { AgentRelay } from './control/runtime.ts';
import { RuntimeControl } from './control/runtime.ts';
import { ServiceControl } from './control/services.ts';
import { SwarmControl } from './control/swarm.ts';
import { DrainTracker } from './drain-tracker.ts';
import type { DrainWatchers } from './drain-tracker.ts';
import { JoinTracker } from './join-tracker.ts';
import type { Kinds, NodeRecord } from './objects.ts';
import { Orchestrator } from './orchestrator.ts';
import type { TxContext } from './orchestrator.ts';
import type { Store } from './store.ts';

/** The cluster-shaping settings the allocator starts from (stored with the cluster at init). */
export interface ClusterAllocationConfig {
  defaultAddrPools: readonly string[];
  defaultAddrPoolMaskLength: number;
  portRangeStart: number;
  portRangeEnd: number;
}

export class ManagerControl implements ManagerApi {
  readonly store: Store<Kinds>;
  readonly allocator: Allocator;
  readonly orchestrator: Orchestrator;
  readonly networks: NetworkControl;
  readonly services: ServiceControl;
  readonly containers: ContainerControl;
  readonly nodes: NodeControl;
  readonly agents: AgentControl;
  readonly swarm: SwarmControl;
  readonly runtime: RuntimeControl;
  readonly drains: DrainControl;
  /** The drain waits in memory (diagnostics, tests). */
  readonly drainTracker: DrainTracker;
  readonly joins: JoinControl;
  /** The join acknowledgements and waits in memory (diagnostics, tests). */
  readonly joinTracker: JoinTracker;
  private readonly core: ControlCore;
  private readonly unwatchDrains: () => void;
  private readonly unwatchJoins: () => void;

  constructor(deps: ControlDeps, clusterConfig: ClusterAllocationConfig) {
    this.store = deps.store;
    this.allocator = new Allocator({
      addressSpace: {
        defaultAddrPools: clusterConfig.defaultAddrPools,
        defaultAddrPoolMaskLength: clusterConfig.defaultAddrPoolMaskLength,
      },
      portRangeStart: clusterConfig.portRangeStart,
      portRangeEnd: clusterConfig.portRangeEnd,
    });
    this.drainTracker = new DrainTracker({
      clock: deps.clock,
      onTimeout: (outcome) => {
        this.drains
          .markDrained([outcome])
          .catch((err: unknown) => deps.logger.warn({ err, taskId: outcome.taskId }, 'marking a task drained failed'));
      },
    });
    this.unwatchDrains = deps.store.watch((batch) => this.drainTracker.onCommit(batch));
    this.joinTracker = new JoinTracker({
      clock: deps.clock,
      onWake: (outcome) => {
        this.joins
          .wake([outcome])
          .catch((err: unknown) => deps.logger.warn({ err, serviceId: outcome.serviceId }, 'reconcile after a join wait failed'));
      },
    });
    this.unwatchJoins = deps.store.watch((batch) => this.joinTracker.onCommit(batch));
    this.orchestrator = new Orchestrator({
      clock: deps.clock,
      historyRetention: deps.config.taskHistoryRetention,
      onWake: (id) => {
        this.services
          .reconcileServices([id])
          .catch((err: unknown) => deps.logger.warn({ err, serviceId: id }, 'reconcile after timer failed'));
      },
      drains: this.drainTracker,
      joins: this.joinTracker,
      rollBackLater: (id, why) => {
        this.services.autoRollback(id, why).catch((err: unknown) => deps.logger.warn({ err, serviceId: id }, 'automatic rollback failed'));
      },
    });
    this.core = new ControlCore(deps, this.allocator, this.orchestrator, this.drainTracker, this.joinTracker);
    this.networks = new NetworkControl(this.core);
    this.services = new ServiceControl(this.core);
    this.containers = new ContainerControl(this.core);
    this.nodes = new NodeControl(this.core);
    this.agents = new AgentControl(this.core);
    this.swarm = new SwarmControl(this.core);
    this.runtime = new RuntimeControl(this.core);
    this.drains = new DrainControl(this.core);
    this.joins = new JoinControl(this.core);
  }

  // ------------------------------------------------------------------ plumbing

  /** Wall-clock now, from the injected clock. */
  nowMs(): number {
    return this.core.nowMs();
  }

  /** One transaction with allocation and scheduling available. */
  mutate<T>(fn: (ctx: TxContext) => T): Promise<T> {
    return this.core.mutate(fn);
  }

  /** Reconciles services in one transaction (timers, sweeps). */
  reconcileServices(ids: readonly string[]): Promise<void> {
    return this.services.reconcileServices(ids);
  }

  /** Reconciles every service, a few per transaction, yielding between them (after a restart). */
  sweep(batch?: number): Promise<void> {
    return this.services.sweep(batch);
  }

  close(): void {
    this.orchestrator.close();
    this.unwatchDrains();
    this.drainTracker.close();
    this.unwatchJoins();
    this.joinTracker.close();
  }

  // ------------------------------------------------------------------ networks

  createNetwork(spec: NetworkSpec): Promise<Network> {
    return this.networks.createNetwork(spec);
  }
  listNetworks(filter?: ListNetworksFilter): Promise<Network[]> {
    return this.networks.listNetworks(filter);
  }
  inspectNetwork(ref: string): Promise<Network> {
    return this.networks.inspectNetwork(ref);
  }
  removeNetwork(ref: string): Promise<void> {
    return this.networks.removeNetwork(ref);
  }
  pruneNetworks(): Promise<string[]> {
    return this.networks.pruneNetworks();
  }
  connectNetwork(network: string, container: string, aliases?: string[]): Promise<Container> {
    return this.networks.connectNetwork(network, container, aliases);
  }
  disconnectNetwork(network: string, container: string, force?: boolean): Promise<void> {
    return this.networks.disconnectNetwork(network, container, force);
  }
  networkEndpoints(ref: string): Promise<NetworkEndpoints> {
    return this.networks.networkEndpoints(ref);
  }

  // ------------------------------------------------------------------ services and tasks

  createService(spec: ServiceSpec): Promise<Service> {
    return this.services.createService(spec);
  }
  listServices(filter?: ListServicesFilter): Promise<Service[]> {
    return this.services.listServices(filter);
  }
  inspectService(ref: string): Promise<Service> {
    return this.services.inspectService(ref);
  }
  updateService(ref: string, spec: ServiceSpec, version?: number, options?: UpdateServiceOptions): Promise<Service> {
    return this.services.updateService(ref, spec, version, options);
  }
  scaleService(ref: string, replicas: number): Promise<Service> {
    return this.services.scaleService(ref, replicas);
  }
  removeService(ref: string): Promise<void> {
    return this.services.removeService(ref);
  }
  listTasks(filter?: ListTasksFilter): Promise<Task[]> {
    return this.services.listTasks(filter);
  }

  // ------------------------------------------------------------------ containers

  runContainer(spec: ContainerSpec): Promise<Container> {
    return this.containers.runContainer(spec);
  }
  listContainers(filter?: ListContainersFilter): Promise<Container[]> {
    return this.containers.listContainers(filter);
  }
  inspectContainer(ref: string): Promise<Container> {
    return this.containers.inspectContainer(ref);
  }
  removeContainer(ref: string, force?: boolean): Promise<void> {
    return this.containers.removeContainer(ref, force);
  }

  // ------------------------------------------------------------------ exec and logs

  /** Sets what exec and logs requests travel through to the agents (the dispatcher); undefined detaches it. */
  attachAgentRelay(relay: AgentRelay | undefined): void {
    this.runtime.attachRelay(relay);
  }
  exec(request: ExecRequest): Promise<ExecResult> {
    return this.runtime.exec(request);
  }
  logs(request: LogsRequest): Promise<LogChunk[]> {
    return this.runtime.logs(request);
  }
  doctor(request: DoctorRequest): Promise<NodeDoctor[]> {
    return this.runtime.doctor(request);
  }

  // ------------------------------------------------------------------ nodes

  listNodes(filter?: ListNodesFilter): Promise<Node[]> {
    return this.nodes.listNodes(filter);
  }
  inspectNode(ref: string): Promise<Node> {
    return this.nodes.inspectNode(ref);
  }
  updateNode(ref: string, spec: NodeSpec, version?: number): Promise<Node> {
    return this.nodes.updateNode(ref, spec, version);
  }
  removeNode(ref: string, force?: boolean): Promise<void> {
    return this.nodes.removeNode(ref, force);
  }

  // ------------------------------------------------------------------ swarm

  inspectSwarm(): Promise<Swarm> {
    return this.swarm.inspectSwarm();
  }
  joinToken(role: NodeRole, rotate?: boolean): Promise<JoinToken> {
    return this.swarm.joinToken(role, rotate);
  }
  rotateGossipKey(): Promise<Swarm> {
    return this.swarm.rotateGossipKey();
  }
  /** Rotates the gossip keyring if its primary key is older than the configured age. */
  rotateGossipKeyIfDue(): Promise<boolean> {
    return this.swarm.rotateGossipKeyIfDue();
  }
  dump(): Promise<string> {
    return this.swarm.dump();
  }
  /** `swarm update`: the certificate lifetime. */
  updateSwarm(req: UpdateSwarmRequest): Promise<Swarm> {
    return this.swarm.updateSwarm(req);
  }
  /** `swarm ca`: the signing root and the progress of a rotation. */
  caStatus(): Promise<CaStatus> {
    return this.swarm.caStatus();
  }
  /** `swarm ca --rotate`: starts a root CA rotation. */
  rotateCa(req: RotateCaRequest): Promise<CaStatus> {
    return this.swarm.rotateCa(req);
  }
  /** A new certificate for an authenticated node (its CSR's key); refused for a removed node. */
  renewCertificate(nodeId: string, csrPem: string): Promise<RenewCertificateResponse> {
    return this.swarm.certificates.renewCertificate(nodeId, csrPem);
  }
  /** The manager's own node certificate for a new key, with the chain its server presents. */
  issueManagerCertificate(publicKeyPem: string): Promise<ManagerCertificate> {
    return this.swarm.certificates.issueManagerCertificate(publicKeyPem);
  }

  async version(): Promise<VersionInfo> {
    return localVersionInfo();
  }

  // ------------------------------------------------------------------ agent side

  /** Admits a node presenting a join token: creates its node record and signs its certificate. */
  issueNodeCertificate(req: IssueCertificateRequest): Promise<IssueCertificateResponse> {
    return this.agents.issueNodeCertificate(req);
  }
  /** The node record for an authenticated caller, or UNAUTHENTICATED when it was removed. */
  requireNode(nodeId: string): NodeRecord {
    return this.agents.requireNode(nodeId);
  }
  /** A node's session started or its heartbeats resumed: mark it ready and schedule onto it. */
  nodeReady(nodeId: string, info: NodeSessionInfo): Promise<void> {
    return this.agents.nodeReady(nodeId, info);
  }
  /** Heartbeats stopped: mark the node down and move its tasks. */
  nodeDown(nodeId: string, message: string): Promise<void> {
    return this.agents.nodeDown(nodeId, message);
  }
  /** Task states reported by a node's agent (one transaction per report). */
  reportTaskStates(nodeId: string, updates: readonly TaskStatusUpdate[]): Promise<void> {
    return this.agents.reportTaskStates(nodeId, updates);
  }
  /** Sets who tells the drain and join waits which nodes watch which networks (the dispatcher's hub); undefined detaches it. */
  attachEndpointWatchers(watchers: DrainWatchers | undefined): void {
    this.drainTracker.attachWatchers(watchers);
    this.joinTracker.attachWatchers(watchers);
  }
  /** A node's load balancers left these draining endpoints (AgentReport.drained_endpoint_ids). */
  acknowledgeDrained(nodeId: string, endpointIds: readonly string[]): Promise<void> {
    return this.drains.acknowledgeDrained(nodeId, endpointIds);
  }
  /** A node's load balancers now send new connections to these endpoints (AgentReport.joined_endpoint_ids). */
  acknowledgeJoined(nodeId: string, endpointIds: readonly string[]): Promise<void> {
    return this.joins.acknowledgeJoined(nodeId, endpointIds);
  }
  /** After a restart: fresh waits for the tasks still draining (returns how many). */
  resumeDrains(): Promise<number> {
    return this.drains.resumeDrains();
  }
  /** Container states reported by a node's agent. */
  reportContainerStates(nodeId: string, updates: readonly { containerId: string; state: string }[]): Promise<void> {
    return this.agents.reportContainerStates(nodeId, updates);
  }
}
