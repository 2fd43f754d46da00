/**
 * TypeScript shapes of the manager API, one for one with proto/api.proto.
 *
 * Field names are the proto names in camelCase (protobufjs's conversion). Objects that come
 * back from the manager always carry every repeated field (possibly empty), every map
 * (possibly empty) and every scalar (zero value when unset); fields marked `?` are absent
 * when unset (proto3 `optional` scalars and unset messages). Small enumerations are
 * lowercase strings, as in Docker's API. Durations are milliseconds, timestamps RFC 3339.
 */

// ------------------------------------------------------------------------------ enums

export type NetworkDriver = 'overlay';
export type EndpointKind = 'task' | 'container' | 'vip' | 'node-ingress';
export type PortProtocol = 'tcp' | 'udp' | 'sctp';
export type PublishMode = 'ingress' | 'host';
export type EndpointMode = 'vip' | 'dnsrr';
export type RestartCondition = 'none' | 'on-failure' | 'any';
export type TaskState = 'new' | 'pending' | 'assigned' | 'running' | 'complete' | 'failed' | 'shutdown' | 'rejected' | 'orphaned';
export type DesiredState = 'running' | 'shutdown';
export type TaskHealth = '' | 'starting' | 'healthy' | 'unhealthy';
export type NodeRole = 'worker' | 'manager';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';
export type ContainerState = 'created' | 'running' | 'exited';
/**
 * An endpoint is down while the manager has marked its node Down, and draining while its
 * task is being shut down (out of the load balancers for new connections).
 */
export type EndpointState = 'active' | 'down' | 'draining';
export type AgentRequestKind = 'exec' | 'logs' | 'doctor';

// ------------------------------------------------------------------------------ networks

export interface IpamConfig {
  /** CIDR; empty in a spec = allocate from the default address pool. */
  subnet: string;
  gateway?: string;
  ipRange?: string;
  /** Host name -> address kept out of allocation (Docker's --aux-address). */
  auxAddresses: Record<string, string>;
}

export interface NetworkSpec {
  name: string;
  /** "overlay" (also when empty). */
  driver: string;
  subnets: IpamConfig[];
  attachable: boolean;
  internal: boolean;
  ipv6: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Only the built-in `ingress` network has this; creating another is refused. */
  ingress: boolean;
}

export interface Network {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  spec: NetworkSpec;
  vxlanId: number;
  /** Allocated subnets with gateway (and range when one was given). */
  ipam: IpamConfig[];
  /** Always "swarm". */
  scope: string;
  ingress: boolean;
  endpointCount: number;
  serviceIds: string[];
  /** Endpoints whose node is Down (also counted in endpointCount). */
  downEndpointCount: number;
}

export interface Endpoint {
  id: string;
  networkId: string;
  kind: EndpointKind | (string & {});
  ownerId: string;
  serviceId: string;
  serviceName: string;
  /** Empty for VIPs. */
  nodeId: string;
  name: string;
  aliases: string[];
  /** "10.0.1.5/24" */
  addr: string;
  /** "02:42:0a:00:01:05"; empty for VIPs. */
  mac: string;
  addrV6: string;
  version: number;
  /**
   * "down" while the manager has marked the endpoint's node Down; "draining" from when the
   * manager shuts its task down (on a live node) until the endpoint is removed; VIPs are
   * always active.
   */
  state: EndpointState | (string & {});
  /** A task's or container's host name (its spec's, else its ID's first 12 characters); empty for VIPs. */
  hostname: string;
}

export interface Peer {
  nodeId: string;
  addr: string;
  hostname: string;
  role: string;
  /** The UDP and TCP port of the node's gossip (at `addr`). */
  gossipPort: number;
}

export interface ListNetworksFilter {
  ids?: string[];
  names?: string[];
  labels?: string[];
  driver?: string;
}

export interface NetworkEndpoints {
  version: number;
  network: Network;
  endpoints: Endpoint[];
  peers: Peer[];
}

// ------------------------------------------------------------------------------ services

export interface ReplicatedMode {
  replicas: number;
}
/** Global mode carries no settings: one task on every eligible node. */
export type GlobalMode = Record<string, never>;
/** Exactly one of the two is set. */
export interface ServiceMode {
  replicated?: ReplicatedMode;
  global?: GlobalMode;
}

export interface HealthConfig {
  /** Docker's Test: ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]. */
  cmd: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface RestartPolicy {
  condition: RestartCondition | (string & {});
  delayMs: number;
  /** 0 = unlimited. */
  maxAttempts: number;
}

export interface TaskTemplate {
  command: string[];
  args: string[];
  env: string[];
  hostname: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  health?: HealthConfig;
  restartPolicy: RestartPolicy;
  stopGracePeriodMs: number;
  labels: Record<string, string>;
}

export interface NetworkAttachmentConfig {
  /** Network name or ID in a request; the ID in a stored spec. */
  target: string;
  aliases: string[];
}

export interface PortConfig {
  name: string;
  protocol: PortProtocol | (string & {});
  targetPort: number;
  /** Absent: allocated from 30000-32767 (ingress mode). */
  publishedPort?: number;
  publishMode: PublishMode | (string & {});
}

export interface EndpointSpec {
  mode: EndpointMode | (string & {});
  ports: PortConfig[];
}

/** What a rolling update (or rollback) does when its new tasks fail: Docker's --update-failure-action. */
export type UpdateFailureAction = 'pause' | 'continue' | 'rollback';

/** Docker's --update-order: stop the old task before its replacement starts, or after. */
export type UpdateOrder = 'stop-first' | 'start-first';

export interface UpdateConfig {
  /** Tasks replaced at once; 0 = all. */
  parallelism: number;
  /** Wait between batches, ms. */
  delayMs: number;
  /** Default 'pause'; a rollback config takes 'pause' or 'continue' only (as Docker's --rollback-failure-action). */
  failureAction: UpdateFailureAction | (string & {});
  /**
   * How long after it starts a new task is watched, ms (default 5000): one that ends by
   * itself or turns unhealthy within this window counts as a failure of the update.
   */
  monitorMs: number;
  /** Failures tolerated, as a fraction (0-1) of the tasks updated so far; default 0. */
  maxFailureRatio: number;
  /** Default 'stop-first'. */
  order: UpdateOrder | (string & {});
}

export interface ServiceSpec {
  name: string;
  labels: Record<string, string>;
  mode: ServiceMode;
  taskTemplate: TaskTemplate;
  networks: NetworkAttachmentConfig[];
  endpointSpec: EndpointSpec;
  updateConfig: UpdateConfig;
  /** Pacing of a rollback to previousSpec (Docker's defaults: parallelism 1, pause, stop-first, 5 s). */
  rollbackConfig: UpdateConfig;
}

export interface VirtualIp {
  networkId: string;
  /** "10.0.1.2/24" */
  addr: string;
}

export interface ServiceEndpoint {
  spec: EndpointSpec;
  /** The spec's ports with every published port allocated. */
  ports: PortConfig[];
  virtualIps: VirtualIp[];
}

export interface ServiceStatus {
  runningTasks: number;
  desiredTasks: number;
}

export interface UpdateStatus {
  /** Docker's states; 'paused' stops the update until the next service update. */
  state: '' | 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed' | (string & {});
  startedAt: string;
  completedAt: string;
  message: string;
}

export interface Service {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  endpoint: ServiceEndpoint;
  serviceStatus: ServiceStatus;
  updateStatus: UpdateStatus;
}

export interface UpdateServiceOptions {
  /** Go back to the previous spec (Docker's `service update --rollback`). */
  rollback?: boolean;
}

export interface ListServicesFilter {
  ids?: string[];
  names?: string[];
  labels?: string[];
  mode?: '' | 'replicated' | 'global';
}

export interface TaskStatus {
  state: TaskState | (string & {});
  message: string;
  err: string;
  timestamp: string;
  exitCode: number;
  health: TaskHealth | (string & {});
}

export interface NetworkAttachment {
  networkId: string;
  networkName: string;
  /** With prefix length. */
  addresses: string[];
  mac: string;
  aliases: string[];
  endpointId: string;
}

export interface Task {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  serviceId: string;
  serviceName: string;
  /** 1-based for replicated services, 0 for global ones. */
  slot: number;
  /** Empty until the scheduler assigns the task. */
  nodeId: string;
  desiredState: DesiredState | (string & {});
  status: TaskStatus;
  spec: TaskTemplate;
  networks: NetworkAttachment[];
  specVersion: number;
  /** service.slot.id or service.node.id */
  name: string;
  hostPorts: PortConfig[];
  /**
   * A task shutting down has left every load balancer: the nodes that watched its networks
   * acknowledged its draining endpoints, or the manager's wait ran out. Its agent stops it
   * only once this is true. Meaningless once the task has ended.
   */
  drained: boolean;
}

export interface ListTasksFilter {
  /** Service names or IDs. */
  services?: string[];
  /** Node names or IDs. */
  nodes?: string[];
  /** "running" | "shutdown" | "accepted" */
  desiredState?: string;
  ids?: string[];
}

// ------------------------------------------------------------------------------ containers

export interface ContainerSpec {
  name: string;
  networks: NetworkAttachmentConfig[];
  /** Node name or ID; empty = the manager's own node. */
  node: string;
  command: string[];
  hostname: string;
  env: string[];
  labels: Record<string, string>;
  /** Upstream resolvers, search domains and options, as TaskTemplate's. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

export interface Container {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  spec: ContainerSpec;
  nodeId: string;
  networks: NetworkAttachment[];
  state: ContainerState | (string & {});
}

export interface ListContainersFilter {
  ids?: string[];
  names?: string[];
  networks?: string[];
  nodes?: string[];
}

// ------------------------------------------------------------------------------ nodes

export interface NodeSpec {
  /** Optional display name; empty = the hostname. */
  name: string;
  labels: Record<string, string>;
  role: NodeRole | (string & {});
  availability: NodeAvailability | (string & {});
}

export interface NodeDescription {
  hostname: string;
  platformOs: string;
  platformArch: string;
  version: string;
}

export interface NodeStatus {
  state: NodeState | (string & {});
  message: string;
  /** The node's advertise (underlay) address. */
  addr: string;
  /** The UDP and TCP port its agent's gossip listens on (DEFAULT_GOSSIP_PORT when the agent named none; 0 before its first session). */
  gossipPort: number;
}

export interface ManagerStatus {
  leader: boolean;
  reachability: 'reachable' | 'unreachable' | (string & {});
  addr: string;
}

export interface Node {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  spec: NodeSpec;
  description: NodeDescription;
  status: NodeStatus;
  managerStatus?: ManagerStatus;
  certFingerprint: string;
  /** The CA digest of the root that signed the node's current certificate ('' before it was recorded). */
  certRootDigest?: string;
  /** When the node's current certificate expires (RFC 3339; '' before it was recorded). */
  certExpiresAt?: string;
}

export interface ListNodesFilter {
  ids?: string[];
  names?: string[];
  labels?: string[];
  role?: '' | NodeRole;
}

// ------------------------------------------------------------------------------ swarm

export interface JoinTokens {
  worker: string;
  manager: string;
}

export interface GossipKeyInfo {
  lamportTime: number;
  primary: boolean;
  createdAt: string;
}

/** Which build of shoal a process runs (`shoal version`). */
export interface VersionInfo {
  version: string;
  apiVersion: number;
  nodeVersion: string;
  os: string;
  arch: string;
}

export interface Swarm {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  joinTokens: JoinTokens;
  rootCaCert: string;
  caDigest: string;
  defaultAddrPool: string[];
  subnetSize: number;
  dataPathPort: number;
  heartbeatPeriodMs: number;
  gossipKeys: GossipKeyInfo[];
  managerAddr: string;
  /** Lifetime of node certificates issued from now on, ms. */
  certExpiryMs: number;
  /** A root CA rotation has started and not completed. */
  caRotationInProgress: boolean;
}

export interface UpdateSwarmRequest {
  /** Lifetime of node certificates issued from now on, ms; 0 or absent = unchanged. */
  certExpiryMs?: number;
}

export interface RotateCaRequest {
  /** Both or neither: an operator's root (PEM certificate and private key). */
  caCertPem?: string;
  caKeyPem?: string;
}

export interface CaPendingNode {
  nodeId: string;
  hostname: string;
  state: string;
}

/** `swarm ca`: the signing root and the progress of a rotation. */
export interface CaStatus {
  rootCaPem: string;
  rootDigest: string;
  rotating: boolean;
  /** During a rotation: the root being replaced ('' otherwise). */
  previousDigest: string;
  /** Nodes whose certificate the signing root signed, out of all nodes. */
  nodesDone: number;
  nodesTotal: number;
  /** The nodes still on the previous root, sorted by ID. */
  pending: CaPendingNode[];
}

/** The roots a node trusts (assignment `ca`), and the one that signs now. */
export interface CaTrust {
  trustBundlePem: string;
  rootDigest: string;
  version: number;
}

export interface RenewCertificateRequest {
  csrPem: string;
}

export interface RenewCertificateResponse {
  certPem: string;
  trustBundlePem: string;
  rootDigest: string;
}

export interface JoinToken {
  role: NodeRole;
  token: string;
  managerAddr: string;
}

// ------------------------------------------------------------------------------ join and session

export interface RootCa {
  certPem: string;
  digest: string;
}

export interface IssueCertificateRequest {
  token: string;
  /** Optional: when given, the CSR must be for this key (SPKI PEM). */
  publicKeyPem?: string;
  hostname: string;
  advertiseAddr: string;
  /** PKCS#10 request (PEM) signed with the node's key: proves the node holds it. */
  csrPem: string;
}

export interface IssueCertificateResponse {
  nodeId: string;
  certPem: string;
  caPem: string;
  role: NodeRole | (string & {});
  clusterId: string;
}

export interface GossipKey {
  /** 32 bytes, AES-256-GCM. */
  key: Uint8Array;
  lamportTime: number;
  primary: boolean;
  algorithm: string;
}

export interface GossipKeyring {
  keys: GossipKey[];
  version: number;
}

export interface Assignment {
  networks: Network[];
  tasks: Task[];
  services: Service[];
  endpoints: Endpoint[];
  containers: Container[];
  keyring?: GossipKeyring;
  peers: Peer[];
  node?: Node;
  ca?: CaTrust;
}

export interface AssignmentRemovals {
  networkIds: string[];
  taskIds: string[];
  serviceIds: string[];
  endpointIds: string[];
  containerIds: string[];
  peerIds: string[];
}

export interface SessionRequest {
  description: NodeDescription;
  advertiseAddr: string;
  /** The UDP and TCP port this agent's gossip listens on; 0 = DEFAULT_GOSSIP_PORT. */
  gossipPort: number;
}

/**
 * A request the manager relays to an agent over its session; the agent answers it once
 * with Dispatcher.Respond (`AgentResponse` with `requestId` = `id`).
 */
export interface AgentRequest {
  id: string;
  kind: AgentRequestKind | (string & {});
  /** Exactly one of taskId and containerId is set. */
  taskId: string;
  containerId: string;
  /** exec: the command and its arguments (no shell). */
  argv: string[];
  /** logs: lines from the end; absent = all. */
  tail?: number;
  /** exec: how long the command may run, ms (then the agent stops it and answers SHOAL_ERR_TIMEOUT). */
  timeoutMs: number;
  /** exec: NAME=value pairs added to the task's environment. */
  env: string[];
  /** exec: working directory; empty = the task's. */
  workdir: string;
  /** doctor: apply the differences (one sync of each part) before answering. */
  doctorRepair?: boolean;
  /** logs: read from this byte offset to the end (follow mode); `tail` is then ignored. */
  logOffset?: number;
  /** logs: only the lines written at or after this wall time, ms (ignored with logOffset). */
  logSinceMs?: number;
  /** logs: answer each line's time in logTimes. */
  logTimestamps?: boolean;
}

export interface AgentResponse {
  requestId: string;
  /** exec: the command's exit status. */
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** logs: the output as stored (stdout and stderr interleaved). */
  logs: Uint8Array;
  /** Set when the request failed: a SHOAL_ERR_ code and its message. */
  errorCode: string;
  errorMessage: string;
  /** doctor: the node's report. */
  doctor?: DoctorReport;
  /** logs: the byte offset in the log just after `logs`. */
  logEnd?: number;
  /** logs, with logTimestamps: each line's wall time, ms. */
  logTimes?: number[];
}

/** What an agent's request handler returns: an AgentResponse without its ID (unset fields are empty). */
export type AgentResponseBody = Partial<Omit<AgentResponse, 'requestId'>>;

export interface SessionMessage {
  sessionId: string;
  nodeId: string;
  /** "requests": only `requests`, the assignment is unchanged. */
  kind: 'snapshot' | 'delta' | 'requests';
  version: number;
  fromVersion: number;
  updates: Assignment;
  removals: AssignmentRemovals;
  heartbeatPeriodMs: number;
  requests: AgentRequest[];
}

export interface TaskStatusUpdate {
  taskId: string;
  status: TaskStatus;
}

export interface ContainerStatusUpdate {
  containerId: string;
  state: ContainerState | (string & {});
}

export interface AgentReport {
  sessionId: string;
  heartbeat: boolean;
  tasks: TaskStatusUpdate[];
  containers: ContainerStatusUpdate[];
  /** Draining endpoints this node's load balancers no longer send new connections to. */
  drainedEndpointIds: string[];
  /** Endpoints this node's load balancers now send new connections to, as a delta (each once per join). */
  joinedEndpointIds: string[];
}

export interface WatchEndpointsRequest {
  networkIds: string[];
}

/**
 * One network's endpoints as the store changes (Dispatcher.WatchEndpoints): first a
 * "snapshot" (the complete list, VIPs and every node's endpoints included), then "delta"s.
 */
export interface EndpointEvent {
  kind: 'snapshot' | 'delta';
  networkId: string;
  /** The store revision the event reflects. */
  version: number;
  /** snapshot: every endpoint; delta: the added or changed ones. */
  endpoints: Endpoint[];
  /** delta: IDs of endpoints that are gone. */
  removedIds: string[];
}

// ------------------------------------------------------------------------------ runtime (exec, logs)

export interface ExecRequest {
  /** A task (ID, ID prefix, `service.slot.id`, `service.slot`) or a container (ID, name, ID prefix). */
  target: string;
  argv: string[];
  /** How long the command may run, ms; 0 = 60000; at most 3600000. */
  timeoutMs?: number;
  /** NAME=value pairs added to the task's environment. */
  env?: string[];
  /** Working directory; empty = the task's. */
  workdir?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  taskId: string;
  containerId: string;
  nodeId: string;
}

export interface LogsRequest {
  /** A task or container (as ExecRequest.target); empty with `service`. */
  target?: string;
  /** A service name or ID: every task of it that was placed on a node. */
  service?: string;
  /** Lines from the end of each log; absent = all. */
  tail?: number;
  /** Follow mode's cursors: task or container ID -> byte offset to read its log from (a log named here ignores `tail`). */
  offsets?: Record<string, number>;
  /** Only the lines written at or after this wall time, ms (a log read from an offset is not filtered). */
  sinceMs?: number;
  /** Each chunk carries its lines' times. */
  timestamps?: boolean;
}

export interface LogChunk {
  taskId: string;
  /** service.slot.id or service.node.id; the container name for a container. */
  taskName: string;
  nodeId: string;
  data: Uint8Array;
  containerId: string;
  serviceName: string;
  slot: number;
  /** Set when this log could not be read (node down, agent not connected); `data` is then empty. */
  errorCode: string;
  errorMessage: string;
  /** Byte offset in the log just after `data`: the cursor of the next read. */
  end: number;
  /** The task or container had ended before the read: the log will not grow. */
  ended: boolean;
  /** With `timestamps`: each line's wall time, ms, in order (a last line without a newline included). */
  lineTimes: number[];
}

// ------------------------------------------------------------------------------ doctor

/**
 * The kinds of a DoctorDifference, in the order a report lists them: namespaces and links
 * first, as the overlay's applier goes.
 */
export const DOCTOR_KINDS = ['netns', 'link', 'addr', 'route', 'neigh', 'fdb', 'sysctl', 'nft', 'dns', 'task'] as const;

/** One difference between what a node's agent would program and what its kernel holds. */
export interface DoctorDifference {
  /** One of DOCTOR_KINDS. */
  kind: string;
  /** add: the kernel lacks it; delete: the kernel has it and should not; change: it differs. */
  change: 'add' | 'delete' | 'change' | (string & {});
  /** The namespace it is in ('' = the agent's own, the host). */
  netns: string;
  /** The object in its canonical one-line text (a change: ` (was: ...)` after it). */
  text: string;
}

/** Something a repair's sync did not apply. */
export interface DoctorFailure {
  /** What it was for: `overlay`, `sandbox ID`, `mesh`, `resolver`, `task ID`... */
  where: string;
  code: string;
  message: string;
}

/** One node's doctor answer. */
export interface DoctorReport {
  /** No difference (and, after a repair, nothing left unapplied). */
  clean: boolean;
  /** What differs now (after a repair: what still differs). */
  differences: DoctorDifference[];
  /** The report is a repair's. */
  repair: boolean;
  /** repair: the differences found before it that are gone after it. */
  repaired: DoctorDifference[];
  /** repair: what its sync reported it did not apply. */
  failures: DoctorFailure[];
}

export interface DoctorRequest {
  /** Nodes by ID, name or unique ID prefix; empty with `all`. */
  nodes?: string[];
  /** Every node of the cluster. */
  all?: boolean;
  repair?: boolean;
}

/** One node's doctor result through the manager: its report, or why it has none. */
export interface NodeDoctor {
  nodeId: string;
  nodeName: string;
  report?: DoctorReport;
  /** Set when the node could not be checked (down, not connected, no answer in time). */
  errorCode: string;
  errorMessage: string;
}
