/**
 * The typed client of the manager API, used by the CLI, by agents and by tests.
 *
 * `connectManager()` reaches the manager the way Docker's CLI reaches dockerd: `--host`
 * (or SHOAL_HOST) in DOCKER_HOST's form, `unix:///path/to/manager.sock` (no TLS; file
 * permissions guard the socket) or `tcp://IP:2377` (mTLS with a node certificate of this
 * cluster: ca.crt, node.crt and node.key from `tlsDir`, SHOAL_CERT_PATH or
 * DATA-DIR/certificates; the full API needs a manager-role certificate). Without either,
 * it uses the unix socket in the data directory (--data-dir, SHOAL_DATA_DIR,
 * /var/lib/shoal).
 *
 * Every method returns plain objects shaped as in api-types.ts and throws ShoalError with
 * the code the manager threw (see errors.ts); connection failures are
 * SHOAL_ERR_MANAGER_UNREACHABLE.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { ShoalError } from '../common/errors.ts';
import type {
  Container,
  ContainerSpec,
  IssueCertificateRequest,
  IssueCertificateResponse,
  JoinToken,
  ListContainersFilter,
  ListNetworksFilter,
  ListNodesFilter,
  ListServicesFilter,
  ListTasksFilter,
  Network,
  NetworkEndpoints,
  NetworkSpec,
  Node,
  NodeRole,
  NodeSpec,
  RootCa,
  Service,
  ServiceSpec,
  Swarm,
  VersionInfo,
  Task,
} from './api-types.ts';
import { dataDirPaths, resolveDataDir } from './data-dir.ts';
import { MANAGER_DNS_NAME, ROLE_UNITS } from './certificates.ts';
import { apiError, codeForBareStatus, ERROR_CODE_METADATA, ERROR_DETAILS_METADATA, errorForBareStatus } from './errors.ts';
import { codecFor, methodsOf } from './proto.ts';
import type { ApiServiceName, MethodInfo } from './proto.ts';

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
  updateService(service: string, spec: ServiceSpec, version?: number): Promise<Service>;
  scaleService(service: string, replicas: number): Promise<Service>;
  removeService(service: string): Promise<void>;
  /** `service ps`: tasks filtered by service, node, desired state. */
  listTasks(filter?: ListTasksFilter): Promise<Task[]>;

  // standalone containers
  runContainer(spec: ContainerSpec): Promise<Container>;
  listContainers(filter?: ListContainersFilter): Promise<Container[]>;
  inspectContainer(container: string): Promise<Container>;
  removeContainer(container: string, force?: boolean): Promise<void>;

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
}

export interface ConnectOptions {
  /** `unix:///path` or `tcp://IP:PORT` (or bare `IP:PORT`); default SHOAL_HOST, then the data dir's socket. */
  host?: string;
  /** Data directory whose socket (and certificates) to use. */
  dataDir?: string;
  /** Directory with ca.crt, node.crt, node.key for tcp:// hosts. */
  tlsDir?: string;
  /** Deadline of each unary call, ms (default 60,000). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface TlsMaterial {
  /** The cluster CA; null only with insecureSkipVerify. */
  ca: Buffer | null;
  cert?: Buffer;
  key?: Buffer;
  /** Skip verifying the server against `ca` (only to fetch the root CA before checking its digest). */
  insecureSkipVerify?: boolean;
}

export interface Target {
  /** The grpc-js target string. */
  target: string;
  /** What the user named, for messages. */
  display: string;
  secure: boolean;
}

/** Parses a DOCKER_HOST-style address into a grpc-js target. */
export function parseHost(host: string): Target {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw apiError('SHOAL_ERR_BAD_SPEC', `host ${JSON.stringify(host)}: a unix socket path must be absolute (unix:///path)`);
    return { target: `unix://${path}`, display: host, secure: false };
  }
  const hostPort = host.startsWith('tcp://') ? host.slice('tcp://'.length) : host;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):(\d{1,5})$/.exec(hostPort);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw apiError('SHOAL_ERR_BAD_SPEC', `host ${JSON.stringify(host)} is not unix:///path or tcp://IP:PORT`);
  }
  return { target: `${m[1]}:${m[2]}`, display: `tcp://${hostPort}`, secure: true };
}

/** The host to use from options and environment. */
export function resolveHost(options: ConnectOptions = {}): string {
  const env = options.env ?? process.env;
  if (options.host !== undefined && options.host !== '') return options.host;
  const fromEnv = env['SHOAL_HOST'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return `unix://${dataDirPaths(resolveDataDir(options.dataDir, env)).socket}`;
}

/** Reads ca.crt, node.crt, node.key from a certificate directory. */
export function readTlsDir(dir: string): TlsMaterial {
  try {
    return { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'node.crt')), key: readFileSync(join(dir, 'node.key')) };
  } catch (err) {
    throw apiError('SHOAL_ERR_CERTIFICATE', `cannot read TLS certificates from ${dir}: ${(err as Error).message}`, { dir }, err);
  }
}

/**
 * Accepts the server's certificate when it is a manager certificate of this cluster (the
 * chain is already verified against the cluster CA), whatever address was dialled: node
 * certificates name node IDs, not host names.
 */
function checkManagerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  const ou = cert.subject?.OU;
  const units = Array.isArray(ou) ? ou : [ou];
  if (units.includes(ROLE_UNITS.manager)) return undefined;
  return apiError('SHOAL_ERR_CERTIFICATE', 'the server certificate is not a shoal manager certificate');
}

export function channelCredentials(tls: TlsMaterial | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null, {
    checkServerIdentity: checkManagerIdentity,
    ...(tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
  });
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // node certificates name node IDs, not addresses: verify the role (checkManagerIdentity)
  // and present this name as SNI instead of an IP address
  'grpc.ssl_target_name_override': MANAGER_DNS_NAME,
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** Turns a grpc-js error into the ShoalError the manager threw. */
export function fromGrpcError(err: grpc.ServiceError, display: string): ShoalError {
  const code = err.metadata?.get(ERROR_CODE_METADATA)[0];
  if (typeof code === 'string' && code !== '') {
    let details: Record<string, unknown> = {};
    const raw = err.metadata.get(ERROR_DETAILS_METADATA)[0];
    if (typeof raw === 'string') {
      try {
        details = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        details = {};
      }
    }
    // kept as sent: a newer manager's code, or one of a module this process never loads (ipam), must reach the user
    return ShoalError.remote(code, err.details, { details });
  }
  if (codeForBareStatus(err.code) === 'SHOAL_ERR_MANAGER_UNREACHABLE') {
    return apiError(
      'SHOAL_ERR_MANAGER_UNREACHABLE',
      `cannot connect to the shoal manager at ${display}: ${err.details}. Is the manager running?`,
      undefined,
      err,
    );
  }
  return errorForBareStatus(err.code, err.details || err.message, err);
}

/** A channel to the manager with typed unary and streaming calls by service and method name. */
export class ApiConnection {
  readonly target: Target;
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;
  private readonly methods = new Map<string, MethodInfo>();

  constructor(target: Target, tls: TlsMaterial | undefined, timeoutMs = 60_000) {
    this.target = target;
    this.timeoutMs = timeoutMs;
    this.client = new grpc.Client(target.target, channelCredentials(target.secure ? tls : undefined), CHANNEL_OPTIONS);
  }

  private method(service: ApiServiceName, name: string): MethodInfo {
    const key = `${service}/${name}`;
    let m = this.methods.get(key);
    if (!m) {
      m = methodsOf(service).find((x) => x.name === name);
      if (!m) throw apiError('SHOAL_ERR_BAD_SPEC', `no method ${key} in api.proto`);
      this.methods.set(key, m);
    }
    return m;
  }

  unary<Req, Res>(service: ApiServiceName, name: string, request: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    const m = this.method(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<Req, Res>(
        m.path,
        (v) => req.encode(v),
        (b) => res.decode(b),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(fromGrpcError(err, this.target.display));
          else resolve(value as Res);
        },
      );
    });
  }

  /** A server stream; the caller reads with `on('data')` and ends it with `cancel()`. */
  serverStream<Req, Res>(service: ApiServiceName, name: string, request: Req): grpc.ClientReadableStream<Res> {
    const m = this.method(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return this.client.makeServerStreamRequest<Req, Res>(
      m.path,
      (v) => req.encode(v),
      (b) => res.decode(b),
      request,
      new grpc.Metadata(),
      {},
    );
  }

  /** A client stream; `done` gets the single response or the error. */
  clientStream<Req, Res>(
    service: ApiServiceName,
    name: string,
    done: (err: ShoalError | null, value?: Res) => void,
  ): grpc.ClientWritableStream<Req> {
    const m = this.method(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return this.client.makeClientStreamRequest<Req, Res>(
      m.path,
      (v) => req.encode(v),
      (b) => res.decode(b),
      new grpc.Metadata(),
      {},
      (err, value) => {
        if (err) done(fromGrpcError(err, this.target.display));
        else done(null, value);
      },
    );
  }

  /** Resolves when the channel is connected, or rejects with SHOAL_ERR_MANAGER_UNREACHABLE. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (err)
          reject(
            apiError(
              'SHOAL_ERR_MANAGER_UNREACHABLE',
              `cannot connect to the shoal manager at ${this.target.display}: ${err.message}`,
              undefined,
              err,
            ),
          );
        else resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The manager API over gRPC. */
export class ManagerClient implements ManagerApi {
  readonly connection: ApiConnection;

  constructor(connection: ApiConnection) {
    this.connection = connection;
  }

  private call<Res>(service: ApiServiceName, method: string, request: unknown): Promise<Res> {
    return this.connection.unary<unknown, Res>(service, method, request);
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
  async updateService(service: string, spec: ServiceSpec, version = 0): Promise<Service> {
    return this.call('Services', 'Update', { service, spec, version });
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
 * Connects to the manager named by the options (see the module comment). The channel is
 * lazy: the first call fails with SHOAL_ERR_MANAGER_UNREACHABLE if nobody answers.
 */
export function connectManager(options: ConnectOptions = {}): ManagerClient {
  const env = options.env ?? process.env;
  const target = parseHost(resolveHost(options));
  let tls: TlsMaterial | undefined;
  if (target.secure) {
    const dir = options.tlsDir ?? env['SHOAL_CERT_PATH'] ?? dataDirPaths(resolveDataDir(options.dataDir, env)).certDir;
    tls = readTlsDir(dir);
  }
  return new ManagerClient(new ApiConnection(target, tls, options.timeoutMs));
}
