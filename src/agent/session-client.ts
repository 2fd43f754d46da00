/**
 * The agent's session with the manager: over mTLS, it receives the node's assignment (a
 * versioned snapshot, then deltas), reports heartbeats and task and container states, and
 * reconnects with backoff when the stream breaks.
 *
 * The assignment is kept as a model (`AssignmentState`) by a pure reducer, so the agent's
 * subsystems (overlay, vip, dns, tasks) read one consistent view and are triggered on
 * change. Running tasks is not this module's business: the agent tells the session what
 * its tasks and containers do (`reportTasks`, `reportContainers`). The session keeps the
 * latest state of each, sends it when connected, and sends every one still in the
 * assignment again after each (re)connect, so a state reached while the manager was away
 * (or lost with a broken stream) always arrives. Likewise the draining endpoints its load
 * balancers have left (`reportDrained`): sent once, and again after each (re)connect while
 * they are still draining as far as the session has seen (in the assignment or an endpoint
 * watch), since a restarted manager waits for them afresh. And the other way, the endpoints
 * its load balancers now send new connections to (`reportJoined`), which a rolling update
 * waits for: each sent once when it joins, and after a (re)connect again if it joined within
 * the last JOIN_ACK_RESEND_MS (a restarted manager waits only for recent tasks).
 *
 * The session is also the manager's only way to the agent: exec, logs and doctor requests arrive
 * on it and go to `onRequest`, whose answer travels back with Dispatcher.Respond. And
 * `watchEndpoints` streams the manager's endpoint lists of chosen networks (the truth that
 * fills what gossip lost): a fresh snapshot on every (re)connect, deltas after, reopened
 * with backoff when the stream breaks.
 *
 * The current assignment is also written to DATA-DIR/assignment.json after every message
 * (for operators and tests; the manager stays the source of truth).
 *
 * The session also keeps the node's certificate fresh (src/api/cert-renewal.ts): at a
 * random point between 50% and 80% of its validity, and at once when the assignment's
 * trusted roots (`ca`) name a signing root other than the one of its certificate (a root
 * CA rotation), it makes a new key and sends a CSR for it with Dispatcher.RenewCertificate
 * over the current connection, authenticated by the current certificate. The new identity
 * is checked (our key, our node ID, signed by a trusted root), saved in DATA-DIR (join.ts
 * saveIdentity: key 0600, crash-safe as a pair) and the session reconnects with it at once:
 * the manager sees a new session of the same node (no missed heartbeat, nothing moves), and
 * the agent's kernel state is untouched (the next snapshot says what the last one said).
 * A change of the trusted roots alone updates ca.crt and the roots of the next handshake.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import os from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { asShoalError } from '../common/errors.ts';
import type { ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type {
  AgentReport,
  AgentRequest,
  AgentResponse,
  AgentResponseBody,
  Container,
  ContainerStatusUpdate,
  Endpoint,
  EndpointEvent,
  GossipKeyring,
  Network,
  Node,
  Peer,
  Service,
  SessionMessage,
  SessionRequest,
  TaskStatusUpdate,
  Task,
  WatchEndpointsRequest,
} from '../api/api-types.ts';
import { DEFAULT_GOSSIP_PORT } from '../api/api-defaults.ts';
import { GrpcConnection } from '../api/grpc-connection.ts';
import { parseHost } from '../api/manager-target.ts';
import { apiError, ERROR_CODE_METADATA } from '../api/errors.ts';
import { writeFileAtomic } from '../common/fs.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import { RenewalScheduler } from '../api/cert-renewal.ts';
import { caDigest, identityOfCertificate, issuingRoot, splitPemCertificates } from '../api/certificates.ts';
import { createNodeCsr } from '../api/csr.ts';
import type { CaTrust, RenewCertificateRequest, RenewCertificateResponse } from '../api/api-types.ts';
import type { AgentIdentity } from './join.ts';
import { saveIdentity } from './join.ts';

/** What the agent knows of its assignment. */
export interface AssignmentState {
  sessionId: string;
  /** Store revision the assignment reflects. */
  version: number;
  node: Node | undefined;
  networks: Map<string, Network>;
  tasks: Map<string, Task>;
  services: Map<string, Service>;
  endpoints: Map<string, Endpoint>;
  containers: Map<string, Container>;
  peers: Map<string, Peer>;
  keyring: GossipKeyring | undefined;
}

export function emptyState(): AssignmentState {
  return {
    sessionId: '',
    version: 0,
    node: undefined,
    networks: new Map(),
    tasks: new Map(),
    services: new Map(),
    endpoints: new Map(),
    containers: new Map(),
    peers: new Map(),
    keyring: undefined,
  };
}

/** Applies one session message (pure: returns a new state; a "requests" message changes nothing). */
export function applySessionMessage(prev: AssignmentState, msg: SessionMessage): AssignmentState {
  if (msg.kind === 'requests') return prev;
  const base = msg.kind === 'snapshot' ? emptyState() : prev;
  const next: AssignmentState = {
    sessionId: msg.sessionId,
    version: msg.version,
    node: msg.updates.node ?? base.node,
    networks: new Map(base.networks),
    tasks: new Map(base.tasks),
    services: new Map(base.services),
    endpoints: new Map(base.endpoints),
    containers: new Map(base.containers),
    peers: new Map(base.peers),
    keyring: msg.updates.keyring ?? base.keyring,
  };
  for (const n of msg.updates.networks) next.networks.set(n.id, n);
  for (const t of msg.updates.tasks) next.tasks.set(t.id, t);
  for (const s of msg.updates.services) next.services.set(s.id, s);
  for (const e of msg.updates.endpoints) next.endpoints.set(e.id, e);
  for (const c of msg.updates.containers) next.containers.set(c.id, c);
  for (const p of msg.updates.peers) next.peers.set(p.nodeId, p);
  for (const id of msg.removals.networkIds) next.networks.delete(id);
  for (const id of msg.removals.taskIds) next.tasks.delete(id);
  for (const id of msg.removals.serviceIds) next.services.delete(id);
  for (const id of msg.removals.endpointIds) next.endpoints.delete(id);
  for (const id of msg.removals.containerIds) next.containers.delete(id);
  for (const id of msg.removals.peerIds) next.peers.delete(id);
  return next;
}

/** One event of an endpoint watch, as the agent consumes it. */
export interface EndpointWatchEvent {
  networkId: string;
  /** True: `upserts` is the network's complete list and replaces what the agent had. */
  snapshot: boolean;
  /** The store revision the event reflects. */
  version: number;
  /** Endpoints added or changed (all of them in a snapshot). */
  upserts: Endpoint[];
  /** IDs of endpoints that are gone (always empty in a snapshot). */
  removals: string[];
}

/** A running endpoint watch. */
export interface EndpointWatch {
  /** Watches these networks from now on: a snapshot of each one added, the others go on; an empty list pauses the watch. */
  update(networkIds: string[]): void;
  /** Ends the watch (idempotent). */
  close(): void;
}

export interface AgentSessionOptions {
  identity: AgentIdentity;
  /** IP:PORT of the manager (default: the identity's). */
  managerAddr?: string;
  advertiseAddr: string;
  /** The UDP and TCP port this agent's gossip listens on (default DEFAULT_GOSSIP_PORT, 7946); the manager hands it to the peers. */
  gossipPort?: number;
  /** Where assignment.json is written; omit to write nothing. */
  dataDir?: string;
  hostname?: string;
  clock?: Clock;
  logger?: Logger;
  /** Called after every applied assignment message. */
  onState?: (state: AssignmentState) => void;
  /** Called with true when a session is established (its snapshot arrived), false when it is lost. */
  onConnection?: (up: boolean) => void;
  /**
   * Answers a request the manager relays (exec, logs, doctor). Without it every request is
   * answered SHOAL_ERR_UNSUPPORTED. A throw becomes an answer with the error's code.
   */
  onRequest?: (request: AgentRequest) => Promise<AgentResponseBody>;
  /** Called when the manager refuses this node for good (removed): the session stops. */
  onFatal?: (err: ShoalError) => void;
  /** First reconnect delay, ms; doubles up to reconnectMaxMs (sessions and endpoint watches alike). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Deadline of a Respond call, ms (default 10 000). */
  respondTimeoutMs?: number;
  /** Uniform in [0, 1): the draw of the renewal point (default Math.random). */
  random?: () => number;
  /** Called with the new identity after each certificate renewal. */
  onIdentity?: (identity: AgentIdentity) => void;
}

/** One network of a watch: its own stream, retried on its own. */
interface NetWatch {
  networkId: string;
  stream: grpc.ClientReadableStream<EndpointEvent> | undefined;
  timer: Timer | undefined;
  backoff: number;
  /** Bumped whenever the stream is replaced: events of an older stream are ignored. */
  gen: number;
}

interface WatchState {
  nets: Map<string, NetWatch>;
  onEvent: (e: EndpointWatchEvent) => void;
  closed: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * How long after an endpoint joined this node's load balancers its acknowledgement is sent
 * again after a (re)connect, ms. The manager waits for acknowledgements only for tasks that
 * started running within its timeout (10 s, join-tracker.ts), and a task runs before any load
 * balancer takes it, so older ones are not worth resending (a node may balance to 100k endpoints).
 */
export const JOIN_ACK_RESEND_MS = 30_000;

export class AgentSession {
  private readonly options: AgentSessionOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private conn: GrpcConnection | undefined;
  private sessionStream: grpc.ClientReadableStream<SessionMessage> | undefined;
  private reportStream: grpc.ClientWritableStream<AgentReport> | undefined;
  private heartbeatTimer: Timer | undefined;
  private reconnectTimer: Timer | undefined;
  private backoff: number;
  private stopped = true;
  /** A snapshot arrived on the current connection. */
  private established = false;
  private current: AssignmentState = emptyState();
  private generation = 0;
  /** The latest reported state of each task and container (resent after every reconnect). */
  private readonly taskReports = new Map<string, TaskStatusUpdate>();
  private readonly containerReports = new Map<string, ContainerStatusUpdate>();
  /** Draining endpoints seen in the assignment or an endpoint watch: endpoint ID -> network ID. */
  private readonly draining = new Map<string, string>();
  /** Draining endpoints the agent said its load balancers left (resent after a reconnect while still draining). */
  private readonly drainedAcks = new Set<string>();
  /** The endpoints the load balancers send new connections to, as last reported: ID -> clock.now() when it joined. */
  private readonly joined = new Map<string, number>();
  /** Joined endpoints not sent yet (reported while no session was up): sent at the next connect, whatever their age. */
  private readonly joinedUnsent = new Set<string>();
  private readonly watches = new Set<WatchState>();
  /** Messages applied since start (tests, diagnostics). */
  messages = 0;
  /** Requests answered since start (tests, diagnostics). */
  answered = 0;
  /** The node's current identity (its certificate changes at each renewal). */
  private identity: AgentIdentity;
  private readonly renewals: RenewalScheduler;
  /** The trusted roots' version last applied from the assignment. */
  private caVersion = -1;

  constructor(options: AgentSessionOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.backoff = this.minBackoff;
    this.identity = options.identity;
    this.renewals = new RenewalScheduler({
      clock: this.clock,
      random: options.random ?? Math.random,
      renew: () => this.renewCertificate(),
      onError: (err, retryMs) => this.logger.warn({ err, retryMs }, 'certificate renewal failed; retrying'),
    });
  }

  /** The identity the session connects with now (its certificate changes at each renewal). */
  get currentIdentity(): AgentIdentity {
    return this.identity;
  }

  /** Certificate renewals that succeeded (tests, diagnostics). */
  get certificateRenewals(): number {
    return this.renewals.renewals;
  }

  /** When the next scheduled renewal is due, wall ms (tests, diagnostics). */
  get renewalDueAt(): number | undefined {
    return this.renewals.dueAt;
  }

  private get minBackoff(): number {
    return this.options.reconnectMinMs ?? 200;
  }

  private get maxBackoff(): number {
    return this.options.reconnectMaxMs ?? 5000;
  }

  get state(): AssignmentState {
    return this.current;
  }

  /** Whether a session is established now (its snapshot arrived and the stream holds). */
  get connected(): boolean {
    return this.established;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.renewals.schedule(this.identity.certPem);
    this.connect();
  }

  // ------------------------------------------------------------------ certificate

  /** The assignment's trusted roots: adopt the bundle, and renew when another root signs now. */
  private onTrust(ca: CaTrust): void {
    if (ca.version === this.caVersion || ca.trustBundlePem === '') return;
    this.caVersion = ca.version;
    if (ca.trustBundlePem !== this.identity.caPem) {
      this.identity = { ...this.identity, caPem: ca.trustBundlePem };
      this.saveIdentity();
      this.logger.info({ roots: splitPemCertificates(ca.trustBundlePem).length }, 'trusted root CAs updated');
    }
    const root = issuingRoot(this.identity.certPem, ca.trustBundlePem);
    if (root === undefined || caDigest(root) !== ca.rootDigest) {
      this.logger.info({ rootDigest: ca.rootDigest.slice(0, 12) }, 'a new root CA signs now: renewing this node certificate');
      this.renewals.renewNow();
    }
  }

  private saveIdentity(): void {
    if (!this.options.dataDir) return;
    try {
      saveIdentity(this.options.dataDir, this.identity);
    } catch (err) {
      this.logger.warn({ err }, 'cannot save the node identity');
    }
  }

  /**
   * One renewal: a new key, a CSR for it over the current connection, the new certificate
   * checked, saved, and the session reconnected with it. Resolves with the new certificate.
   */
  private async renewCertificate(): Promise<string> {
    const conn = this.conn;
    if (!conn || !this.established) throw apiError('SHOAL_ERR_MANAGER_UNREACHABLE', 'no session with the manager to renew over');
    const key = createNodeCsr(this.identity.nodeId);
    const res = await conn.unary<RenewCertificateRequest, RenewCertificateResponse>(
      'Dispatcher',
      'RenewCertificate',
      { csrPem: key.csrPem },
      this.options.respondTimeoutMs ?? 10_000,
    );
    const named = identityOfCertificate(res.certPem);
    const bundle = res.trustBundlePem !== '' ? res.trustBundlePem : this.identity.caPem;
    if (named.nodeId !== this.identity.nodeId || issuingRoot(res.certPem, bundle) === undefined) {
      throw apiError('SHOAL_ERR_CERTIFICATE', 'the manager returned a certificate for another node or not signed by a trusted root');
    }
    const ours = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
    if (!new X509Certificate(res.certPem).publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
      throw apiError('SHOAL_ERR_CERTIFICATE', "the manager returned a certificate for another key than this node's new one");
    }
    this.identity = { ...this.identity, role: named.role, certPem: res.certPem, keyPem: key.keyPem, caPem: bundle };
    this.saveIdentity();
    this.logger.info(
      { validTo: named.validTo, fingerprint: named.fingerprint.slice(0, 12) },
      'node certificate renewed; reconnecting with it',
    );
    this.options.onIdentity?.(this.identity);
    if (!this.stopped) {
      // the new certificate from the next handshake on; heartbeats resume with the new session's snapshot
      this.teardownStreams();
      this.backoff = this.minBackoff;
      this.connect();
    }
    return res.certPem;
  }

  // ------------------------------------------------------------------ reports

  /**
   * Task states from the agent (started, exited with its code, health changed): sent now
   * when connected, and the latest of each task still in the assignment is sent again
   * after every (re)connect.
   */
  reportTasks(updates: readonly TaskStatusUpdate[]): void {
    if (updates.length === 0) return;
    for (const u of updates) this.taskReports.set(u.taskId, u);
    if (this.established) {
      this.send({
        sessionId: this.current.sessionId,
        heartbeat: false,
        tasks: [...updates],
        containers: [],
        drainedEndpointIds: [],
        joinedEndpointIds: [],
      });
      for (const u of updates) if (!this.current.tasks.has(u.taskId)) this.taskReports.delete(u.taskId);
    }
  }

  /** Container states from the agent; kept and resent like task states. */
  reportContainers(updates: readonly ContainerStatusUpdate[]): void {
    if (updates.length === 0) return;
    for (const u of updates) this.containerReports.set(u.containerId, u);
    if (this.established) {
      this.send({
        sessionId: this.current.sessionId,
        heartbeat: false,
        tasks: [],
        containers: [...updates],
        drainedEndpointIds: [],
        joinedEndpointIds: [],
      });
      for (const u of updates) if (!this.current.containers.has(u.containerId)) this.containerReports.delete(u.containerId);
    }
  }

  /** Forgets the reports of tasks and containers that left the assignment. */
  private pruneReports(): void {
    for (const id of this.taskReports.keys()) if (!this.current.tasks.has(id)) this.taskReports.delete(id);
    for (const id of this.containerReports.keys()) if (!this.current.containers.has(id)) this.containerReports.delete(id);
  }

  /**
   * Draining endpoints (Endpoint.state) to which this node's load balancers no longer send
   * new connections (AgentReport.drained_endpoint_ids): each ID is sent once, now when
   * connected, else at the next connect; after every (re)connect the ones still draining
   * as far as this session has seen (in the assignment or an endpoint watch) are sent
   * again, in one report with the resent task and container states. An ID the session has
   * not seen draining is sent once and not remembered.
   */
  reportDrained(endpointIds: readonly string[]): void {
    const fresh = [...new Set(endpointIds)].filter((id) => typeof id === 'string' && id !== '' && !this.drainedAcks.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) this.drainedAcks.add(id);
    if (!this.established) return;
    this.send({
      sessionId: this.current.sessionId,
      heartbeat: false,
      tasks: [],
      containers: [],
      drainedEndpointIds: fresh,
      joinedEndpointIds: [],
    });
    for (const id of fresh) if (!this.draining.has(id)) this.drainedAcks.delete(id);
  }

  /**
   * The endpoints to which this node's load balancers now send new connections (the full
   * set, every time: AgentReport.joined_endpoint_ids carries the change). Sent, now when
   * connected, else at the next connect: the IDs not in the previous call's set, each once;
   * an ID that leaves the set and comes back is sent again. After every (re)connect the IDs
   * that joined within the last JOIN_ACK_RESEND_MS are sent again (a restarted manager has
   * no acknowledgements), in one report with the resent task and container states; older
   * ones are not, unless they were never sent.
   */
  reportJoined(endpointIds: readonly string[]): void {
    const now = this.clock.now();
    const current = new Set(endpointIds.filter((id) => typeof id === 'string' && id !== ''));
    for (const id of this.joined.keys()) {
      if (current.has(id)) continue;
      this.joined.delete(id);
      this.joinedUnsent.delete(id);
    }
    const fresh: string[] = [];
    for (const id of current) {
      if (this.joined.has(id)) continue;
      this.joined.set(id, now);
      fresh.push(id);
    }
    if (fresh.length === 0) return;
    if (!this.established) {
      for (const id of fresh) this.joinedUnsent.add(id);
      return;
    }
    this.send({
      sessionId: this.current.sessionId,
      heartbeat: false,
      tasks: [],
      containers: [],
      drainedEndpointIds: [],
      joinedEndpointIds: fresh,
    });
  }

  /** The joined endpoints to send after a (re)connect: those never sent, and those that joined recently. */
  private joinedToResend(): string[] {
    const since = this.clock.now() - JOIN_ACK_RESEND_MS;
    const out: string[] = [];
    for (const [id, at] of this.joined) if (at >= since || this.joinedUnsent.has(id)) out.push(id);
    this.joinedUnsent.clear();
    return out;
  }

  /** Sends the latest state of every task and container still in the assignment, and the drained and joined endpoints (after a (re)connect). */
  private resendReports(): void {
    const drained = [...this.drainedAcks];
    for (const id of drained) if (!this.draining.has(id)) this.drainedAcks.delete(id);
    const joined = this.joinedToResend();
    if (this.taskReports.size === 0 && this.containerReports.size === 0 && drained.length === 0 && joined.length === 0) return;
    this.send({
      sessionId: this.current.sessionId,
      heartbeat: false,
      tasks: [...this.taskReports.values()],
      containers: [...this.containerReports.values()],
      drainedEndpointIds: drained,
      joinedEndpointIds: joined,
    });
  }

  /** An endpoint's latest state as the assignment or a watch says: remembered while draining. */
  private noteEndpoint(e: Endpoint): void {
    if (e.state === 'draining') this.draining.set(e.id, e.networkId);
    else this.forgetDraining(e.id);
  }

  /** The endpoint is gone or no longer draining: nothing more to say about it. */
  private forgetDraining(id: string): void {
    this.draining.delete(id);
    this.drainedAcks.delete(id);
  }

  /** Follows the draining endpoints of one watch event. */
  private noteWatchEvent(e: EndpointEvent): void {
    for (const x of e.endpoints) this.noteEndpoint(x);
    for (const id of e.removedIds) this.forgetDraining(id);
    if (e.kind !== 'snapshot') return;
    const listed = new Set(e.endpoints.map((x) => x.id));
    for (const [id, networkId] of [...this.draining]) {
      if (networkId === e.networkId && !listed.has(id) && !this.current.endpoints.has(id)) this.forgetDraining(id);
    }
  }

  /** Forgets the draining endpoints of networks that neither a watch nor the assignment shows any more. */
  private pruneUnwatched(): void {
    const watched = new Set<string>();
    for (const w of this.watches) if (!w.closed) for (const id of w.nets.keys()) watched.add(id);
    for (const [id, networkId] of [...this.draining]) {
      if (!watched.has(networkId) && !this.current.endpoints.has(id)) this.forgetDraining(id);
    }
  }

  // ------------------------------------------------------------------ endpoint watches

  /**
   * Streams the manager's endpoint lists of these networks (each must be in this node's
   * assignment): a snapshot per network, then deltas. Each network has its own stream, so
   * one the node may not watch (yet) is retried with backoff without holding up the others;
   * every stream is reopened after each session (re)connect, from a fresh snapshot.
   */
  watchEndpoints(networkIds: readonly string[], onEvent: (e: EndpointWatchEvent) => void): EndpointWatch {
    const w: WatchState = { nets: new Map(), onEvent, closed: false };
    this.watches.add(w);
    const set = (ids: readonly string[]): void => {
      const wanted = new Set(ids);
      for (const [id, n] of w.nets) {
        if (wanted.has(id)) continue;
        this.stopNet(n);
        w.nets.delete(id);
      }
      for (const id of wanted) {
        if (w.nets.has(id)) continue;
        const n: NetWatch = { networkId: id, stream: undefined, timer: undefined, backoff: this.minBackoff, gen: 0 };
        w.nets.set(id, n);
        this.openNet(w, n);
      }
    };
    set(networkIds);
    return {
      update: (ids) => {
        if (w.closed) return;
        set(ids);
        this.pruneUnwatched();
      },
      close: () => {
        if (w.closed) return;
        w.closed = true;
        for (const n of w.nets.values()) this.stopNet(n);
        this.watches.delete(w);
        this.pruneUnwatched();
      },
    };
  }

  private stopNet(n: NetWatch): void {
    n.gen++;
    n.timer?.cancel();
    n.timer = undefined;
    const stream = n.stream;
    n.stream = undefined;
    try {
      stream?.cancel();
    } catch {
      // already closed
    }
  }

  /** (Re)opens one network's stream now, when the session is up; else it waits for the next one. */
  private openNet(w: WatchState, n: NetWatch): void {
    this.stopNet(n);
    const conn = this.conn;
    if (w.closed || !this.established || !conn) return;
    const gen = n.gen;
    const stream = conn.serverStream<WatchEndpointsRequest, EndpointEvent>('Dispatcher', 'WatchEndpoints', { networkIds: [n.networkId] });
    n.stream = stream;
    stream.on('data', (e: EndpointEvent) => {
      if (gen !== n.gen) return;
      n.backoff = this.minBackoff;
      this.noteWatchEvent(e);
      try {
        w.onEvent({
          networkId: e.networkId,
          snapshot: e.kind === 'snapshot',
          version: e.version,
          upserts: e.endpoints,
          removals: e.removedIds,
        });
      } catch (err) {
        this.logger.warn({ err, networkId: e.networkId }, 'endpoint watch handler failed');
      }
    });
    const broken = (err: grpc.ServiceError | undefined): void => {
      if (gen !== n.gen) return;
      n.stream = undefined;
      if (w.closed || !this.established) return;
      const delay = n.backoff;
      n.backoff = Math.min(n.backoff * 2, this.maxBackoff);
      this.logger.info(
        { code: err?.metadata?.get(ERROR_CODE_METADATA)[0], err: err?.details, delayMs: delay, networkId: n.networkId },
        'endpoint watch lost; reopening',
      );
      n.timer = this.clock.setTimer(delay, () => {
        n.timer = undefined;
        if (gen === n.gen) this.openNet(w, n);
      });
    };
    stream.on('error', (err: grpc.ServiceError) => broken(err));
    stream.on('end', () => broken(undefined));
  }

  // ------------------------------------------------------------------ session

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const id = this.identity;
    const addr = this.options.managerAddr ?? id.managerAddr;
    this.conn = new GrpcConnection(parseHost(`tcp://${addr}`), {
      ca: Buffer.from(id.caPem),
      cert: Buffer.from(id.certPem),
      key: Buffer.from(id.keyPem),
    });
    const request: SessionRequest = {
      description: {
        hostname: this.options.hostname ?? os.hostname(),
        platformOs: os.platform(),
        platformArch: os.arch(),
        version: SHOAL_VERSION,
      },
      advertiseAddr: this.options.advertiseAddr,
      gossipPort: this.options.gossipPort ?? DEFAULT_GOSSIP_PORT,
    };
    const stream = this.conn.serverStream<SessionRequest, SessionMessage>('Dispatcher', 'Session', request);
    this.sessionStream = stream;
    stream.on('data', (msg: SessionMessage) => {
      if (gen !== this.generation) return;
      this.onMessage(msg, gen);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (gen !== this.generation) return;
      this.onBroken(err);
    });
    stream.on('end', () => {
      if (gen !== this.generation) return;
      this.onBroken(undefined);
    });
    this.reportStream = this.conn.clientStream<AgentReport, { received: number }>('Dispatcher', 'Report', (err) => {
      if (err && gen === this.generation) this.logger.debug({ err }, 'report stream ended');
    });
    this.reportStream.on('error', () => {
      // surfaced through the session stream
    });
  }

  private onMessage(msg: SessionMessage, gen: number): void {
    for (const req of msg.requests ?? []) void this.answer(req, gen);
    if (msg.kind === 'requests') return;
    this.backoff = this.minBackoff;
    const previous = this.current;
    this.current = applySessionMessage(previous, msg);
    this.messages++;
    this.pruneReports();
    for (const e of msg.updates.endpoints) this.noteEndpoint(e);
    for (const id of previous.endpoints.keys()) if (!this.current.endpoints.has(id)) this.forgetDraining(id);
    const first = msg.kind === 'snapshot' && !this.established;
    if (msg.kind === 'snapshot') {
      this.logger.info(
        { nodeId: msg.nodeId, version: msg.version, tasks: this.current.tasks.size, networks: this.current.networks.size },
        'session established',
      );
      this.established = true;
      this.startHeartbeats(msg.heartbeatPeriodMs);
      this.resendReports();
    }
    this.persist();
    this.options.onState?.(this.current);
    if (msg.updates.ca) this.onTrust(msg.updates.ca);
    if (first) {
      for (const w of this.watches) {
        for (const n of w.nets.values()) {
          n.backoff = this.minBackoff;
          this.openNet(w, n);
        }
      }
      this.options.onConnection?.(true);
    }
  }

  /** Answers one relayed request through onRequest, over the connection it came on. */
  private async answer(req: AgentRequest, gen: number): Promise<void> {
    let body: AgentResponseBody;
    const handler = this.options.onRequest;
    if (!handler) {
      body = { errorCode: 'SHOAL_ERR_UNSUPPORTED', errorMessage: `this agent does not handle ${req.kind} requests` };
    } else {
      try {
        body = await handler(req);
      } catch (err) {
        const e = asShoalError(err);
        body = { errorCode: e.code, errorMessage: e.message };
      }
    }
    const conn = this.conn;
    if (!conn || gen !== this.generation) {
      // the session that asked is gone, and the manager stopped waiting with it
      this.logger.debug({ requestId: req.id, kind: req.kind }, 'session changed before the answer; dropped');
      return;
    }
    const response: AgentResponse = {
      requestId: req.id,
      exitCode: body.exitCode ?? 0,
      stdout: body.stdout ?? EMPTY,
      stderr: body.stderr ?? EMPTY,
      logs: body.logs ?? EMPTY,
      errorCode: body.errorCode ?? '',
      errorMessage: body.errorMessage ?? '',
      ...(body.doctor ? { doctor: body.doctor } : {}),
      ...(body.logEnd !== undefined ? { logEnd: body.logEnd } : {}),
      ...(body.logTimes !== undefined ? { logTimes: body.logTimes } : {}),
    };
    try {
      await conn.unary<AgentResponse, object>('Dispatcher', 'Respond', response, this.options.respondTimeoutMs ?? 10_000);
      this.answered++;
    } catch (err) {
      this.logger.warn({ err, requestId: req.id, kind: req.kind }, 'cannot deliver the answer to a manager request');
    }
  }

  private startHeartbeats(periodMs: number): void {
    this.heartbeatTimer?.cancel();
    const period = periodMs > 0 ? periodMs : 5000;
    const beat = (): void => {
      this.send({
        sessionId: this.current.sessionId,
        heartbeat: true,
        tasks: [],
        containers: [],
        drainedEndpointIds: [],
        joinedEndpointIds: [],
      });
      this.heartbeatTimer = this.clock.setTimer(period, beat);
    };
    beat();
  }

  private send(report: AgentReport): void {
    try {
      this.reportStream?.write(report);
    } catch (err) {
      this.logger.debug({ err }, 'report write failed');
    }
  }

  private persist(): void {
    if (!this.options.dataDir) return;
    const s = this.current;
    const doc = {
      sessionId: s.sessionId,
      version: s.version,
      nodeId: s.node?.id ?? this.identity.nodeId,
      nodeState: s.node?.status.state ?? '',
      networks: [...s.networks.values()].map((n) => ({
        id: n.id,
        name: n.spec.name,
        vxlanId: n.vxlanId,
        subnets: n.ipam.map((c) => c.subnet),
      })),
      tasks: [...s.tasks.values()].map((t) => ({
        id: t.id,
        name: t.name,
        serviceId: t.serviceId,
        desiredState: t.desiredState,
        state: t.status.state,
        addresses: t.networks.flatMap((n) => n.addresses),
      })),
      services: [...s.services.values()].map((v) => ({
        id: v.id,
        name: v.spec.name,
        virtualIps: v.endpoint.virtualIps,
        ports: v.endpoint.ports,
      })),
      endpoints: [...s.endpoints.values()].map(({ id, networkId, kind, addr, mac, state }) => ({ id, networkId, kind, addr, mac, state })),
      containers: [...s.containers.values()].map((c) => ({ id: c.id, name: c.spec.name })),
      peers: [...s.peers.values()],
      keyring: s.keyring ? { version: s.keyring.version, keys: s.keyring.keys.length } : undefined,
    };
    try {
      writeFileAtomic(`${this.options.dataDir}/assignment.json`, `${JSON.stringify(doc, null, 2)}\n`);
    } catch (err) {
      this.logger.warn({ err }, 'cannot write assignment.json');
    }
  }

  private teardownStreams(): void {
    this.generation++;
    const wasUp = this.established;
    this.established = false;
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    // watches wait for the next session, which reopens them from a fresh snapshot
    for (const w of this.watches) for (const n of w.nets.values()) this.stopNet(n);
    try {
      this.sessionStream?.cancel();
    } catch {
      // already closed
    }
    try {
      this.reportStream?.end();
    } catch {
      // already closed
    }
    this.sessionStream = undefined;
    this.reportStream = undefined;
    this.conn?.close();
    this.conn = undefined;
    if (wasUp) this.options.onConnection?.(false);
  }

  private onBroken(err: grpc.ServiceError | undefined): void {
    const code = err?.metadata?.get(ERROR_CODE_METADATA)[0];
    this.teardownStreams();
    if (this.stopped) return;
    if (code === 'SHOAL_ERR_UNAUTHENTICATED' && /removed/.test(err?.details ?? '')) {
      this.stopped = true;
      this.logger.error({ details: err?.details }, 'the manager no longer knows this node');
      this.options.onFatal?.(apiError('SHOAL_ERR_UNAUTHENTICATED', err?.details ?? 'node removed'));
      return;
    }
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.maxBackoff);
    this.logger.info({ err: err?.details, delayMs: delay }, 'session lost; reconnecting');
    this.reconnectTimer = this.clock.setTimer(delay, () => this.connect());
  }

  /**
   * Gossip saw the node at `addr` (IP or IP:PORT) come back after it declared it gone. When
   * that is the manager's host, this node's path to the manager was most likely cut too (a
   * partition that healed): a session waiting out its back-off, or one whose connection
   * lost its packets for a while and whose TCP timers may take seconds more to notice, is
   * reopened now. A new session of the same node moves nothing on the manager.
   */
  managerHostBack(addr: string): void {
    if (this.stopped || hostOf(addr) !== hostOf(this.options.managerAddr ?? this.identity.managerAddr)) return;
    this.logger.info({ established: this.established }, "gossip: the manager's node is back; reconnecting the session now");
    this.reconnectTimer?.cancel();
    this.teardownStreams();
    this.backoff = this.minBackoff;
    this.connect();
  }

  /** Ends the session and its endpoint watches (idempotent). */
  close(): void {
    this.stopped = true;
    this.renewals.close();
    this.reconnectTimer?.cancel();
    for (const w of this.watches) w.closed = true;
    this.teardownStreams();
    this.watches.clear();
  }
}

/** The host part of IP, IP:PORT or [IPv6]:PORT. */
function hostOf(addr: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(addr);
  if (bracket) return bracket[1]!;
  return addr.split(':').length === 2 ? addr.slice(0, addr.lastIndexOf(':')) : addr;
}
