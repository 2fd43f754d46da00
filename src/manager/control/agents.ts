/**
 * The agent-facing operations: admitting a node that presents a join token (its node
 * record and certificate), the dispatcher's node state changes (a session started or
 * heartbeats resumed: ready; heartbeats stopped: down) and the task and container states
 * agents report.
 *
 * A node's state and its endpoints' state change together: marking a node Down marks its
 * endpoints (tasks, containers, its ingress sandbox) down in the same transaction, so that
 * what the manager lists never says a dead node's endpoints are live; Ready marks them
 * active again, except those of tasks being shut down, which go draining (and their
 * drains start then, when they have not completed before: orchestrator.ts `drainTask`).
 *
 * Reports only move a task forward (STATE_RANK): a late or repeated report never undoes a
 * newer state, and a report about a task of another node is ignored. A task that failed
 * with a non-zero exit status and no error text gets Docker's (`task: non-zero exit (7)`),
 * which `service ps` shows; the restart policy then decides on a replacement (scheduler.ts).
 */
import { DEFAULT_GOSSIP_PORT } from '../../api/api-defaults.ts';
import type { EndpointState, IssueCertificateRequest, IssueCertificateResponse, TaskStatusUpdate } from '../../api/api-types.ts';
import { verifyCsrFor } from '../../api/csr.ts';
import { apiError } from '../../api/errors.ts';
import { roleForToken } from '../../api/tokens.ts';
import { newId } from '../../common/ids.ts';
import { issueNodeCertificate } from '../ca.ts';
import { trustBundlePem } from '../ca-rotation.ts';
import { certValidityMs, recordCertificate } from './certificates.ts';
import type { NodeRecord, TaskRecord } from '../objects.ts';
import { isoTime } from '../orchestrator.ts';
import { isTerminal, TERMINAL_STATES } from '../scheduler.ts';
import type { TxContext } from '../orchestrator.ts';
import type { ControlCore } from './core.ts';
import { clusterOf } from './core.ts';
import { insertNode } from './nodes.ts';

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
const CONTAINER_STATES = new Set(['created', 'running', 'exited']);

/** What a node's session says about the node. */
export interface NodeSessionInfo {
  hostname: string;
  platformOs: string;
  platformArch: string;
  version: string;
  addr: string;
  /** The port its gossip listens on; absent or 0 = DEFAULT_GOSSIP_PORT. */
  gossipPort?: number;
}

/**
 * Sets the state of every endpoint on the node (its tasks', containers' and ingress
 * sandbox's), leaving out the endpoints of `skipOwners` (tasks being shut down, which
 * drain instead when the node is up).
 */
function setNodeEndpointsState(ctx: TxContext, nodeId: string, state: EndpointState, skipOwners: ReadonlySet<string> = new Set()): void {
  for (const ep of ctx.tx.byIndex('endpoint', 'node', nodeId)) {
    if (ep.state === state || (ep.kind === 'task' && skipOwners.has(ep.ownerId))) continue;
    ep.state = state;
    ctx.tx.put('endpoint', ep);
  }
}

/** The node's tasks that are being shut down and have not ended. */
function shuttingDown(ctx: TxContext, nodeId: string): TaskRecord[] {
  return ctx.tx.byIndex('task', 'node', nodeId).filter((t) => t.desiredState === 'shutdown' && !isTerminal(t));
}

/** Docker's error text of a task that exited with a non-zero status. */
export function exitErrorText(exitCode: number): string {
  return `task: non-zero exit (${exitCode})`;
}

export class AgentControl {
  constructor(private readonly core: ControlCore) {}

  /**
   * Admits a node presenting a join token and a CSR signed with its key (csr.ts): creates
   * its node record and signs its certificate. The token is checked first, so a stranger
   * learns nothing from CSR errors.
   */
  async issueNodeCertificate(req: IssueCertificateRequest): Promise<IssueCertificateResponse> {
    const advertise = typeof req.advertiseAddr === 'string' ? req.advertiseAddr : '';
    return this.core.mutate((ctx) => {
      const c = clusterOf(ctx.tx);
      const role = roleForToken(req.token, c.joinTokens);
      const csr = verifyCsrFor(req.csrPem, req.publicKeyPem);
      const id = newId();
      const certPem = issueNodeCertificate(c.ca, {
        nodeId: id,
        role,
        clusterId: c.clusterId,
        publicKeyPem: csr.publicKeyPem,
        nowMs: this.core.nowMs(),
        validityMs: certValidityMs(c, this.core.config.nodeCertValidityMs),
        ips: advertise !== '' ? [advertise] : [],
      });
      const node: NodeRecord = {
        id,
        version: 0,
        createdAt: ctx.now,
        updatedAt: ctx.now,
        spec: { name: '', labels: {}, role, availability: 'active' },
        description: { hostname: req.hostname || id.slice(0, 12), platformOs: '', platformArch: '', version: '' },
        status: { state: 'unknown', message: 'joined; waiting for its session', addr: advertise, gossipPort: 0 },
        certFingerprint: '',
      };
      recordCertificate(node, certPem, c.ca.digest);
      if (role === 'manager') node.managerStatus = { leader: false, reachability: 'unreachable', addr: '' };
      insertNode(ctx, node);
      // caPem: every root trusted now (during a rotation the new one signed this certificate)
      return { nodeId: id, certPem, caPem: trustBundlePem(c), role, clusterId: c.clusterId };
    });
  }

  /** The node record for an authenticated caller, or UNAUTHENTICATED when it was removed. */
  requireNode(nodeId: string): NodeRecord {
    const node = this.core.store.view((tx) => tx.get('node', nodeId));
    if (!node)
      throw apiError(
        'SHOAL_ERR_UNAUTHENTICATED',
        `node ${nodeId} is not a member of this cluster (it was removed); join again with a token`,
        {
          nodeId,
        },
      );
    return node;
  }

  /** A node's session started or its heartbeats resumed: mark it ready and schedule onto it. */
  async nodeReady(nodeId: string, info: NodeSessionInfo): Promise<void> {
    await this.core.mutate((ctx) => {
      const node = ctx.tx.get('node', nodeId);
      if (!node) return;
      const gossipPort = info.gossipPort !== undefined && info.gossipPort > 0 ? info.gossipPort : DEFAULT_GOSSIP_PORT;
      const changed =
        node.status.state !== 'ready' ||
        (info.addr !== '' && node.status.addr !== info.addr) ||
        (info.hostname !== '' && node.description.hostname !== info.hostname) ||
        node.description.version !== info.version ||
        node.status.gossipPort !== gossipPort;
      if (!changed) return;
      node.status = { state: 'ready', message: '', addr: info.addr !== '' ? info.addr : node.status.addr, gossipPort };
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
      const stopping = shuttingDown(ctx, nodeId);
      setNodeEndpointsState(ctx, nodeId, 'active', new Set(stopping.map((t) => t.id)));
      for (const t of stopping) if (this.core.orchestrator.drainTask(ctx, t)) ctx.tx.put('task', t);
      this.core.reconcileNode(ctx, nodeId);
    });
  }

  /** Heartbeats stopped: mark the node and its endpoints down and move its tasks. */
  async nodeDown(nodeId: string, message: string): Promise<void> {
    await this.core.mutate((ctx) => {
      const node = ctx.tx.get('node', nodeId);
      if (!node || node.status.state === 'down') return;
      node.status = { ...node.status, state: 'down', message };
      node.updatedAt = ctx.now;
      ctx.tx.put('node', node);
      ctx.invalidateNodes();
      setNodeEndpointsState(ctx, nodeId, 'down');
      this.core.reconcileNode(ctx, nodeId);
    });
  }

  /** Task states reported by a node's agent (one transaction per report). */
  async reportTaskStates(nodeId: string, updates: readonly TaskStatusUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const { orchestrator } = this.core;
    await this.core.mutate((ctx) => {
      const services = new Set<string>();
      for (const u of updates) {
        const t = ctx.tx.get('task', u.taskId);
        if (!t || t.nodeId !== nodeId || !u.status) continue;
        const state = u.status.state;
        if (!REPORTABLE.has(state)) continue;
        if (isTerminal(t)) continue;
        if ((STATE_RANK[state] ?? 0) < (STATE_RANK[t.status.state] ?? 0)) continue;
        const exitCode = Number.isInteger(u.status.exitCode) ? u.status.exitCode : 0;
        let err = u.status.err ?? '';
        if (err === '' && state === 'failed' && exitCode !== 0) err = exitErrorText(exitCode);
        const health = u.status.health ?? '';
        const same = t.status.state === state && t.status.health === health && t.status.err === err && t.status.exitCode === exitCode;
        if (same) continue;
        t.status = {
          state,
          message: u.status.message ?? '',
          err,
          timestamp: ctx.now,
          exitCode,
          health,
        };
        t.updatedAt = ctx.now;
        // a task that starts running or turns healthy may let a rolling update go on
        services.add(t.serviceId);
        if (TERMINAL_STATES.has(state)) {
          t.desiredState = 'shutdown';
          orchestrator.releaseEndpoints(ctx, t.id);
          services.add(t.serviceId);
          // the ended task of a removed service goes with it
          if (orchestrator.collectEnded(ctx, t)) continue;
        }
        ctx.tx.put('task', t);
      }
      for (const id of services) orchestrator.reconcile(ctx, id);
    });
  }

  /** Container states reported by a node's agent. */
  async reportContainerStates(nodeId: string, updates: readonly { containerId: string; state: string }[]): Promise<void> {
    if (updates.length === 0) return;
    await this.core.store.update((tx) => {
      for (const u of updates) {
        const c = tx.get('container', u.containerId);
        if (!c || c.nodeId !== nodeId || c.state === u.state || !CONTAINER_STATES.has(u.state)) continue;
        c.state = u.state;
        c.updatedAt = isoTime(this.core.nowMs());
        tx.put('container', c);
      }
    });
  }
}
