/**
 * A scripted agent: the real AgentSession (mTLS session, reports, relayed requests,
 * endpoint watches) with a stand-in for everything an agent does to the machine. Tests
 * whose subject is the manager use it instead of `shoal agent`, which programs the kernel
 * of the namespace it runs in: these tests run on loopback in the root namespace, where no
 * data plane may be touched. Nothing here runs a process or opens a socket besides the
 * session's.
 *
 * What it does, from the assignment alone:
 * - a task assigned to it is reported running; a task whose command is `exit N` then ends
 *   at once (failed with exit status N, or complete for 0), which exercises exit codes and
 *   the restart policy; a task asked to shut down is reported shutdown once the manager
 *   says it is drained (out of every load balancer), as a real agent stops it only then;
 * - it has no load balancers, so every draining endpoint its endpoint watches show it
 *   (`session.watchEndpoints`, which the test calls) has left them at once: it says so to
 *   the manager (`reportDrained`) as soon as the event arrives, so a drain that waits for
 *   this node ends without waiting for the manager's timeout (`ackDrains: false` turns
 *   that off, for tests of the timeout);
 * - a standalone container is reported running;
 * - exec and logs requests are answered from canned data (CANNED_COMMANDS below), unless
 *   the test passes its own `answer`; the log of a task it does not know (yet) is empty,
 *   as api.proto asks of agents.
 *
 * Also runnable as a process (scripted-agent-main.ts) for tests that stop, freeze
 * (SIGSTOP) or kill an agent.
 */
import type { AgentRequest, AgentResponseBody, Task, TaskStatus, TaskStatusUpdate } from '../../src/api/api-types.ts';
import { apiError } from '../../src/api/errors.ts';
import type { AgentIdentity } from '../../src/agent/join.ts';
import { AgentSession } from '../../src/agent/session-client.ts';
import type { AgentSessionOptions, AssignmentState, EndpointWatch, EndpointWatchEvent } from '../../src/agent/session-client.ts';

/**
 * The session of a scripted agent: every endpoint watch acknowledges the draining
 * endpoints of each event as it arrives (there are no load balancers to take them out of).
 */
class AcknowledgingSession extends AgentSession {
  /** Endpoint IDs acknowledged, in order (tests). */
  readonly acknowledged: string[] = [];
  ackDrains = true;

  override watchEndpoints(networkIds: readonly string[], onEvent: (e: EndpointWatchEvent) => void): EndpointWatch {
    return super.watchEndpoints(networkIds, (e) => {
      onEvent(e);
      if (!this.ackDrains) return;
      const ids = e.upserts.filter((x) => x.state === 'draining').map((x) => x.id);
      if (ids.length === 0) return;
      this.acknowledged.push(...ids);
      this.reportDrained(ids);
    });
  }
}

/**
 * The commands the scripted agent "runs" for exec:
 *   echo ARGS...   prints ARGS joined by spaces and a newline
 *   exit N         exits with status N
 *   bytes HEX      writes the bytes HEX names to stdout (binary-safe output)
 *   stderr ARGS... prints ARGS on stderr and exits 1
 *   env            prints the request's environment, one NAME=value a line
 *   pwd            prints the request's working directory (/ when none)
 *   hostname       prints the task's (or container's) name
 *   hang           never answers (deadlines, agents that go away mid-request)
 * anything else exits 127 with `NAME: command not found` on stderr.
 */
export const CANNED_COMMANDS = ['echo', 'exit', 'bytes', 'stderr', 'env', 'pwd', 'hostname', 'hang'] as const;

/** The canned log of a task or container: three lines naming it. */
export function cannedLog(name: string): string {
  return `${name} started\n${name} is serving\n${name} line 3\n`;
}

/** The last `tail` lines of a log (all when undefined). */
export function tailLines(text: string, tail: number | undefined): string {
  if (tail === undefined) return text;
  if (tail === 0) return '';
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return `${lines.slice(-tail).join('\n')}\n`;
}

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const EMPTY = new Uint8Array(0);

/** The canned answer to an exec of `argv` in a workload named `name`; undefined = never answer. */
export function cannedExec(argv: readonly string[], name: string, req: AgentRequest): AgentResponseBody | undefined {
  const [cmd = '', ...args] = argv;
  switch (cmd) {
    case 'echo':
      return { exitCode: 0, stdout: enc(`${args.join(' ')}\n`) };
    case 'exit':
      return { exitCode: Number(args[0] ?? 0) };
    case 'bytes':
      return { exitCode: 0, stdout: new Uint8Array(Buffer.from(args[0] ?? '', 'hex')) };
    case 'stderr':
      return { exitCode: 1, stderr: enc(`${args.join(' ')}\n`) };
    case 'env':
      return { exitCode: 0, stdout: enc(req.env.map((e) => `${e}\n`).join('')) };
    case 'pwd':
      return { exitCode: 0, stdout: enc(`${req.workdir || '/'}\n`) };
    case 'hostname':
      return { exitCode: 0, stdout: enc(`${name}\n`) };
    case 'hang':
      return undefined;
    default:
      return { exitCode: 127, stderr: enc(`${cmd}: command not found\n`) };
  }
}

export interface ScriptedAgentOptions {
  identity: AgentIdentity;
  /** IP:PORT of the manager (default: the identity's). */
  managerAddr?: string;
  advertiseAddr?: string;
  hostname?: string;
  gossipPort?: number;
  /** Where the session writes assignment.json. */
  dataDir?: string;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** false: report nothing by itself (the test calls `report`). Default true. */
  autoReport?: boolean;
  /** false: never acknowledge draining endpoints (the manager's drain waits run out). Default true. */
  ackDrains?: boolean;
  /** Answers a request instead of the canned rules; undefined falls back to them. */
  answer?: (req: AgentRequest, agent: ScriptedAgent) => Promise<AgentResponseBody | undefined> | AgentResponseBody | undefined;
  onFatal?: AgentSessionOptions['onFatal'];
  logger?: AgentSessionOptions['logger'];
}

function status(state: string, message: string, exitCode = 0): TaskStatus {
  return { state, message, err: '', timestamp: '', exitCode, health: '' };
}

export class ScriptedAgent {
  readonly session: AcknowledgingSession;
  /** Every request the manager relayed, in arrival order. */
  readonly requests: AgentRequest[] = [];
  /** What this agent reported last for each task. */
  readonly reported = new Map<string, string>();
  private readonly options: ScriptedAgentOptions;
  private readonly reportedContainers = new Set<string>();

  constructor(options: ScriptedAgentOptions) {
    this.options = options;
    this.session = new AcknowledgingSession({
      identity: options.identity,
      ...(options.managerAddr !== undefined ? { managerAddr: options.managerAddr } : {}),
      advertiseAddr: options.advertiseAddr ?? '127.0.0.1',
      ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
      ...(options.gossipPort !== undefined ? { gossipPort: options.gossipPort } : {}),
      ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
      ...(options.reconnectMinMs !== undefined ? { reconnectMinMs: options.reconnectMinMs } : {}),
      ...(options.reconnectMaxMs !== undefined ? { reconnectMaxMs: options.reconnectMaxMs } : {}),
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      onState: (s) => this.onState(s),
      onRequest: (req) => this.onRequest(req),
    });
    this.session.ackDrains = options.ackDrains !== false;
  }

  get nodeId(): string {
    return this.options.identity.nodeId;
  }

  start(): void {
    this.session.start();
  }

  close(): void {
    this.session.close();
  }

  /** Reports task states through the session (as a real agent does when its processes change). */
  report(updates: TaskStatusUpdate[]): void {
    for (const u of updates) this.reported.set(u.taskId, u.status.state);
    this.session.reportTasks(updates);
  }

  /** Reports that a task's process exited with `exitCode` (failed, or complete for 0). */
  exit(taskId: string, exitCode: number): void {
    this.report([{ taskId, status: status(exitCode === 0 ? 'complete' : 'failed', `exited with ${exitCode}`, exitCode) }]);
  }

  private onState(s: AssignmentState): void {
    if (this.options.autoReport === false) return;
    const updates: TaskStatusUpdate[] = [];
    for (const t of s.tasks.values()) updates.push(...this.next(t));
    if (updates.length > 0) this.report(updates);
    const containers = [...s.containers.values()].filter((c) => c.state !== 'running' && !this.reportedContainers.has(c.id));
    for (const c of containers) this.reportedContainers.add(c.id);
    if (containers.length > 0) this.session.reportContainers(containers.map((c) => ({ containerId: c.id, state: 'running' })));
    for (const id of this.reportedContainers) if (!s.containers.has(id)) this.reportedContainers.delete(id);
    for (const id of this.reported.keys()) if (!s.tasks.has(id)) this.reported.delete(id);
  }

  /** What to report for a task after an assignment change. */
  private next(t: Task): TaskStatusUpdate[] {
    const mine = this.reported.get(t.id);
    const ended = (state: string | undefined): boolean =>
      state !== undefined && ['complete', 'failed', 'shutdown', 'rejected', 'orphaned'].includes(state);
    if (ended(mine) || ended(t.status.state)) return [];
    // a task being shut down is stopped once it left every load balancer
    if (t.desiredState !== 'running') return t.drained ? [{ taskId: t.id, status: status('shutdown', 'stopped') }] : [];
    if (mine === 'running' || t.status.state === 'running') return [];
    const out: TaskStatusUpdate[] = [{ taskId: t.id, status: status('running', 'started') }];
    if (t.spec.command[0] === 'exit') {
      const code = Number(t.spec.command[1] ?? 0);
      out.push({ taskId: t.id, status: status(code === 0 ? 'complete' : 'failed', `exited with ${code}`, code) });
    }
    return out;
  }

  private async onRequest(req: AgentRequest): Promise<AgentResponseBody> {
    this.requests.push(req);
    const own = await this.options.answer?.(req, this);
    if (own !== undefined) return own;
    const s = this.session.state;
    const task = req.taskId !== '' ? s.tasks.get(req.taskId) : undefined;
    const container = req.containerId !== '' ? s.containers.get(req.containerId) : undefined;
    const name = task?.name ?? container?.spec.name;
    if (req.kind === 'logs') return { logs: name === undefined ? EMPTY : enc(tailLines(cannedLog(name), req.tail)) };
    if (name === undefined)
      throw apiError('SHOAL_ERR_TASK_NOT_FOUND', `no task or container ${req.taskId || req.containerId} on this node`);
    if (req.kind !== 'exec') throw apiError('SHOAL_ERR_UNSUPPORTED', `unknown request kind ${req.kind}`);
    const answer = cannedExec(req.argv, name, req);
    if (answer === undefined) return new Promise<AgentResponseBody>(() => {}); // `hang`
    return answer;
  }
}
