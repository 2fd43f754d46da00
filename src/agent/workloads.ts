/**
 * The node's workloads: every task and standalone container the manager assigned here, as
 * real processes in sandboxes, with the lifecycle the manager sees.
 *
 *   assigned (desired running) -> pending: its sandbox is in the overlay model; once the
 *   overlay sync has built it -> started: the process runs, reported "running" -> health
 *   changes reported as they happen -> the process exits on its own ("complete" with exit 0,
 *   "failed" with its exit code) or the manager asks it down ("shutdown"). A task asked
 *   down first drains: it leaves every load balancer (its endpoints turn "draining"), and
 *   runs on until the manager says every node that balanced to it let it go
 *   (`task.drained`); then the agent waits for its open inbound connections to end (from
 *   handshake to last acknowledgement, and none open twice, QUIET_MS apart), up to the
 *   stop grace period, and stops it: SIGTERM, then SIGKILL after the stop grace
 *   period. A stopped workload's sandbox leaves the model and the overlay sync removes it.
 *
 * Processes outlive the agent: at start the runtime adopts those still running (same PID),
 * and nothing is stopped until the first assignment says what this node should run.
 * Reconciliation runs in one SyncRunner; event handlers only record and trigger.
 */
import type { Container, HealthConfig, Task, TaskStatus, TaskStatusUpdate, ContainerStatusUpdate } from '../api/api-types.ts';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { SyncRunner } from '../common/sync-runner.ts';
import type { AssignmentState } from './session-client.ts';
import { containerOwner, taskOwner, type SandboxOwner } from './dataplane-model.ts';
import type { ProcessSpec, RuntimeEvent, TaskRuntime } from './tasks/runtime.ts';

const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);
const DEFAULT_GRACE_MS = 10_000;
/**
 * How long the sandbox of a task that exited on its own (killed, crashed) outlives it. Other
 * nodes' load balancers still send it connections until its endpoint's removal reaches them;
 * while the sandbox (address, veth) is there, nothing listening, those are refused at once
 * and a client can try again. Without it they are lost on the way (the neighbour entries
 * still name it) and the client waits for its connect timeout.
 */
const EXITED_LINGER_MS = 3_000;
/** How long a drained task waits at most for this node's own load balancers to let it go. */
const LOCAL_LET_GO_MAX_MS = 5_000;
/** How long a drained task with no open connection waits before the second look that lets it stop. */
const QUIET_MS = 250;
/** Ended workloads whose logs stay readable after the manager forgot them. */
export const RETAINED_ENDED = 32;

type Phase = 'pending' | 'starting' | 'running' | 'stopping' | 'exited';

export interface Workload {
  id: string;
  kind: 'task' | 'container';
  name: string;
  phase: Phase;
  pid: number;
  health: '' | 'starting' | 'healthy' | 'unhealthy';
  exitCode: number;
  /** The manager asked it down (so its end is "shutdown", whatever the exit code). */
  stopRequested: boolean;
  owner: SandboxOwner;
  /** Last state reported to the manager. */
  reported: string;
  /** The manager asked it down and it waits to be let go by every load balancer. */
  draining?: boolean;
  /** It exited on its own and its sandbox stays until then (ms, the clock's): see EXITED_LINGER_MS. */
  lingerUntil?: number;
  /** When the manager first said it was drained while this node's own load balancers still sent to it (ms, the clock's). */
  drainedAt?: number;
}

export interface WorkloadReporter {
  reportTasks(updates: TaskStatusUpdate[]): void;
  reportContainers(updates: ContainerStatusUpdate[]): void;
}

export interface WorkloadsOptions {
  runtime: TaskRuntime;
  reporter: WorkloadReporter;
  /** Sandbox namespace name of an owner. */
  sandboxNetns: (id: string) => string;
  /** resolv.conf and hosts content for a sandbox. */
  files: (w: { id: string; hostname: string; addresses: string[]; dnsSearch: string[]; dnsOptions: string[] }) => {
    resolvConf: string;
    hosts: string;
  };
  /** The set of sandboxes the overlay must hold changed. */
  onSandboxesChanged: () => void;
  /** A workload's running/health/draining state changed (endpoint publication and load balancers follow it). */
  onWorkloadChanged: () => void;
  /**
   * Whether this node's own load balancers send a draining workload no new connection any
   * more. The manager's `drained` waits for the nodes that watched the task's networks when
   * its drain began; this node, back from Down, may not have been one of them, yet its mesh
   * balances to its own tasks. None = do not wait.
   */
  letGoHere?: (w: Workload) => boolean;
  /** Open inbound connections of a running workload (a drained task waits for them to end); none = do not wait. */
  openConnections?: (w: Workload) => Promise<number>;
  clock?: Clock;
  logger: Logger;
}

function status(state: string, message: string, extra: Partial<TaskStatus> = {}): TaskStatus {
  return { state, message, err: '', timestamp: new Date().toISOString(), exitCode: 0, health: '', ...extra };
}

export class Workloads {
  private readonly o: WorkloadsOptions;
  private readonly items = new Map<string, Workload>();
  /** Stops under way, by workload id. */
  private readonly stops = new Map<string, Promise<void>>();
  /** Ended workloads whose record and log are still kept, oldest first. */
  private readonly ended: string[] = [];
  private assignment: AssignmentState | undefined;
  /** Sandboxes the last successful overlay sync built. */
  private ready = new Set<string>();
  readonly runner: SyncRunner;
  private readonly clock: Clock;

  constructor(options: WorkloadsOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.runner = new SyncRunner(() => this.sync(), {
      name: 'workloads',
      minIntervalMs: 20,
      clock: this.clock,
      logger: options.logger,
    });
  }

  /** Adopts the processes that outlived the previous agent. */
  async adopt(): Promise<string[]> {
    const adopted = await this.o.runtime.adopt();
    for (const a of adopted) {
      this.items.set(a.id, {
        id: a.id,
        kind: 'task',
        name: a.spec.name,
        phase: 'running',
        pid: a.pid,
        health: a.spec.health ? 'starting' : '',
        exitCode: 0,
        stopRequested: false,
        owner: { id: a.id, networks: [] },
        // reported again once the assignment names it: the manager may not have heard it
        reported: '',
      });
    }
    return adopted.map((a) => a.id);
  }

  setAssignment(state: AssignmentState): void {
    this.assignment = state;
    this.runner.trigger();
  }

  /** Called after each overlay sync with the sandboxes it built. */
  overlayApplied(ids: ReadonlySet<string>): void {
    this.ready = new Set(ids);
    this.runner.trigger();
  }

  onRuntimeEvent(e: RuntimeEvent): void {
    const w = this.items.get(e.id);
    if (!w) {
      // a process that ended while no agent ran: reported once the assignment names it
      if (e.kind === 'exited') {
        this.items.set(e.id, {
          id: e.id,
          kind: 'task',
          name: e.id,
          phase: 'exited',
          pid: 0,
          health: '',
          exitCode: e.exitCode,
          stopRequested: false,
          owner: { id: e.id, networks: [] },
          reported: '',
        });
        this.runner.trigger();
      }
      return;
    }
    if (e.kind === 'exited') {
      const wasRunning = w.phase === 'running';
      w.phase = 'exited';
      w.exitCode = e.exitCode;
      if (wasRunning && !w.stopRequested && w.kind === 'task') {
        w.lingerUntil = this.clock.now() + EXITED_LINGER_MS;
        this.clock.setTimer(EXITED_LINGER_MS, () => this.o.onSandboxesChanged());
      }
      this.o.logger.info({ id: w.id, name: w.name, exitCode: e.exitCode, signal: e.signal }, 'workload exited');
      this.report(w, this.endState(w, e.message));
      this.o.onSandboxesChanged();
      this.o.onWorkloadChanged();
      this.runner.trigger();
    } else if (e.kind === 'health') {
      w.health = e.health;
      this.o.logger.info({ id: w.id, name: w.name, health: e.health }, 'health changed');
      if (w.phase === 'running') this.report(w, status('running', 'started', { health: e.health }));
      this.o.onWorkloadChanged();
    }
  }

  /** Owners whose sandbox must exist: every workload not exited, and a task that exited on its own for EXITED_LINGER_MS. */
  sandboxes(): SandboxOwner[] {
    const now = this.clock.now();
    return [...this.items.values()].filter((w) => w.phase !== 'exited' || (w.lingerUntil ?? 0) > now).map((w) => w.owner);
  }

  list(): Workload[] {
    return [...this.items.values()];
  }

  get(id: string): Workload | undefined {
    return this.items.get(id);
  }

  /** Resolves a task or container by ID, ID prefix or name. */
  find(ref: string): Workload | undefined {
    const exact = this.items.get(ref);
    if (exact) return exact;
    const matches = [...this.items.values()].filter((w) => w.id.startsWith(ref) || w.name === ref);
    return matches.length === 1 ? matches[0] : undefined;
  }

  private endState(w: Workload, message: string): TaskStatus {
    const health = w.health;
    if (w.stopRequested) return status('shutdown', 'shutdown', { exitCode: w.exitCode, health });
    if (w.exitCode === 0) return status('complete', 'finished', { health });
    return status('failed', message || 'exited', { err: `task: non-zero exit (${w.exitCode})`, exitCode: w.exitCode, health });
  }

  private report(w: Workload, s: TaskStatus): void {
    w.reported = s.state;
    if (w.kind === 'task') this.o.reporter.reportTasks([{ taskId: w.id, status: s }]);
    else {
      const state = s.state === 'running' ? 'running' : 'exited';
      this.o.reporter.reportContainers([{ containerId: w.id, state }]);
    }
  }

  /** The desired workloads of the assignment: id -> what to run. */
  private desired(state: AssignmentState): Map<string, { kind: 'task' | 'container'; task?: Task; container?: Container }> {
    const out = new Map<string, { kind: 'task' | 'container'; task?: Task; container?: Container }>();
    const self = state.node?.id;
    for (const t of state.tasks.values()) {
      if (self && t.nodeId !== self) continue;
      out.set(t.id, { kind: 'task', task: t });
    }
    for (const c of state.containers.values()) out.set(c.id, { kind: 'container', container: c });
    return out;
  }

  private async sync(): Promise<void> {
    const state = this.assignment;
    if (!state) return; // nothing is started or stopped before the first assignment
    const desired = this.desired(state);
    let sandboxesChanged = false;
    const work: Array<Promise<void>> = [];

    for (const [id, d] of desired) {
      let w = this.items.get(id);
      const wantRunning = d.task ? d.task.desiredState === 'running' : d.container!.state !== 'exited';
      const owner = d.task ? taskOwner(d.task) : containerOwner(d.container!);
      if (w) {
        w.kind = d.kind;
        if (w.phase === 'exited' && w.reported === '') this.report(w, this.endState(w, 'exited while the agent was down'));
        if (w.phase !== 'exited' && JSON.stringify(w.owner.networks) !== JSON.stringify(owner.networks)) {
          // an adopted workload learns its attachments from the assignment; a running one
          // gains or loses a network in place (service update --network-add/--network-rm):
          // the overlay adds or removes that one interface, the process runs on
          if (w.owner.networks.length > 0)
            this.o.logger.info({ id: w.id, name: w.name, networks: owner.networks.map((n) => n.networkId) }, 'attachments changed');
          w.owner = owner;
          sandboxesChanged = true;
        }
      }
      if (wantRunning) {
        if (!w) {
          // a task the manager already sees as ended is not started again
          if (d.task && TERMINAL.has(d.task.status.state)) continue;
          w = {
            id,
            kind: d.kind,
            name: d.task?.name ?? d.container!.spec.name,
            phase: 'pending',
            pid: 0,
            health: '',
            exitCode: 0,
            stopRequested: false,
            owner,
            reported: '',
          };
          this.items.set(id, w);
          sandboxesChanged = true;
        }
        if (w.phase === 'pending' && this.ready.has(id)) work.push(this.startOne(w, d.task, d.container));
        if (w.phase === 'running' && w.reported !== 'running') this.report(w, status('running', 'started', { health: w.health }));
      } else if (w && (w.phase === 'running' || w.phase === 'pending' || w.phase === 'starting')) {
        const graceMs = d.task?.spec.stopGracePeriodMs ?? DEFAULT_GRACE_MS;
        if (d.task && w.phase === 'running' && (!d.task.drained || !this.letGoHere(w))) {
          // leaving the load balancers: runs on until every node that balanced to it let it go
          if (!w.draining) {
            w.draining = true;
            this.o.logger.info({ id: w.id, name: w.name }, 'draining: waiting for every load balancer to let the task go');
            this.o.onWorkloadChanged();
          }
        } else {
          this.startStop(w, graceMs, d.task !== undefined && w.phase === 'running');
        }
      } else if (!w && d.task && !TERMINAL.has(d.task.status.state)) {
        // assigned here and asked down before this agent ever ran it (the node was away
        // meanwhile): it ends as shutdown without running, or it would stay "assigned" and
        // keep its addresses for ever
        this.o.reporter.reportTasks([{ taskId: id, status: status('shutdown', 'shut down before it started') }]);
      }
    }
    // workloads the manager no longer assigns: stop, then forget
    for (const w of [...this.items.values()]) {
      if (desired.has(w.id)) continue;
      if (w.phase === 'exited') {
        this.items.delete(w.id);
        await this.retire(w.id);
        sandboxesChanged = true;
      } else if (w.phase !== 'stopping') {
        this.startStop(w, DEFAULT_GRACE_MS, false);
      }
    }
    await Promise.all(work);
    if (sandboxesChanged) this.o.onSandboxesChanged();
  }

  /**
   * Forgets an ended workload but keeps its record and log for a while, as Docker keeps an
   * exited container's: `shoal service logs` still shows what a failed task printed. The
   * oldest go once more than RETAINED_ENDED are kept.
   */
  private async retire(id: string): Promise<void> {
    this.ended.push(id);
    while (this.ended.length > RETAINED_ENDED) await this.o.runtime.remove(this.ended.shift()!);
  }

  private async startOne(w: Workload, task: Task | undefined, container: Container | undefined): Promise<void> {
    w.phase = 'starting';
    const tpl = task?.spec;
    const argv = task ? [...tpl!.command, ...tpl!.args] : [...container!.spec.command];
    const hostname = (task ? tpl!.hostname : container!.spec.hostname) || w.id.slice(0, 12);
    const addresses = w.owner.networks.flatMap((n) => n.addresses.map((a) => a.split('/')[0]!));
    const files = this.o.files({
      id: w.id,
      hostname,
      addresses,
      dnsSearch: (task ? tpl!.dnsSearch : container!.spec.dnsSearch) ?? [],
      dnsOptions: (task ? tpl!.dnsOptions : container!.spec.dnsOptions) ?? [],
    });
    const health: HealthConfig | undefined =
      tpl?.health && tpl.health.cmd.length > 0 && tpl.health.cmd[0] !== 'NONE' ? tpl.health : undefined;
    const spec: ProcessSpec = {
      id: w.id,
      name: w.name,
      netns: this.o.sandboxNetns(w.id),
      argv,
      env: task ? tpl!.env : container!.spec.env,
      hostname,
      resolvConf: files.resolvConf,
      hosts: files.hosts,
      ...(health ? { health } : {}),
    };
    try {
      const { pid } = await this.o.runtime.start(spec);
      if ((w.phase as Phase) !== 'starting') return; // stopped or exited meanwhile
      w.pid = pid;
      w.phase = 'running';
      w.health = health ? 'starting' : '';
      this.o.logger.info({ id: w.id, name: w.name, pid }, 'workload started');
      this.report(w, status('running', 'started', { health: w.health }));
      this.o.onWorkloadChanged();
    } catch (err) {
      w.phase = 'exited';
      w.exitCode = 127;
      const message = (err as Error).message;
      this.o.logger.warn({ id: w.id, err }, 'cannot start workload');
      this.report(w, status('rejected', 'start failed', { err: message }));
      this.o.onSandboxesChanged();
    }
  }

  /** This node's load balancers applied a change: a drained task waiting for their let-go looks again. */
  loadBalancersApplied(): void {
    for (const w of this.items.values()) {
      if (w.drainedAt !== undefined && w.phase === 'running') {
        this.runner.trigger();
        return;
      }
    }
  }

  /** `letGoHere`, waited for LOCAL_LET_GO_MAX_MS at most after the manager said drained. */
  private letGoHere(w: Workload): boolean {
    const check = this.o.letGoHere;
    if (!check || check(w)) return true;
    const clock = this.clock;
    if (w.drainedAt === undefined) {
      w.drainedAt = clock.now();
      clock.setTimer(LOCAL_LET_GO_MAX_MS, () => this.runner.trigger());
      return false;
    }
    return clock.now() - w.drainedAt >= LOCAL_LET_GO_MAX_MS;
  }

  /** Stops a workload without holding up the reconciliation (others start meanwhile). */
  private startStop(w: Workload, graceMs: number, waitConnections: boolean): void {
    if (this.stops.has(w.id)) return;
    const p = this.stopOne(w, graceMs, waitConnections)
      .catch((err: unknown) => this.o.logger.warn({ id: w.id, err }, 'stop failed'))
      .finally(() => this.stops.delete(w.id));
    this.stops.set(w.id, p);
  }

  /** Waits for a drained task's inbound connections to end, at most graceMs. */
  private async waitConnections(w: Workload, graceMs: number): Promise<void> {
    const count = this.o.openConnections;
    if (!count) return;
    const clock = this.clock;
    const deadline = clock.now() + graceMs;
    const pause = (ms: number): Promise<void> =>
      new Promise<void>((resolve) => clock.setTimer(Math.min(ms, Math.max(1, deadline - clock.now())), resolve));
    let open = await count(w).catch(() => 0);
    let logged = false;
    for (;;) {
      while (open > 0 && clock.now() < deadline && w.phase === 'stopping') {
        if (!logged) this.o.logger.info({ id: w.id, name: w.name, open, graceMs }, 'drained: waiting for open connections to end');
        logged = true;
        await pause(100);
        open = await count(w).catch(() => 0);
      }
      if (open > 0 || clock.now() >= deadline || w.phase !== 'stopping') break;
      // None open: read once more a moment later, for a connection a load balancer sent
      // just before it let the task go whose first packet was still on its way.
      await pause(QUIET_MS);
      open = await count(w).catch(() => 0);
      if (open === 0) return;
    }
    if (open > 0) this.o.logger.info({ id: w.id, name: w.name, open }, 'stop grace period over with connections still open');
  }

  private async stopOne(w: Workload, graceMs: number, waitConnections = false): Promise<void> {
    const wasPending = w.phase === 'pending';
    w.stopRequested = true;
    w.phase = 'stopping';
    this.o.onWorkloadChanged(); // leaves gossip before its process goes
    if (waitConnections && !wasPending && w.pid > 0) await this.waitConnections(w, graceMs);
    if (!wasPending && w.pid > 0) {
      try {
        const { exitCode } = await this.o.runtime.stop(w.id, graceMs);
        w.exitCode = exitCode;
      } catch (err) {
        this.o.logger.warn({ id: w.id, err }, 'stop failed');
      }
    }
    w.phase = 'exited';
    this.report(w, this.endState(w, 'shutdown'));
    this.o.onSandboxesChanged();
    this.runner.trigger(); // forgets it if the manager no longer assigns it
  }

  /** Stops every workload (agent shutdown without --keep-state); stops under way are waited for. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.items.values()].filter((w) => w.phase !== 'exited').map((w) => this.stops.get(w.id) ?? this.stopOne(w, DEFAULT_GRACE_MS)),
    );
  }
}
