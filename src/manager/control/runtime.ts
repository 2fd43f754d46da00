/**
 * `exec`, logs and `doctor`: commands and output of what runs on the nodes, and each
 * node's data-plane drift. The manager never dials an agent (agents may sit behind NAT and
 * only hold their session open), so a request is relayed over the session of the node that
 * runs the task (the dispatcher, through the narrow AgentRelay interface) and the agent
 * answers with Dispatcher.Respond. A doctor request goes to each node it names at once;
 * a node that cannot answer is in the result with its error code, not a failure of all.
 *
 * Here: resolving what the user named (a task by ID, ID prefix, name or slot; a container
 * by ID, name or ID prefix), checking that it can answer (running for exec, its node not
 * Down), and turning the agent's answer into the API's result or error. Errors say which
 * of these failed with stable codes: no such task or container (SHOAL_ERR_TASK_NOT_FOUND),
 * not running (SHOAL_ERR_NOT_RUNNING), node down or agent not connected
 * (SHOAL_ERR_AGENT_UNAVAILABLE), no answer in time (SHOAL_ERR_TIMEOUT); an error the
 * agent answered with is passed on with its code.
 *
 * Logs are read in whole or from a cursor: each chunk says the byte offset just after its
 * data (`end`) and whether its task had ended before the read (`ended`: nothing more will
 * come). `service logs --follow` polls with the ends it got as `offsets`, so each poll
 * returns only what was written since, for every task of the service, new ones included.
 */
import { DEFAULT_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS } from '../../api/api-defaults.ts';
import type {
  AgentRequest,
  AgentResponse,
  DoctorRequest,
  ExecRequest,
  ExecResult,
  LogChunk,
  LogsRequest,
  NodeDoctor,
} from '../../api/api-types.ts';
import { apiError } from '../../api/errors.ts';
import { asShoalError, ShoalError } from '../../common/errors.ts';
import type { ContainerRecord, Kinds, NodeRecord, TaskRecord } from '../objects.ts';
import { nodeName, resolveNode, resolveService } from '../refs.ts';
import type { ReadTx } from '../store.ts';
import { isTerminal } from '../scheduler.ts';
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
    assertUp(node, ` of ${what}`);
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
    const offsets = req.offsets ?? {};
    for (const [id, offset] of Object.entries(offsets)) {
      if (!isInt(offset) || offset < 0) throw invalid(`log offset ${String(offset)} of ${id} is not a whole number >= 0`, { id, offset });
    }
    const sinceMs = req.sinceMs;
    if (sinceMs !== undefined && (!isInt(sinceMs) || sinceMs < 0))
      throw invalid(`logs since ${String(sinceMs)} is not a time in ms >= 0`, { sinceMs });
    const timestamps = req.timestamps === true;
    const cursor = (t: Target): LogRead => {
      const offset = offsets[t.kind === 'task' ? t.task.id : t.container.id];
      if (offset !== undefined) return { offset, timestamps };
      return { ...(tail !== undefined ? { tail } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}), timestamps };
    };
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
      if (nodeId === '') return [logChunk(t, '', { ended: targetEnded(t) })];
      const chunk = await this.fetchLog(t, nodeId, cursor(t));
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
        return this.fetchLog(t, nodeId, cursor(t));
      }),
    );
  }

  /**
   * `doctor`: each named node's report from its agent, all at once. A node that is down,
   * whose agent is not connected or does not answer in time, is in the result with that
   * error; the others are checked all the same.
   */
  async doctor(req: DoctorRequest): Promise<NodeDoctor[]> {
    const nodes = this.core.store.view((tx) => doctorNodes(tx, req));
    return Promise.all(
      nodes.map(async (n): Promise<NodeDoctor> => {
        const base = { nodeId: n.id, nodeName: nodeName(n) };
        try {
          assertUp(n, '');
          const res = await this.send(
            n.id,
            {
              kind: 'doctor',
              taskId: '',
              containerId: '',
              argv: [],
              timeoutMs: 0,
              env: [],
              workdir: '',
              doctorRepair: req.repair === true,
            },
            // a repair waits for the syncs of each part: a full read of the node's kernel state
            this.core.config.agentRequestTimeoutMs * (req.repair === true ? 6 : 3),
          );
          if (res.errorCode !== '') {
            const e = agentError(res, n.id, 'the doctor request');
            return { ...base, errorCode: e.code, errorMessage: e.message };
          }
          if (!res.doctor) {
            return {
              ...base,
              errorCode: 'SHOAL_ERR_UNSUPPORTED',
              errorMessage: `the agent of node ${nodeName(n)} answered without a report`,
            };
          }
          return { ...base, report: res.doctor, errorCode: '', errorMessage: '' };
        } catch (err) {
          const e = asShoalError(err);
          return { ...base, errorCode: e.code, errorMessage: e.message };
        }
      }),
    );
  }

  /**
   * One target's log through its agent; a failure becomes the chunk's error. `ended` is
   * the target's state as the store had it before the read (`t` was read then): a task
   * that had ended then has written its last byte before the agent reads.
   */
  private async fetchLog(t: Target, nodeId: string, from: LogRead): Promise<LogChunk> {
    const ended = targetEnded(t);
    const tail = from.tail;
    try {
      const res = await this.send(
        nodeId,
        {
          kind: 'logs',
          taskId: t.kind === 'task' ? t.task.id : '',
          containerId: t.kind === 'container' ? t.container.id : '',
          argv: [],
          ...(tail !== undefined ? { tail } : {}),
          ...(from.offset !== undefined ? { logOffset: from.offset } : {}),
          ...(from.sinceMs !== undefined ? { logSinceMs: from.sinceMs } : {}),
          ...(from.timestamps ? { logTimestamps: true } : {}),
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
      return logChunk(t, nodeId, { data: res.logs, end: res.logEnd ?? 0, ended, lineTimes: res.logTimes ?? [] });
    } catch (err) {
      const e = asShoalError(err);
      return logChunk(t, nodeId, { errorCode: e.code, errorMessage: e.message });
    }
  }
}

/** SHOAL_ERR_AGENT_UNAVAILABLE when the node is down (`of`: what the request was for, as ` of task web.1`). */
function assertUp(node: NodeRecord, of: string): void {
  if (node.status.state !== 'down') return;
  throw apiError(
    'SHOAL_ERR_AGENT_UNAVAILABLE',
    `node ${nodeName(node)}${of} is down: its agent does not answer (${node.status.message || 'heartbeat failure'})`,
    { nodeId: node.id },
  );
}

/**
 * The nodes a doctor request names (`all`: every node, by name), each resolved by ID,
 * name or unique ID prefix; SHOAL_ERR_NODE_NOT_FOUND names the first that is none.
 */
export function doctorNodes(tx: ReadTx<Kinds>, req: DoctorRequest): NodeRecord[] {
  const refs = req.nodes ?? [];
  if (req.all === true && refs.length > 0) throw invalid('doctor takes either nodes or all, not both');
  if (req.all !== true && refs.length === 0) throw invalid('doctor needs nodes or all');
  const nodes = req.all === true ? tx.all('node') : refs.map((ref) => resolveNode(tx, ref));
  const seen = new Set<string>();
  return nodes
    .filter((n) => !seen.has(n.id) && seen.add(n.id))
    .sort((a, b) => nodeName(a).localeCompare(nodeName(b)) || a.id.localeCompare(b.id));
}

/** Where one log is read from: a cursor, or its tail and since; and whether with line times. */
interface LogRead {
  tail?: number;
  offset?: number;
  sinceMs?: number;
  timestamps: boolean;
}

/** A task or container that ended (or was told to stop and has): its log is complete. */
function targetEnded(t: Target): boolean {
  return t.kind === 'task' ? isTerminal(t.task) : t.container.state === 'exited';
}

function logChunk(
  t: Target,
  nodeId: string,
  fields: { data?: Uint8Array; errorCode?: string; errorMessage?: string; end?: number; ended?: boolean; lineTimes?: number[] },
): LogChunk {
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
    end: fields.end ?? 0,
    ended: fields.ended ?? false,
    lineTimes: fields.lineTimes ?? [],
  };
}
