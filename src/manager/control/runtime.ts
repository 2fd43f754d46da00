/**
 * `exec` and logs: commands and output of what runs on the nodes. The manager never dials
 * an agent (agents may sit behind NAT and only hold their session open), so a request is
 * relayed over the session of the node that runs the task (the dispatcher, through the
 * narrow AgentRelay interface) and the agent answers with Dispatcher.Respond.
 *
 * Here: resolving what the user named (a task by ID, ID prefix, name or slot; a container
 * by ID, name or ID prefix), checking that it can answer (running for exec, its node not
 * Down), and turning the agent's answer into the API's result or error. Errors say which
 * of these failed with stable codes: no such task or container (SHOAL_ERR_TASK_NOT_FOUND),
 * not running (SHOAL_ERR_NOT_RUNNING), node down or agent not connected
 * (SHOAL_ERR_AGENT_UNAVAILABLE), no answer in time (SHOAL_ERR_TIMEOUT); an error the
 * agent answered with is passed on with its code.
 */
import { DEFAULT_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS } from '../../api/api-defaults.ts';
import type { AgentRequest, AgentResponse, ExecRequest, ExecResult, LogChunk, LogsRequest } from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { asShoalError, ShoalError } from '../../common/errors.ts';
import type { ContainerRecord, Kinds, NodeRecord, TaskRecord } from '../objects.ts';
import { nodeName, resolveService } from '../refs.ts';
import type { ReadTx } from '../store.ts';
import type { ControlCore } from './core.ts';

/** What the runtime operations need of the dispatcher: one request to one node's agent. */
export interface AgentRelay {
  /**
   * Sends `request` to the node's agent over its session and resolves with the answer;
   * SHOAL_ERR_AGENT_UNAVAILABLE when the node has no session (or loses it before
   * answering), SHOAL_ERR_TIMEOUT when no answer came within `timeoutMs`.
   */
  request(nodeId: string, request: Omit<AgentRequest, 'id'>, timeoutMs: number): Promise<AgentResponse>;
}

/** A task or a container, as the runtime operations use them. */
type Target = { kind: 'task'; task: TaskRecord } | { kind: 'container'; container: ContainerRecord };

function targetName(t: Target): string {
  return t.kind === 'task' ? t.task.name : t.container.spec.name;
}

function targetNodeId(t: Target): string {
  return t.kind === 'task' ? t.task.nodeId : t.container.nodeId;
}

/** A task or container by ID, full name, slot name (`web.1`), container name, or unique ID prefix. */
export function resolveRuntimeTarget(tx: ReadTx<Kinds>, ref: string): Target {
  if (typeof ref !== 'string' || ref === '') throw apiError('SHOAL_ERR_TASK_NOT_FOUND', 'task or container name or ID is empty');
  const task = tx.get('task', ref);
  if (task) return { kind: 'task', task };
  const container = tx.get('container', ref);
  if (container) return { kind: 'container', container };
  const dot = ref.lastIndexOf('.');
  if (dot > 0) {
    // service.slot.id or service.node.id: the last part is the task's ID
    const named = tx.get('task', ref.slice(dot + 1));
    if (named && named.name === ref) return { kind: 'task', task: named };
  }
  const byName = tx.byIndex('container', 'name', ref)[0];
  if (byName) return { kind: 'container', container: byName };
  if (dot > 0 && /^[1-9][0-9]*$/.test(ref.slice(dot + 1))) {
    // service.slot: the slot's live task, else its newest
    const svc = tx.byIndex('service', 'name', ref.slice(0, dot))[0];
    if (svc) {
      const slot = Number(ref.slice(dot + 1));
      const tasks = tx
        .byIndex('task', 'service', svc.id)
        .filter((t) => t.slot === slot)
        .sort(
          (a, b) => Number(b.desiredState === 'running') - Number(a.desiredState === 'running') || b.createdAt.localeCompare(a.createdAt),
        );
      if (tasks[0]) return { kind: 'task', task: tasks[0] };
    }
  }
  if (/^[0-9a-z]+$/.test(ref)) {
    const tasks = tx.idsWithPrefix('task', ref, 2);
    const containers = tx.idsWithPrefix('container', ref, 2);
    if (tasks.length + containers.length > 1) {
      throw apiError('SHOAL_ERR_AMBIGUOUS_REF', `${ref} is ambiguous (several tasks or containers have IDs starting with it)`, { ref });
    }
    if (tasks[0]) return { kind: 'task', task: tx.get('task', tasks[0])! };
    if (containers[0]) return { kind: 'container', container: tx.get('container', containers[0])! };
  }
  throw apiError('SHOAL_ERR_TASK_NOT_FOUND', `no such task or container: ${ref}`, { ref });
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function invalid(message: string, details: Record<string, unknown> = {}): ShoalError {
  return new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', message, { details });
}

/** The error an agent answered with, as the API passes it on. */
function agentError(res: AgentResponse, nodeId: string, what: string): ShoalError {
  return ShoalError.remote(res.errorCode, res.errorMessage || `the agent of node ${nodeId} refused ${what}`, {
    details: { nodeId },
  });
}

export class RuntimeControl {
  private relay: AgentRelay | undefined;

  constructor(private readonly core: ControlCore) {}

  /** Sets (or, with undefined, removes) what requests travel through: the dispatcher. */
  attachRelay(relay: AgentRelay | undefined): void {
    this.relay = relay;
  }

  /** The node a request for `what` goes to, or why it cannot go (node gone or Down). */
  private reachableNode(tx: ReadTx<Kinds>, nodeId: string, what: string): NodeRecord {
    const node = nodeId === '' ? undefined : tx.get('node', nodeId);
    if (!node) {
      throw apiError('SHOAL_ERR_AGENT_UNAVAILABLE', `${what} is on no node of the cluster (its node was removed)`, { nodeId });
    }
    if (node.status.state === 'down') {
      throw apiError(
        'SHOAL_ERR_AGENT_UNAVAILABLE',
        `node ${nodeName(node)} of ${what} is down: its agent does not answer (${node.status.message || 'heartbeat failure'})`,
        { nodeId },
      );
    }
    return node;
  }

  private send(nodeId: string, request: Omit<AgentRequest, 'id'>, timeoutMs: number): Promise<AgentResponse> {
    if (!this.relay) {
      return Promise.reject(apiError('SHOAL_ERR_AGENT_UNAVAILABLE', 'this manager relays no requests to agents', { nodeId }));
    }
    return this.relay.request(nodeId, request, timeoutMs);
  }

  async exec(req: ExecRequest): Promise<ExecResult> {
    const argv = req.argv;
    if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string') || argv[0] === '') {
      throw invalid('exec needs a command (argv is empty)');
    }
    const timeoutMs = req.timeoutMs ?? 0;
    if (!isInt(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_EXEC_TIMEOUT_MS) {
      throw invalid(`exec timeout ${String(timeoutMs)} ms is out of range 0-${MAX_EXEC_TIMEOUT_MS}`, { timeoutMs });
    }
    const env = req.env ?? [];
    for (const e of env) {
      if (typeof e !== 'string' || e.indexOf('=') <= 0) throw invalid(`exec environment entry ${JSON.stringify(e)} is not NAME=value`);
    }
    const limit = timeoutMs === 0 ? DEFAULT_EXEC_TIMEOUT_MS : timeoutMs;
    const { target, nodeId } = this.core.store.view((tx) => {
      const target = resolveRuntimeTarget(tx, req.target);
      const name = targetName(target);
      if (target.kind === 'task' && target.task.status.state !== 'running') {
        throw apiError('SHOAL_ERR_NOT_RUNNING', `task ${name} is not running (it is ${target.task.status.state})`, {
          taskId: target.task.id,
          state: target.task.status.state,
        });
      }
      if (target.kind === 'container' && target.container.state !== 'running') {
        throw apiError('SHOAL_ERR_NOT_RUNNING', `container ${name} is not running (it is ${target.container.state})`, {
          containerId: target.container.id,
          state: target.container.state,
        });
      }
      const what = `${target.kind} ${name}`;
      return { target, nodeId: this.reachableNode(tx, targetNodeId(target), what).id };
    });
    const taskId = target.kind === 'task' ? target.task.id : '';
    const containerId = target.kind === 'container' ? target.container.id : '';
    const res = await this.send(
      nodeId,
      { kind: 'exec', taskId, containerId, argv: [...argv], timeoutMs: limit, env: [...env], workdir: req.workdir ?? '' },
      limit + this.core.config.agentRequestTimeoutMs,
    );
    if (res.errorCode !== '') throw agentError(res, nodeId, `exec in ${targetName(target)}`);
    return { exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr, taskId, containerId, nodeId };
  }

  async logs(req: LogsRequest): Promise<LogChunk[]> {
    const tail = req.tail;
    if (tail !== undefined && (!isInt(tail) || tail < 0)) throw invalid(`logs tail ${String(tail)} is not a whole number >= 0`, { tail });
    const target = req.target ?? '';
    const service = req.service ?? '';
    if ((target === '') === (service === '')) throw invalid('logs needs either a task or container, or a service');
    if (target !== '') {
      const { t, nodeId } = this.core.store.view((tx) => {
        const t = resolveRuntimeTarget(tx, target);
        // a task never placed on a node never ran: its log is empty
        if (targetNodeId(t) === '') return { t, nodeId: '' };
        return { t, nodeId: this.reachableNode(tx, targetNodeId(t), `${t.kind} ${targetName(t)}`).id };
      });
      if (nodeId === '') return [logChunk(t, '', {})];
      const chunk = await this.fetchLog(t, nodeId, tail);
      if (chunk.errorCode !== '') {
        throw ShoalError.remote(chunk.errorCode, chunk.errorMessage, { details: { nodeId, target } });
      }
      return [chunk];
    }
    const entries = this.core.store.view((tx) => {
      const svc = resolveService(tx, service);
      return tx
        .byIndex('task', 'service', svc.id)
        .filter((t) => t.nodeId !== '')
        .sort(
          (a, b) =>
            a.slot - b.slot || a.nodeId.localeCompare(b.nodeId) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
        )
        .map((task) => {
          const target: Target = { kind: 'task', task };
          try {
            return { target, nodeId: this.reachableNode(tx, task.nodeId, `task ${task.name}`).id, error: undefined };
          } catch (err) {
            return { target, nodeId: task.nodeId, error: asShoalError(err) };
          }
        });
    });
    return Promise.all(
      entries.map(({ target: t, nodeId, error }) => {
        if (error) return Promise.resolve(logChunk(t, nodeId, { errorCode: error.code, errorMessage: error.message }));
        return this.fetchLog(t, nodeId, tail);
      }),
    );
  }

  /** One target's log through its agent; a failure becomes the chunk's error. */
  private async fetchLog(t: Target, nodeId: string, tail: number | undefined): Promise<LogChunk> {
    try {
      const res = await this.send(
        nodeId,
        {
          kind: 'logs',
          taskId: t.kind === 'task' ? t.task.id : '',
          containerId: t.kind === 'container' ? t.container.id : '',
          argv: [],
          ...(tail !== undefined ? { tail } : {}),
          timeoutMs: 0,
          env: [],
          workdir: '',
        },
        this.core.config.agentRequestTimeoutMs,
      );
      if (res.errorCode !== '') {
        const e = agentError(res, nodeId, `the logs of ${targetName(t)}`);
        return logChunk(t, nodeId, { errorCode: e.code, errorMessage: e.message });
      }
      return logChunk(t, nodeId, { data: res.logs });
    } catch (err) {
      const e = asShoalError(err);
      return logChunk(t, nodeId, { errorCode: e.code, errorMessage: e.message });
    }
  }
}

function logChunk(t: Target, nodeId: string, fields: { data?: Uint8Array; errorCode?: string; errorMessage?: string }): LogChunk {
  return {
    taskId: t.kind === 'task' ? t.task.id : '',
    taskName: targetName(t),
    nodeId,
    data: fields.data ?? new Uint8Array(0),
    containerId: t.kind === 'container' ? t.container.id : '',
    serviceName: t.kind === 'task' ? t.task.serviceName : '',
    slot: t.kind === 'task' ? t.task.slot : 0,
    errorCode: fields.errorCode ?? '',
    errorMessage: fields.errorMessage ?? '',
  };
}
