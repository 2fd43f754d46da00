/**
 * The dispatcher: one session per connected agent.
 *
 * A session streams the node's assignment (assignment.ts): first a complete, versioned
 * snapshot, then deltas. Store commits only mark sessions dirty; each session recomputes
 * and sends at most once per `sessionMinIntervalMs`, so a burst of changes becomes one
 * delta. The agent's report stream carries heartbeats and task/container states.
 *
 * The session is also the way back to the agent, which the manager never dials: exec and
 * logs requests (control/runtime.ts) ride on it as `requests` messages, each waiting for
 * the agent's Respond call with a deadline (a timer, not a poll); a session that ends fails
 * its waiting requests at once. And a node may watch the endpoints of the networks in its
 * assignment (endpoint-watch.ts), so that the manager's list fills what gossip lost; the
 * nodes watching a network when a task on it starts draining are the ones whose
 * acknowledgements (the report stream's drained endpoint IDs) the drain waits for
 * (drain-tracker.ts).
 *
 * Liveness: the dispatcher remembers when it last heard a heartbeat from each node (in
 * memory, never written per beat). A Ready node silent for `nodeDownAfterMs` is marked
 * Down, which moves its tasks; a heartbeat from a Down node marks it Ready again. After a
 * manager restart every Ready node gets the full grace period to reconnect before it is
 * judged. Nodes that never had a session stay Unknown (they hold no tasks).
 */
import { randomUUID } from 'node:crypto';
import type { Clock, Timer } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { AgentReport, AgentRequest, AgentResponse, SessionMessage, SessionRequest } from '../api/api-types.ts';
import { assignedNetworkIds, computeAssignment, deltaOf, emptyRemovals, snapshotOf, versionsOf } from './assignment.ts';
import type { ManagerConfig } from './config.ts';
import type { ManagerControl } from './control.ts';
import type { AgentRelay } from './control/runtime.ts';
import { EndpointWatchHub } from './endpoint-watch.ts';
import type { EndpointWatchSink } from './endpoint-watch.ts';
import { apiError } from '../api/errors.ts';
import { ShoalError } from '../common/errors.ts';
import type { ChangeBatch } from './store.ts';
import { serviceNetworkIds } from './objects.ts';
import type { ServiceRecord } from './objects.ts';

/** Where a session's messages go (the gRPC server stream, or a test's array). */
export interface SessionSink {
  write(message: SessionMessage): void;
  /** Ends the stream with an error (node removed, replaced by a newer session, shutdown). */
  fail(err: ShoalError): void;
}

interface Session {
  id: string;
  nodeId: string;
  sink: SessionSink;
  sent: Map<string, number>;
  version: number;
  dirty: boolean;
  timer: Timer | undefined;
  lastSendAt: number;
  closed: boolean;
  /** IDs of the relayed requests waiting for this session's agent. */
  pending: Set<string>;
}

interface PendingRequest {
  nodeId: string;
  session: Session;
  kind: string;
  timer: Timer;
  resolve(res: AgentResponse): void;
  reject(err: ShoalError): void;
}

export interface DispatcherOptions {
  control: ManagerControl;
  config: ManagerConfig;
  clock: Clock;
  logger: Logger;
}

/**
 * Whether a committed batch can change a session's assignment, judged from the events
 * alone (cheap), so that sessions are recomputed only when something of theirs changed.
 * Errs on the side of recomputing: a false positive costs one recompute that sends nothing.
 */
function relevant(s: Session, batch: ChangeBatch): boolean {
  for (const e of batch.events) {
    switch (e.kind) {
      case 'cluster':
      case 'node':
        return true; // keyring, ingress, this node, or a peer changed
      case 'ipam':
        continue;
      default:
        break;
    }
    if (s.sent.has(`${e.kind}/${e.id}`)) return true;
    const obj = e.object as { nodeId?: string } | undefined;
    if (!obj) continue;
    if ((e.kind === 'task' || e.kind === 'container' || e.kind === 'endpoint') && obj.nodeId === s.nodeId) return true;
    if (e.kind === 'service' && serviceNetworkIds(obj as ServiceRecord).some((id) => s.sent.has(`network/${id}`))) return true;
  }
  return false;
}

export class Dispatcher implements AgentRelay {
  private readonly control: ManagerControl;
  private readonly config: ManagerConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sessions = new Map<string, Session>();
  private readonly lastBeat = new Map<string, number>();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly endpoints: EndpointWatchHub;
  private startedAt = 0;
  private checkTimer: Timer | undefined;
  private unwatch: (() => void) | undefined;
  private closed = false;
  private checking = false;

  constructor(options: DispatcherOptions) {
    this.control = options.control;
    this.config = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.endpoints = new EndpointWatchHub(this.control.store, this.logger);
    // exec and logs reach the agents through this dispatcher's sessions
    this.control.attachAgentRelay(this);
    // drains and rolling updates wait for the nodes that watch endpoints through this dispatcher
    this.control.attachEndpointWatchers(this.endpoints);
  }

  start(): void {
    this.startedAt = this.clock.now();
    this.unwatch = this.control.store.watch((batch) => this.onCommit(batch));
    this.endpoints.start();
    this.scheduleCheck();
  }

  /** Relayed requests waiting for an answer (diagnostics, tests). */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Open endpoint watches (diagnostics, tests). */
  get endpointWatchers(): number {
    return this.endpoints.watcherCount;
  }

  /** Number of open sessions (diagnostics, tests). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private onCommit(batch: ChangeBatch): void {
    for (const e of batch.events) {
      if (e.kind === 'node' && e.op === 'delete') {
        const s = this.sessions.get(e.id);
        if (s) this.end(s, apiError('SHOAL_ERR_UNAUTHENTICATED', `node ${e.id} was removed from the cluster`));
        this.lastBeat.delete(e.id);
      }
    }
    for (const s of this.sessions.values()) if (!s.dirty && relevant(s, batch)) this.markDirty(s);
  }

  /** Opens a node's session: sends the snapshot now, deltas as the store changes. */
  async open(nodeId: string, request: SessionRequest, sink: SessionSink): Promise<string> {
    this.control.requireNode(nodeId);
    const previous = this.sessions.get(nodeId);
    if (previous) this.end(previous, apiError('SHOAL_ERR_UNAUTHENTICATED', 'a newer session of this node replaced this one'));
    const session: Session = {
      id: randomUUID(),
      nodeId,
      sink,
      sent: new Map(),
      version: 0,
      dirty: false,
      timer: undefined,
      lastSendAt: -Infinity,
      closed: false,
      pending: new Set(),
    };
    this.sessions.set(nodeId, session);
    this.lastBeat.set(nodeId, this.clock.now());
    const d = request.description;
    await this.control.nodeReady(nodeId, {
      hostname: d?.hostname ?? '',
      platformOs: d?.platformOs ?? '',
      platformArch: d?.platformArch ?? '',
      version: d?.version ?? '',
      addr: request.advertiseAddr ?? '',
      gossipPort: request.gossipPort ?? 0,
    });
    if (session.closed) return session.id;
    this.sendSnapshot(session);
    return session.id;
  }

  /** The agent's stream ended or was cancelled. */
  closeSession(nodeId: string, sessionId: string): void {
    const s = this.sessions.get(nodeId);
    if (s && s.id === sessionId) {
      s.closed = true;
      s.timer?.cancel();
      this.sessions.delete(nodeId);
      this.failPending(s, 'its session ended');
    }
  }

  private end(s: Session, err: ShoalError): void {
    s.closed = true;
    s.timer?.cancel();
    if (this.sessions.get(s.nodeId) === s) this.sessions.delete(s.nodeId);
    this.failPending(s, err.message);
    try {
      s.sink.fail(err);
    } catch {
      // the stream may already be gone
    }
  }

  private message(s: Session, kind: SessionMessage['kind'], fromVersion: number, version: number): SessionMessage {
    return {
      sessionId: s.id,
      nodeId: s.nodeId,
      kind,
      version,
      fromVersion,
      updates: { networks: [], tasks: [], services: [], endpoints: [], containers: [], peers: [] },
      removals: emptyRemovals(),
      heartbeatPeriodMs: this.config.heartbeatPeriodMs,
      requests: [],
    };
  }

  // ------------------------------------------------------------------ requests to agents

  /**
   * Sends a request to the node's agent over its session and waits for its Respond call,
   * at most `timeoutMs` (AgentRelay).
   */
  request(nodeId: string, request: Omit<AgentRequest, 'id'>, timeoutMs: number): Promise<AgentResponse> {
    const s = this.sessions.get(nodeId);
    if (!s || s.closed) {
      return Promise.reject(
        apiError('SHOAL_ERR_AGENT_UNAVAILABLE', `the agent of node ${nodeId} is not connected to the manager`, { nodeId }),
      );
    }
    const id = randomUUID();
    return new Promise<AgentResponse>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        if (!this.pending.delete(id)) return;
        s.pending.delete(id);
        reject(
          new ShoalError(
            'SHOAL_ERR_TIMEOUT',
            `the agent of node ${nodeId} did not answer the ${request.kind} request within ${timeoutMs} ms`,
            {
              details: { nodeId, requestId: id, timeoutMs },
            },
          ),
        );
      });
      this.pending.set(id, { nodeId, session: s, kind: request.kind, timer, resolve, reject });
      s.pending.add(id);
      const msg = this.message(s, 'requests', s.version, s.version);
      msg.requests = [{ ...request, id }];
      try {
        s.sink.write(msg);
      } catch (err) {
        this.settle(id)?.reject(
          apiError('SHOAL_ERR_AGENT_UNAVAILABLE', `the session of node ${nodeId} is broken: ${(err as Error).message}`, { nodeId }, err),
        );
      }
    });
  }

  /** An agent's answer (Dispatcher.Respond): settles the request it answers, once. */
  respond(nodeId: string, response: AgentResponse): void {
    const p = this.pending.get(response.requestId);
    if (!p) return; // answered after its deadline, or after its session ended: nobody waits
    if (p.nodeId !== nodeId) {
      throw apiError('SHOAL_ERR_PERMISSION_DENIED', `request ${response.requestId} was not sent to node ${nodeId}`, { nodeId });
    }
    this.settle(response.requestId)?.resolve(response);
  }

  /** Removes a waiting request and its timer; the caller resolves or rejects it. */
  private settle(id: string): PendingRequest | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    p.session.pending.delete(id);
    p.timer.cancel();
    return p;
  }

  private failPending(s: Session, why: string): void {
    for (const id of [...s.pending]) {
      const p = this.settle(id);
      p?.reject(
        apiError(
          'SHOAL_ERR_AGENT_UNAVAILABLE',
          `the agent of node ${s.nodeId} disconnected before answering the ${p.kind} request (${why})`,
          {
            nodeId: s.nodeId,
          },
        ),
      );
    }
  }

  // ------------------------------------------------------------------ endpoint watches

  /**
   * Streams the endpoints of networks in the node's assignment (snapshot, then deltas);
   * refuses a network that does not exist or is not assigned to the node. Returns the
   * function that ends the watch. The right to watch is checked when the watch opens: an
   * agent watches what its assignment holds and opens a new watch when that changes.
   */
  watchEndpoints(nodeId: string, networkIds: readonly string[], sink: EndpointWatchSink): () => void {
    this.control.requireNode(nodeId);
    this.control.store.view((tx) => {
      const assigned = assignedNetworkIds(tx, nodeId);
      for (const id of networkIds) {
        if (typeof id !== 'string' || !tx.get('network', id)) {
          throw apiError('SHOAL_ERR_NETWORK_NOT_FOUND', `network ${String(id)} not found`, { networkId: id });
        }
        if (!assigned.has(id)) {
          throw apiError('SHOAL_ERR_NETWORK_NOT_ASSIGNED', `node ${nodeId} has nothing on network ${id}: it may not watch its endpoints`, {
            nodeId,
            networkId: id,
          });
        }
      }
    });
    return this.endpoints.watch(networkIds, sink, nodeId);
  }

  private sendSnapshot(s: Session): void {
    const { set, revision } = this.control.store.view((tx) => ({ set: computeAssignment(tx, s.nodeId), revision: tx.revision }));
    const msg = this.message(s, 'snapshot', 0, revision);
    msg.updates = snapshotOf(set);
    s.sent = versionsOf(set);
    s.version = revision;
    s.lastSendAt = this.clock.now();
    s.sink.write(msg);
  }

  private markDirty(s: Session): void {
    if (s.closed) return;
    s.dirty = true;
    if (s.timer) return;
    const wait = Math.max(0, s.lastSendAt + this.config.sessionMinIntervalMs - this.clock.now());
    s.timer = this.clock.setTimer(wait, () => {
      s.timer = undefined;
      this.flush(s);
    });
  }

  private flush(s: Session): void {
    if (s.closed || !s.dirty) return;
    s.dirty = false;
    try {
      const { set, revision } = this.control.store.view((tx) => ({ set: computeAssignment(tx, s.nodeId), revision: tx.revision }));
      const delta = deltaOf(s.sent, set);
      if (!delta) return;
      const msg = this.message(s, 'delta', s.version, revision);
      msg.updates = delta.updates;
      msg.removals = delta.removals;
      s.sent = versionsOf(set);
      s.version = revision;
      s.lastSendAt = this.clock.now();
      s.sink.write(msg);
    } catch (err) {
      this.logger.warn({ err, nodeId: s.nodeId }, 'assignment delta failed; the session will be resent in full');
      s.sent = new Map();
      this.markDirty(s);
    }
  }

  /** One message of an agent's report stream. */
  async report(nodeId: string, report: AgentReport): Promise<void> {
    if (report.heartbeat) await this.heartbeat(nodeId);
    if (report.tasks.length > 0) await this.control.reportTaskStates(nodeId, report.tasks);
    if (report.containers.length > 0) await this.control.reportContainerStates(nodeId, report.containers);
    const drained = report.drainedEndpointIds ?? [];
    if (drained.length > 0) await this.control.acknowledgeDrained(nodeId, drained);
    const joined = report.joinedEndpointIds ?? [];
    if (joined.length > 0) await this.control.acknowledgeJoined(nodeId, joined);
  }

  async heartbeat(nodeId: string): Promise<void> {
    this.lastBeat.set(nodeId, this.clock.now());
    const node = this.control.store.view((tx) => tx.get('node', nodeId));
    if (node && node.status.state !== 'ready') {
      const d = node.description;
      await this.control.nodeReady(nodeId, {
        hostname: d.hostname,
        platformOs: d.platformOs,
        platformArch: d.platformArch,
        version: d.version,
        addr: node.status.addr,
        gossipPort: node.status.gossipPort,
      });
    }
  }

  private scheduleCheck(): void {
    if (this.closed) return;
    const period = Math.max(5, Math.min(this.config.heartbeatPeriodMs, Math.floor(this.config.nodeDownAfterMs / 4)));
    this.checkTimer = this.clock.setTimer(period, () => {
      this.checkHeartbeats()
        .catch((err: unknown) => this.logger.warn({ err }, 'heartbeat check failed'))
        .finally(() => this.scheduleCheck());
    });
  }

  /** Marks Down every Ready node not heard from for nodeDownAfterMs. */
  async checkHeartbeats(): Promise<string[]> {
    if (this.checking) return [];
    this.checking = true;
    try {
      const now = this.clock.now();
      const ready = this.control.store.view((tx) => tx.all('node').filter((n) => n.status.state === 'ready'));
      const down: string[] = [];
      for (const n of ready) {
        const last = this.lastBeat.get(n.id) ?? this.startedAt;
        if (now - last > this.config.nodeDownAfterMs) down.push(n.id);
      }
      for (const id of down) {
        this.logger.info({ nodeId: id }, 'node missed its heartbeats: marking it down');
        await this.control.nodeDown(id, 'heartbeat failure');
      }
      return down;
    } finally {
      this.checking = false;
    }
  }

  close(): void {
    this.closed = true;
    this.checkTimer?.cancel();
    this.unwatch?.();
    this.endpoints.close();
    this.control.attachAgentRelay(undefined);
    this.control.attachEndpointWatchers(undefined);
    for (const s of [...this.sessions.values()]) this.end(s, apiError('SHOAL_ERR_MANAGER_UNREACHABLE', 'the manager is shutting down'));
  }
}
