/**
 * The agent's session with the manager: over mTLS, it receives the node's assignment (a
 * versioned snapshot, then deltas), reports heartbeats and task states, and reconnects
 * with backoff when the stream breaks.
 *
 * The assignment is kept as a model (`AssignmentState`) by a pure reducer, so later
 * subsystems (overlay, vip, dns, task runners) read one consistent view and are triggered
 * on change. Task execution is behind `TaskRunner`: until sandboxes exist, the default
 * runner acknowledges what the manager asks (assigned -> running, shutdown requested ->
 * shutdown), which keeps the task state machine exercised end to end.
 *
 * The current assignment is also written to DATA-DIR/assignment.json after every message
 * (for operators and tests; the manager stays the source of truth).
 */
import os from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type {
  AgentReport,
  Container,
  Endpoint,
  GossipKeyring,
  Network,
  Node,
  Peer,
  Service,
  SessionMessage,
  SessionRequest,
  TaskStatusUpdate,
  Task,
} from '../api/api-types.ts';
import { GrpcConnection } from '../api/grpc-connection.ts';
import { parseHost } from '../api/manager-target.ts';
import { apiError, ERROR_CODE_METADATA } from '../api/errors.ts';
import { writeFileAtomic } from '../common/fs.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import type { AgentIdentity } from './join.ts';

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

/** Applies one session message (pure: returns a new state). */
export function applySessionMessage(prev: AssignmentState, msg: SessionMessage): AssignmentState {
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

/** Runs (or, for now, acknowledges) the node's tasks. */
export interface TaskRunner {
  /** Called after every assignment change; returns the task states to report. */
  onAssignment(state: AssignmentState): TaskStatusUpdate[];
}

/**
 * Reports what the manager asks for as done: a task assigned to this node is running, a
 * task asked to shut down is shut down. Stands in until task sandboxes are implemented.
 */
export class AcknowledgingRunner implements TaskRunner {
  private readonly reported = new Map<string, string>();

  onAssignment(state: AssignmentState): TaskStatusUpdate[] {
    const out: TaskStatusUpdate[] = [];
    for (const t of state.tasks.values()) {
      const want = t.desiredState === 'running' ? 'running' : 'shutdown';
      if (t.status.state === want || this.reported.get(t.id) === want) continue;
      if (['complete', 'failed', 'shutdown', 'rejected', 'orphaned'].includes(t.status.state)) continue;
      this.reported.set(t.id, want);
      out.push({
        taskId: t.id,
        status: { state: want, message: want === 'running' ? 'started' : 'stopped', err: '', timestamp: '', exitCode: 0, health: '' },
      });
    }
    for (const id of [...this.reported.keys()]) if (!state.tasks.has(id)) this.reported.delete(id);
    return out;
  }
}

export interface AgentSessionOptions {
  identity: AgentIdentity;
  /** IP:PORT of the manager (default: the identity's). */
  managerAddr?: string;
  advertiseAddr: string;
  /** Where assignment.json is written; omit to write nothing. */
  dataDir?: string;
  hostname?: string;
  clock?: Clock;
  logger?: Logger;
  runner?: TaskRunner;
  /** Called after every applied message. */
  onState?: (state: AssignmentState) => void;
  /** Called when the manager refuses this node for good (removed): the session stops. */
  onFatal?: (err: ShoalError) => void;
  /** First reconnect delay, ms; doubles up to reconnectMaxMs. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

export class AgentSession {
  private readonly options: AgentSessionOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly runner: TaskRunner;
  private conn: GrpcConnection | undefined;
  private sessionStream: grpc.ClientReadableStream<SessionMessage> | undefined;
  private reportStream: grpc.ClientWritableStream<AgentReport> | undefined;
  private heartbeatTimer: Timer | undefined;
  private reconnectTimer: Timer | undefined;
  private backoff: number;
  private stopped = true;
  private current: AssignmentState = emptyState();
  private generation = 0;
  /** Messages applied since start (tests, diagnostics). */
  messages = 0;

  constructor(options: AgentSessionOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.runner = options.runner ?? new AcknowledgingRunner();
    this.backoff = options.reconnectMinMs ?? 200;
  }

  get state(): AssignmentState {
    return this.current;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    const id = this.options.identity;
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
    };
    const stream = this.conn.serverStream<SessionRequest, SessionMessage>('Dispatcher', 'Session', request);
    this.sessionStream = stream;
    stream.on('data', (msg: SessionMessage) => {
      if (gen !== this.generation) return;
      this.onMessage(msg);
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

  private onMessage(msg: SessionMessage): void {
    this.backoff = this.options.reconnectMinMs ?? 200;
    this.current = applySessionMessage(this.current, msg);
    this.messages++;
    if (msg.kind === 'snapshot') {
      this.logger.info(
        { nodeId: msg.nodeId, version: msg.version, tasks: this.current.tasks.size, networks: this.current.networks.size },
        'session established',
      );
      this.startHeartbeats(msg.heartbeatPeriodMs);
    }
    const updates = this.runner.onAssignment(this.current);
    if (updates.length > 0) this.send({ sessionId: msg.sessionId, heartbeat: false, tasks: updates, containers: [] });
    this.persist();
    this.options.onState?.(this.current);
  }

  private startHeartbeats(periodMs: number): void {
    this.heartbeatTimer?.cancel();
    const period = periodMs > 0 ? periodMs : 5000;
    const beat = (): void => {
      this.send({ sessionId: this.current.sessionId, heartbeat: true, tasks: [], containers: [] });
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
      nodeId: s.node?.id ?? this.options.identity.nodeId,
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
      endpoints: [...s.endpoints.values()].map((e) => ({ id: e.id, networkId: e.networkId, kind: e.kind, addr: e.addr, mac: e.mac })),
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
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
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
    this.backoff = Math.min(this.backoff * 2, this.options.reconnectMaxMs ?? 5000);
    this.logger.info({ err: err?.details, delayMs: delay }, 'session lost; reconnecting');
    this.reconnectTimer = this.clock.setTimer(delay, () => this.connect());
  }

  /** Ends the session (idempotent). */
  close(): void {
    this.stopped = true;
    this.reconnectTimer?.cancel();
    this.teardownStreams();
  }
}
