/**
 * The gRPC servers of the manager API: decode -> authorise -> call the core -> encode, and
 * errors through the one status table (src/api/errors.ts).
 *
 * Two listeners:
 * - the unix socket in the data directory: the local administration API (networks,
 *   services, containers, nodes, swarm). No TLS: the socket file is mode 0600, so only its
 *   owner (root) reaches it, as with dockerd's socket.
 * - the TCP listen address: mTLS with certificates of the cluster CA. A caller without a
 *   verified certificate may only use the Ca service (fetch the root CA, join with a
 *   token); a worker certificate adds the Dispatcher (for its own node); a manager
 *   certificate adds the whole administration API (remote CLI). A certificate of a node
 *   that was removed is refused.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import type { Logger } from '../common/logger.ts';
import { asShoalError, ShoalError } from '../common/errors.ts';
import type { AgentReport, EndpointEvent, SessionRequest, WatchEndpointsRequest } from '../api/api-types.ts';
import type { NodeIdentity } from '../api/certificates.ts';
import { identityOfPeer } from './ca.ts';
import type { ManagerControl } from './control.ts';
import { apiError, ERROR_CODE_METADATA, ERROR_DETAILS_METADATA, grpcStatusOf } from '../api/errors.ts';
import { serviceDefinition, undecodableRequest } from '../api/proto.ts';
import type { ApiServiceName } from '../api/proto.ts';
import type { Dispatcher } from './session.ts';

export interface ApiServerOptions {
  control: ManagerControl;
  dispatcher: Dispatcher;
  logger: Logger;
  /** Path of the unix socket (created, mode 0600). */
  socketPath: string;
  /** IP:PORT of the mTLS listener. */
  listenAddr: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  clusterId: string;
}

type Access = 'local' | 'anyone' | 'node' | 'manager';

interface CallContext {
  access: Access;
  identity: NodeIdentity | undefined;
}

const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};

/** A ShoalError as a grpc-js status with the code and details in trailing metadata. */
export function toServiceError(err: ShoalError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA, err.code);
  try {
    metadata.set(ERROR_DETAILS_METADATA, JSON.stringify(err.details));
  } catch {
    // details that do not serialise are dropped; the code and message still go
  }
  return { code: grpcStatusOf(err), details: err.message, metadata };
}

/**
 * The server's certificates for grpc-js's certificate-provider credentials (the only server
 * credentials that request a client certificate without requiring one). `update` swaps
 * them for new connections (a renewal, a root CA rotation); connections already open keep
 * the handshake they made. Listeners are called on the next microtask: grpc-js registers
 * its own watcher only after adding ours, so a synchronous first update would be lost.
 */
class ServerCertificates implements experimental.CertificateProvider {
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();

  constructor(private tls: { caPem: string; certPem: string; keyPem: string }) {}

  update(tls: { caPem: string; certPem: string; keyPem: string }): void {
    this.tls = tls;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(tls.caPem) });
    for (const l of this.identityListeners) l({ certificate: Buffer.from(tls.certPem), privateKey: Buffer.from(tls.keyPem) });
  }
  addCaCertificateListener(l: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    queueMicrotask(() => l({ caCertificate: Buffer.from(this.tls.caPem) }));
  }
  removeCaCertificateListener(l: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    queueMicrotask(() => l({ certificate: Buffer.from(this.tls.certPem), privateKey: Buffer.from(this.tls.keyPem) }));
  }
  removeIdentityCertificateListener(l: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
  }
}

export class ApiServer {
  private readonly options: ApiServerOptions;
  private readonly local = new grpc.Server(SERVER_OPTIONS);
  private readonly remote = new grpc.Server(SERVER_OPTIONS);
  private tcpPort = 0;
  private readonly certificates: ServerCertificates;

  constructor(options: ApiServerOptions) {
    this.options = options;
    this.certificates = new ServerCertificates(options.tls);
    for (const name of ['Networks', 'Services', 'Containers', 'Runtime', 'Nodes', 'SwarmControl'] as const) {
      this.local.addService(serviceDefinition(name), this.handlers(name, 'local'));
      this.remote.addService(serviceDefinition(name), this.handlers(name, 'manager'));
    }
    this.remote.addService(serviceDefinition('Ca'), this.handlers('Ca', 'anyone'));
    this.remote.addService(serviceDefinition('Dispatcher'), this.handlers('Dispatcher', 'node'));
  }

  /** The bound TCP port (after start). */
  get port(): number {
    return this.tcpPort;
  }

  async start(): Promise<void> {
    const { socketPath, listenAddr } = this.options;
    // sun_path holds 107 bytes and a NUL; a longer path would fail with a bare EINVAL
    if (Buffer.byteLength(socketPath) > 107) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_CONFIG',
        `the socket path ${socketPath} is longer than 107 bytes (a unix socket limit): use a shorter --data-dir`,
        { details: { socketPath } },
      );
    }
    if (existsSync(socketPath)) unlinkSync(socketPath);
    await bind(this.local, `unix://${socketPath}`, grpc.ServerCredentials.createInsecure());
    chmodSync(socketPath, 0o600);
    const creds = experimental.createCertificateProviderServerCredentials(this.certificates, this.certificates, false);
    this.tcpPort = await bind(this.remote, listenAddr, creds);
  }

  /**
   * New certificates for connections from now on: `caPem` the roots client certificates
   * must chain to, `certPem` the server's certificate chain, `keyPem` its key.
   */
  updateTls(tls: { caPem: string; certPem: string; keyPem: string }): void {
    this.certificates.update(tls);
  }

  /** Stops accepting calls and waits for running ones (graceful). */
  async close(): Promise<void> {
    await Promise.all([shutdown(this.local), shutdown(this.remote)]);
    if (existsSync(this.options.socketPath)) unlinkSync(this.options.socketPath);
  }

  /** Cancels everything at once (immediate). */
  destroy(): void {
    this.local.forceShutdown();
    this.remote.forceShutdown();
  }

  private authorize(call: { getAuthContext(): { sslPeerCertificate?: unknown } | null }, access: Access): CallContext {
    if (access === 'local' || access === 'anyone') return { access, identity: undefined };
    const cert = call.getAuthContext()?.sslPeerCertificate;
    if (!cert) throw apiError('SHOAL_ERR_UNAUTHENTICATED', 'a client certificate of this cluster is required (join the cluster first)');
    const identity = identityOfPeer(cert as Parameters<typeof identityOfPeer>[0]);
    if (identity.clusterId !== this.options.clusterId)
      throw apiError('SHOAL_ERR_UNAUTHENTICATED', 'the client certificate belongs to another cluster');
    this.options.control.requireNode(identity.nodeId);
    if (access === 'manager' && identity.role !== 'manager') {
      throw apiError('SHOAL_ERR_PERMISSION_DENIED', 'this call needs a manager certificate; worker nodes may only use their session');
    }
    return { access, identity };
  }

  private fail(err: unknown, method: string): Partial<grpc.StatusObject> {
    const e = asShoalError(err);
    if (e.category === 'internal') this.options.logger.error({ err, method }, 'API call failed');
    return toServiceError(e);
  }

  private handlers(service: ApiServiceName, access: Access): grpc.UntypedServiceImplementation {
    const c = this.options.control;
    const unary =
      // biome-ignore lint/suspicious/noExplicitAny: each handler takes its own decoded request type
        (name: string, fn: (req: any, ctx: CallContext) => Promise<unknown>): grpc.handleUnaryCall<unknown, unknown> =>
        (call, callback) => {
          let ctx: CallContext;
          try {
            ctx = this.authorize(call, access);
          } catch (err) {
            callback(this.fail(err, `${service}/${name}`));
            return;
          }
          const undecodable = undecodableRequest(call.request);
          if (undecodable) {
            callback(this.fail(undecodable, `${service}/${name}`));
            return;
          }
          fn(call.request, ctx).then(
            (res) => callback(null, res ?? {}),
            (err: unknown) => callback(this.fail(err, `${service}/${name}`)),
          );
        };
    const empty = async (): Promise<object> => ({});
    switch (service) {
      case 'Networks':
        return {
          Create: unary('Create', (r) => c.createNetwork(r.spec)),
          List: unary('List', async (r) => ({ networks: await c.listNetworks(r) })),
          Inspect: unary('Inspect', (r) => c.inspectNetwork(r.network)),
          Remove: unary('Remove', (r) => c.removeNetwork(r.network).then(empty)),
          Prune: unary('Prune', async () => ({ removed: await c.pruneNetworks() })),
          Connect: unary('Connect', (r) => c.connectNetwork(r.network, r.container, r.aliases)),
          Disconnect: unary('Disconnect', (r) => c.disconnectNetwork(r.network, r.container, r.force).then(empty)),
          Endpoints: unary('Endpoints', (r) => c.networkEndpoints(r.network)),
        };
      case 'Services':
        return {
          Create: unary('Create', (r) => c.createService(r.spec)),
          List: unary('List', async (r) => ({ services: await c.listServices(r) })),
          Inspect: unary('Inspect', (r) => c.inspectService(r.service)),
          Update: unary('Update', (r) => c.updateService(r.service, r.spec, r.version, { rollback: r.rollback === true })),
          Scale: unary('Scale', (r) => c.scaleService(r.service, r.replicas)),
          Remove: unary('Remove', (r) => c.removeService(r.service).then(empty)),
          Tasks: unary('Tasks', async (r) => ({ tasks: await c.listTasks(r) })),
        };
      case 'Containers':
        return {
          Run: unary('Run', (r) => c.runContainer(r.spec)),
          List: unary('List', async (r) => ({ containers: await c.listContainers(r) })),
          Inspect: unary('Inspect', (r) => c.inspectContainer(r.container)),
          Remove: unary('Remove', (r) => c.removeContainer(r.container, r.force).then(empty)),
        };
      case 'Runtime':
        return {
          Exec: unary('Exec', (r) => c.exec(r)),
          Logs: unary('Logs', async (r) => ({ chunks: await c.logs(r) })),
          Doctor: unary('Doctor', async (r) => ({ nodes: await c.doctor(r) })),
        };
      case 'Nodes':
        return {
          List: unary('List', async (r) => ({ nodes: await c.listNodes(r) })),
          Inspect: unary('Inspect', (r) => c.inspectNode(r.node)),
          Update: unary('Update', (r) => c.updateNode(r.node, r.spec, r.version)),
          Remove: unary('Remove', (r) => c.removeNode(r.node, r.force).then(empty)),
        };
      case 'SwarmControl':
        return {
          Inspect: unary('Inspect', () => c.inspectSwarm()),
          JoinToken: unary('JoinToken', (r) => c.joinToken(r.role, r.rotate)),
          RotateGossipKey: unary('RotateGossipKey', () => c.rotateGossipKey()),
          Dump: unary('Dump', async () => ({ text: await c.dump() })),
          Version: unary('Version', () => c.version()),
          Update: unary('Update', (r) => c.updateSwarm(r)),
          CaStatus: unary('CaStatus', () => c.caStatus()),
          RotateCa: unary('RotateCa', (r) => c.rotateCa(r)),
        };
      case 'Ca':
        return {
          GetRootCa: unary('GetRootCa', async () => {
            const s = await c.inspectSwarm();
            return { certPem: s.rootCaCert, digest: s.caDigest };
          }),
          IssueNodeCertificate: unary('IssueNodeCertificate', (r) => c.issueNodeCertificate(r)),
        };
      case 'Dispatcher':
        return {
          NetworkEndpoints: unary('NetworkEndpoints', (r) => c.networkEndpoints(r.network)),
          Respond: unary('Respond', async (r, ctx) => {
            this.options.dispatcher.respond(ctx.identity!.nodeId, r);
            return {};
          }),
          // the node is the one its current certificate names (authorize refused a removed one)
          RenewCertificate: unary('RenewCertificate', (r, ctx) => c.renewCertificate(ctx.identity!.nodeId, r.csrPem ?? '')),
          WatchEndpoints: (call: grpc.ServerWritableStream<WatchEndpointsRequest, EndpointEvent>) => this.watchEndpoints(call),
          Session: (call: grpc.ServerWritableStream<SessionRequest, unknown>) => this.session(call),
          Report: (call: grpc.ServerReadableStream<AgentReport, unknown>, callback: grpc.sendUnaryData<unknown>) =>
            this.reportStream(call, callback),
        };
    }
  }

  /**
   * A node's assignment stream. Errors end the stream through its 'error' event: that is
   * how grpc-js sends a status on a server stream (destroy() would drop it).
   */
  private session(call: grpc.ServerWritableStream<SessionRequest, unknown>): void {
    let ctx: CallContext;
    try {
      ctx = this.authorize(call, 'node');
    } catch (err) {
      call.emit('error', this.fail(err, 'Dispatcher/Session'));
      return;
    }
    const nodeId = ctx.identity!.nodeId;
    let sessionId = '';
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      if (sessionId !== '') this.options.dispatcher.closeSession(nodeId, sessionId);
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
    this.options.dispatcher
      .open(nodeId, call.request, {
        write: (m) => {
          if (!ended) call.write(m);
        },
        fail: (err) => {
          if (ended) return;
          ended = true;
          call.emit('error', toServiceError(err));
        },
      })
      .then((id) => {
        sessionId = id;
        if (ended) this.options.dispatcher.closeSession(nodeId, id);
      })
      .catch((err: unknown) => {
        if (!ended) {
          ended = true;
          call.emit('error', this.fail(err, 'Dispatcher/Session'));
        }
      });
  }

  /** A node's endpoint watch: open until the agent cancels it or the server shuts down. */
  private watchEndpoints(call: grpc.ServerWritableStream<WatchEndpointsRequest, EndpointEvent>): void {
    let stop: (() => void) | undefined;
    let ended = false;
    const finish = (): void => {
      ended = true;
      stop?.();
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', finish);
    try {
      const ctx = this.authorize(call, 'node');
      stop = this.options.dispatcher.watchEndpoints(ctx.identity!.nodeId, call.request.networkIds ?? [], {
        write: (event) => {
          if (!ended) call.write(event);
        },
      });
      if (ended) stop();
    } catch (err) {
      ended = true;
      call.emit('error', this.fail(err, 'Dispatcher/WatchEndpoints'));
    }
  }

  private reportStream(call: grpc.ServerReadableStream<AgentReport, unknown>, callback: grpc.sendUnaryData<unknown>): void {
    let ctx: CallContext;
    try {
      ctx = this.authorize(call, 'node');
    } catch (err) {
      callback(this.fail(err, 'Dispatcher/Report'));
      return;
    }
    const nodeId = ctx.identity!.nodeId;
    let received = 0;
    let chain = Promise.resolve();
    let done = false;
    call.on('data', (report: AgentReport) => {
      received++;
      // reports apply in order; one failing report does not stop the stream
      chain = chain.then(() =>
        this.options.dispatcher.report(nodeId, report).catch((err: unknown) => {
          this.options.logger.warn({ err, nodeId }, 'agent report failed');
        }),
      );
    });
    const end = (): void => {
      if (done) return;
      done = true;
      void chain.then(() => callback(null, { received }));
    };
    call.on('end', end);
    call.on('error', () => {
      done = true;
    });
  }
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new ShoalError('SHOAL_ERR_INVALID_CONFIG', `cannot listen on ${address}: ${err.message}`, { cause: err }));
      else resolve(port);
    });
  });
}

function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
