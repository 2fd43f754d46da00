/**
 * The typed client of the manager API, used by the CLI, by agents and by tests.
 *
 * `connectManager()` reaches the manager the way Docker's CLI reaches dockerd: `--host`
 * (or SHOAL_HOST) in DOCKER_HOST's form, `unix:///path/to/manager.sock` (no TLS; file
 * permissions guard the socket) or `tcp://IP:2377` (mTLS with a node certificate of this
 * cluster: ca.crt, node.crt and node.key from `tlsDir`, SHOAL_CERT_PATH or
 * DATA-DIR/certificates; the full API needs a manager-role certificate). Without either,
 * it uses the unix socket in the data directory (--data-dir, SHOAL_DATA_DIR,
 * /var/lib/shoal). Addresses and certificates: manager-target.ts.
 *
 * `ManagerClient` works over any `UnaryConnection`: `connectManager` gives it the small
 * HTTP/2 client of h2-connection.ts (what every CLI command uses: it loads no gRPC library),
 * agents give it the grpc-js channel of grpc-connection.ts (which also streams). Nothing
 * here imports grpc-js.
 *
 * Every method returns plain objects shaped as in api-types.ts and throws ShoalError with
 * the code the manager threw (see errors.ts); connection failures are
 * SHOAL_ERR_MANAGER_UNREACHABLE.
 */
import { DEFAULT_EXEC_TIMEOUT_MS } from './api-defaults.ts';
import type {
  Container,
  ContainerSpec,
  DoctorRequest,
  ExecRequest,
  ExecResult,
  CaStatus,
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
  RootCa,
  Service,
  ServiceSpec,
  UpdateServiceOptions,
  RenewCertificateRequest,
  RenewCertificateResponse,
  RotateCaRequest,
  Swarm,
  UpdateSwarmRequest,
  VersionInfo,
  Task,
} from './api-types.ts';
import { H2Connection } from './h2-connection.ts';
import { parseHost, readTlsDir, resolveHost, resolveTlsDir } from './manager-target.ts';
import type { ConnectOptions, Target, TlsMaterial } from './manager-target.ts';
import type { ApiServiceName } from './proto.ts';

export type { ConnectOptions } from './manager-target.ts';

/** Everything the CLI can ask of the manager. The manager's own core implements it too. */
export interface ManagerApi {
  // networks
  createNetwork(spec: NetworkSpec): Promise<Network>;
  listNetworks(filter?: ListNetworksFilter): Promise<Network[]>;
  /** By ID, name, or unique ID prefix. */
  inspectNetwork(network: string): Promise<Network>;
  removeNetwork(network: string): Promise<void>;
  /** Removes every network without services or endpoints (never `ingress`); returns their names. */
  pruneNetworks(): Promise<string[]>;
  /** Connects a standalone container to an attachable network. */
  connectNetwork(network: string, container: string, aliases?: string[]): Promise<Container>;
  disconnectNetwork(network: string, container: string, force?: boolean): Promise<void>;
  /** One network's complete endpoint list (tasks, containers, VIPs, ingress sandboxes) and peers. */
  networkEndpoints(network: string): Promise<NetworkEndpoints>;

  // services and tasks
  createService(spec: ServiceSpec): Promise<Service>;
  listServices(filter?: ListServicesFilter): Promise<Service[]>;
  inspectService(service: string): Promise<Service>;
  /** Replaces the spec; `version` (from inspect) makes a concurrent update fail with SHOAL_ERR_VERSION_CONFLICT. */
  /**
   * `options.rollback`: go back to the previous spec instead (`spec` is ignored), paced by
   * the rollback config; SHOAL_ERR_BAD_SPEC when the service has no previous spec.
   */
  updateService(service: string, spec: ServiceSpec, version?: number, options?: UpdateServiceOptions): Promise<Service>;
  scaleService(service: string, replicas: number): Promise<Service>;
  removeService(service: string): Promise<void>;
  /** `service ps`: tasks filtered by service, node, desired state. */
  listTasks(filter?: ListTasksFilter): Promise<Task[]>;

  // standalone containers
  runContainer(spec: ContainerSpec): Promise<Container>;
  listContainers(filter?: ListContainersFilter): Promise<Container[]>;
  inspectContainer(container: string): Promise<Container>;
  removeContainer(container: string, force?: boolean): Promise<void>;

  // what runs on the nodes, through their agents
  /** Runs a command in a running task or container (its output and exit status). */
  exec(request: ExecRequest): Promise<ExecResult>;
  /** A task's or container's log, or (with `service`) one chunk per task of the service. */
  logs(request: LogsRequest): Promise<LogChunk[]>;
  /** Each named node's data-plane drift (with `repair`, after a sync), or why it has none. */
  doctor(request: DoctorRequest): Promise<NodeDoctor[]>;

  // nodes
  listNodes(filter?: ListNodesFilter): Promise<Node[]>;
  /** By ID, name/hostname, unique ID prefix, or "self" (the manager's node). */
  inspectNode(node: string): Promise<Node>;
  /** Replaces the node's spec (availability, role, labels, name). */
  updateNode(node: string, spec: NodeSpec, version?: number): Promise<Node>;
  /** Refused for a node that is up unless `force`. */
  removeNode(node: string, force?: boolean): Promise<void>;

  // swarm
  inspectSwarm(): Promise<Swarm>;
  /** The current join token for `role`; with `rotate`, a new one replaces it first. */
  joinToken(role: NodeRole, rotate?: boolean): Promise<JoinToken>;
  /** Adds a new gossip key (primary) and retires the oldest beyond the keyring size. */
  rotateGossipKey(): Promise<Swarm>;
  /** Deterministic text dump of the whole store (secrets replaced by their SHA-256). */
  dump(): Promise<string>;
  /** The manager's build. */
  version(): Promise<VersionInfo>;
  /** Cluster settings (`swarm update`): the lifetime of certificates issued from now on. */
  updateSwarm(request: UpdateSwarmRequest): Promise<Swarm>;
  /** The root CA that signs now and the progress of a rotation (`swarm ca`). */
  caStatus(): Promise<CaStatus>;
  /** Starts a root CA rotation (`swarm ca --rotate`); SHOAL_ERR_CA_ROTATION_IN_PROGRESS while one runs. */
  rotateCa(request: RotateCaRequest): Promise<CaStatus>;
}

/**
 * What ManagerClient needs of a connection: one unary call by service and method name of
 * api.proto, with a deadline; failures are ShoalErrors (errorFromStatus in errors.ts).
 */
export interface UnaryConnection {
  /** Where the connection goes (`display` names it in messages). */
  readonly target: Target;
  /** Sends `request`, resolves with the decoded response; `timeoutMs` defaults to the connection's. */
  unary<Req, Res>(service: ApiServiceName, method: string, request: Req, timeoutMs?: number): Promise<Res>;
  /** Closes the connection gracefully (calls in flight finish); idempotent. */
  close(): void;
}

/**
 * What a relayed call's deadline allows beyond the command's own limit: the manager's wait
 * for the agent's answer (its `agentRequestTimeoutMs`, 10 s by default) and the two hops.
 */
export const RELAY_MARGIN_MS = 15_000;

/**
 * The deadline of a doctor call: the manager waits up to six times its agentRequestTimeoutMs
 * for a repair (each node's syncs and two full reads of its kernel state), three for a check.
 */
export const DOCTOR_DEADLINE_MS = 60_000 + RELAY_MARGIN_MS;

/** The manager API over a gRPC connection. */
export class ManagerClient implements ManagerApi {
  readonly connection: UnaryConnection;

  constructor(connection: UnaryConnection) {
    this.connection = connection;
  }

  private call<Res>(service: ApiServiceName, method: string, request: unknown, timeoutMs?: number): Promise<Res> {
    return this.connection.unary<unknown, Res>(service, method, request, timeoutMs);
  }

  async createNetwork(spec: NetworkSpec): Promise<Network> {
    return this.call('Networks', 'Create', { spec });
  }
  async listNetworks(filter: ListNetworksFilter = {}): Promise<Network[]> {
    return (await this.call<{ networks: Network[] }>('Networks', 'List', filter)).networks;
  }
  async inspectNetwork(network: string): Promise<Network> {
    return this.call('Networks', 'Inspect', { network });
  }
  async removeNetwork(network: string): Promise<void> {
    await this.call('Networks', 'Remove', { network });
  }
  async pruneNetworks(): Promise<string[]> {
    return (await this.call<{ removed: string[] }>('Networks', 'Prune', {})).removed;
  }
  async connectNetwork(network: string, container: string, aliases: string[] = []): Promise<Container> {
    return this.call('Networks', 'Connect', { network, container, aliases });
  }
  async disconnectNetwork(network: string, container: string, force = false): Promise<void> {
    await this.call('Networks', 'Disconnect', { network, container, force });
  }
  async networkEndpoints(network: string): Promise<NetworkEndpoints> {
    return this.call('Networks', 'Endpoints', { network });
  }

  async createService(spec: ServiceSpec): Promise<Service> {
    return this.call('Services', 'Create', { spec });
  }
  async listServices(filter: ListServicesFilter = {}): Promise<Service[]> {
    return (await this.call<{ services: Service[] }>('Services', 'List', filter)).services;
  }
  async inspectService(service: string): Promise<Service> {
    return this.call('Services', 'Inspect', { service });
  }
  async updateService(service: string, spec: ServiceSpec, version = 0, options: UpdateServiceOptions = {}): Promise<Service> {
    return this.call('Services', 'Update', { service, spec, version, rollback: options.rollback === true });
  }
  async scaleService(service: string, replicas: number): Promise<Service> {
    return this.call('Services', 'Scale', { service, replicas });
  }
  async removeService(service: string): Promise<void> {
    await this.call('Services', 'Remove', { service });
  }
  async listTasks(filter: ListTasksFilter = {}): Promise<Task[]> {
    return (await this.call<{ tasks: Task[] }>('Services', 'Tasks', filter)).tasks;
  }

  async runContainer(spec: ContainerSpec): Promise<Container> {
    return this.call('Containers', 'Run', { spec });
  }
  async listContainers(filter: ListContainersFilter = {}): Promise<Container[]> {
    return (await this.call<{ containers: Container[] }>('Containers', 'List', filter)).containers;
  }
  async inspectContainer(container: string): Promise<Container> {
    return this.call('Containers', 'Inspect', { container });
  }
  async removeContainer(container: string, force = false): Promise<void> {
    await this.call('Containers', 'Remove', { container, force });
  }

  async exec(request: ExecRequest): Promise<ExecResult> {
    // the call waits for the command: its deadline is the command's plus the relay's margin
    const limit = request.timeoutMs !== undefined && request.timeoutMs > 0 ? request.timeoutMs : DEFAULT_EXEC_TIMEOUT_MS;
    return this.call('Runtime', 'Exec', request, limit + RELAY_MARGIN_MS);
  }
  async logs(request: LogsRequest): Promise<LogChunk[]> {
    return (await this.call<{ chunks: LogChunk[] }>('Runtime', 'Logs', request)).chunks;
  }
  async doctor(request: DoctorRequest): Promise<NodeDoctor[]> {
    // a repair waits for each node's syncs: its deadline is the relay's, several times over
    return (await this.call<{ nodes: NodeDoctor[] }>('Runtime', 'Doctor', request, DOCTOR_DEADLINE_MS)).nodes;
  }

  async listNodes(filter: ListNodesFilter = {}): Promise<Node[]> {
    return (await this.call<{ nodes: Node[] }>('Nodes', 'List', filter)).nodes;
  }
  async inspectNode(node: string): Promise<Node> {
    return this.call('Nodes', 'Inspect', { node });
  }
  async updateNode(node: string, spec: NodeSpec, version = 0): Promise<Node> {
    return this.call('Nodes', 'Update', { node, spec, version });
  }
  async removeNode(node: string, force = false): Promise<void> {
    await this.call('Nodes', 'Remove', { node, force });
  }

  async inspectSwarm(): Promise<Swarm> {
    return this.call('SwarmControl', 'Inspect', {});
  }
  async joinToken(role: NodeRole, rotate = false): Promise<JoinToken> {
    return this.call('SwarmControl', 'JoinToken', { role, rotate });
  }
  async rotateGossipKey(): Promise<Swarm> {
    return this.call('SwarmControl', 'RotateGossipKey', {});
  }
  async version(): Promise<VersionInfo> {
    return this.call('SwarmControl', 'Version', {});
  }
  async dump(): Promise<string> {
    return (await this.call<{ text: string }>('SwarmControl', 'Dump', {})).text;
  }
  async updateSwarm(request: UpdateSwarmRequest): Promise<Swarm> {
    return this.call('SwarmControl', 'Update', request);
  }
  async caStatus(): Promise<CaStatus> {
    return this.call('SwarmControl', 'CaStatus', {});
  }
  async rotateCa(request: RotateCaRequest): Promise<CaStatus> {
    return this.call('SwarmControl', 'RotateCa', request);
  }
  // a node's own session (mTLS with its current certificate)
  async renewCertificate(request: RenewCertificateRequest): Promise<RenewCertificateResponse> {
    return this.call('Dispatcher', 'RenewCertificate', request);
  }

  // join (answered without a client certificate)
  async getRootCa(): Promise<RootCa> {
    return this.call('Ca', 'GetRootCa', {});
  }
  async issueNodeCertificate(request: IssueCertificateRequest): Promise<IssueCertificateResponse> {
    return this.call('Ca', 'IssueNodeCertificate', request);
  }

  close(): void {
    this.connection.close();
  }
}

/**
 * Connects to the manager named by the options (see the module comment). The connection
 * is lazy: the first call fails with SHOAL_ERR_MANAGER_UNREACHABLE if nobody answers.
 */
export function connectManager(options: ConnectOptions = {}): ManagerClient {
  const target = parseHost(resolveHost(options));
  const tls: TlsMaterial | undefined = target.secure ? readTlsDir(resolveTlsDir(options)) : undefined;
  return new ManagerClient(new H2Connection(target, tls, options.timeoutMs));
}
