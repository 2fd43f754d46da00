/**
 * The task runtime: a task's (or standalone container's) command as a real, long-lived
 * process inside its sandbox network namespace, with its own /etc/resolv.conf, /etc/hosts
 * and hostname, its environment, its output in a log file, its health check, and `exec`.
 *
 * Processes outlive the agent. Each is started detached (a session of its own), with stdin
 * /dev/null and stdout+stderr appended to DIR/<id>/output.log by file descriptor, under a
 * small supervisor shell that records the exit status in DIR/<id>/exit (launch.ts: the
 * process tree and why; launcher.ts: one start; task-dir.ts: the files). An agent killed
 * with SIGKILL and started again adopts its tasks (adopt()), same pids, and still learns
 * their exit codes. Exits are noticed through one inotify watch and a slow safety poll
 * (event-watcher.ts), and at once while the supervisor is this agent's child.
 *
 * The sandbox network namespace is the overlay's: it exists before start() and is deleted
 * after stop(); this module only runs processes in it.
 *
 * Events (onEvent) are delivered at least once: an exit reported before an agent restart
 * is reported again by the next adopt() until the task is remove()d.
 */
import type { HealthConfig } from '../../api/api-types.ts';
import { type Clock, systemClock } from '../../common/clock.ts';
import { ShoalError } from '../../common/errors.ts';
import { type Logger, silentLogger } from '../../common/logger.ts';
import { requireNetns } from '../../kernel/netns.ts';
import { TASK_ERRORS, taskError } from './errors.ts';
import { EventWatcher } from './event-watcher.ts';
import { Launch, type Launched } from './launcher.ts';
import { isNsenterFailure, runInTask } from './exec.ts';
import { type HealthStatus, HealthMonitor } from './health.ts';
import {
  EXIT_CODE_UNKNOWN,
  effectiveHostname,
  resolveHealthCheck,
  type TaskTools,
  taskEnvironment,
  validateArgv,
  validateEnv,
  validateLaunch,
  validateTaskId,
} from './launch.ts';
import { LogClock, lineTimes, offsetSince, readLogTimes } from './log-times.ts';
import { type LogRead, readLog } from './logs.ts';
import { identify, isAlive, readProcStat, resolveTools, signalGroup } from './proc.ts';
import { exitMessage, type ProcessIdentity, type ProcessSpec, signalOfStatus, type TaskRecord } from './record.ts';
import { type MarkerKind, TaskDir } from './task-dir.ts';

export type { HealthConfig, ProcessIdentity, ProcessSpec };
export { EXIT_CODE_UNKNOWN, TASK_ERRORS };

export type RuntimeEvent =
  | { kind: 'started'; id: string; pid: number }
  | { kind: 'exited'; id: string; exitCode: number; signal?: string; message: string }
  | { kind: 'health'; id: string; health: HealthStatus; output: string };

export interface TaskRuntimeOptions {
  /** The runtime's directory (DATA-DIR/tasks): one subdirectory per task, and `.events`. */
  dir: string;
  logger?: Logger;
  clock?: Clock;
  /** Called synchronously for every event; an exception it throws is logged and dropped. */
  onEvent: (e: RuntimeEvent) => void;
  /**
   * Safety poll, in ms: how late an exit is noticed when inotify missed it, or when a
   * supervisor was killed without writing a status. Costs one stat and one /proc read per
   * task per round. Default 2,000.
   */
  pollIntervalMs?: number;
  /** How long start() waits for the sandbox to be set up and the command's pid, in ms. Default 10,000. */
  startTimeoutMs?: number;
  /** After SIGKILL, how long stop() waits for the exit before SHOAL_ERR_TASK_STOP_TIMEOUT, in ms. Default 10,000. */
  killWaitMs?: number;
  /** Absolute paths of nsenter, unshare, setsid, mount and sh; looked up in PATH on first use when absent. */
  tools?: TaskTools;
}

export const DEFAULT_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_START_TIMEOUT_MS = 10_000;
export const DEFAULT_KILL_WAIT_MS = 10_000;
/** Output kept of one health probe run (its first 4,096 bytes are reported). */
const PROBE_OUTPUT_BYTES = 64 * 1024;

interface Ended {
  exitCode: number;
  signal?: string;
  message: string;
}

interface Entry {
  readonly id: string;
  record: TaskRecord;
  /** The command's pid from DIR/pid (also when it ended before its identity could be read). */
  mainPid: number | undefined;
  ended: Ended | undefined;
  health: HealthMonitor | undefined;
  readonly sentSignals: Set<string>;
  readonly waiters: Array<{ resolve: (e: Ended) => void; reject: (err: unknown) => void }>;
  stopping: Promise<{ exitCode: number }> | undefined;
}

export class TaskRuntime {
  private readonly dir: TaskDir;
  private readonly watcher: EventWatcher;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly onEvent: (e: RuntimeEvent) => void;
  private readonly startTimeoutMs: number;
  private readonly killWaitMs: number;
  private toolsCache: TaskTools | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly starting = new Map<string, Promise<{ pid: number }>>();
  /** Starts in progress, woken by their markers. */
  private readonly launches = new Map<string, Launch>();
  /** Events held back while adopt() runs, delivered after it resolves. */
  private deferred: RuntimeEvent[] | undefined;
  private closed = false;
  /** When each running task's log grew (`logs --since`, `--timestamps`). */
  private readonly logClock: LogClock;

  constructor(opts: TaskRuntimeOptions) {
    this.dir = new TaskDir(opts.dir);
    this.logger = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.onEvent = opts.onEvent;
    this.watcher = new EventWatcher({
      dir: this.dir.eventsDir,
      clock: this.clock,
      pollIntervalMs: opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      logger: this.logger,
      ensureDir: () => this.dir.ensureEventsDir(),
      onMarker: (id, kind) => this.onMarker(id, kind),
      onPoll: () => this.checkNow(),
    });
    this.startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.killWaitMs = opts.killWaitMs ?? DEFAULT_KILL_WAIT_MS;
    this.toolsCache = opts.tools;
    this.logClock = new LogClock(this.clock, this.logger);
  }

  /**
   * At agent start: reads every record in the directory. A task whose supervisor is still
   * alive (same pid and same /proc start time, so a reused pid is not mistaken for it) is
   * adopted, its health checks resumed from the last status; a task that ended while no
   * agent watched produces an 'exited' event with its recorded exit code (EXIT_CODE_UNKNOWN
   * when nothing could record it). A record that cannot be read is logged and skipped.
   * Returns the adopted tasks. The events adopt() causes (those exits, the resumed health
   * statuses) are delivered after it has resolved, so the caller knows the adopted tasks
   * first; an ended task's id may be one the caller has never seen.
   */
  async adopt(): Promise<Array<{ id: string; pid: number; spec: ProcessSpec }>> {
    this.assertOpen();
    this.watcher.start();
    const adopted: Array<{ id: string; pid: number; spec: ProcessSpec }> = [];
    const deferred: RuntimeEvent[] = [];
    this.deferred = deferred;
    try {
      for (const id of this.dir.listIds()) {
        const known = this.entries.get(id);
        if (known) {
          if (!known.ended) adopted.push({ id, pid: this.pidOf(known), spec: known.record.spec });
          continue;
        }
        try {
          const e = this.adoptOne(id);
          if (e && !e.ended) adopted.push({ id, pid: this.pidOf(e), spec: e.record.spec });
        } catch (err) {
          this.logger.warn({ id, err }, 'task record skipped');
        }
      }
    } finally {
      this.deferred = undefined;
      if (deferred.length > 0) {
        setImmediate(() => {
          for (const event of deferred) if (!this.closed) this.deliver(event);
        });
      }
    }
    return adopted;
  }

  /**
   * Starts the spec's command in its sandbox and resolves with the command's pid once it
   * runs there (its sandbox set up, its process group its own). Idempotent: for an id that
   * is running (or being started) it resolves with that process's pid and starts nothing.
   * An id whose earlier process has ended starts afresh (its log is appended to).
   */
  start(spec: ProcessSpec): Promise<{ pid: number }> {
    try {
      this.assertOpen();
      validateLaunch(spec);
    } catch (err) {
      return Promise.reject(err);
    }
    const inFlight = this.starting.get(spec.id);
    if (inFlight) return inFlight;
    const running = this.entries.get(spec.id);
    if (running && !running.ended) return Promise.resolve({ pid: this.pidOf(running) });
    const p = this.startNew(spec).finally(() => this.starting.delete(spec.id));
    this.starting.set(spec.id, p);
    return p;
  }

  /**
   * SIGTERM to the task's process group (the command and its children), SIGKILL after
   * graceMs; resolves with the exit code (143, 137, or the command's own). An ended task
   * resolves with its exit code at once; concurrent calls share one stop.
   */
  stop(id: string, graceMs: number): Promise<{ exitCode: number }> {
    try {
      this.assertOpen();
      if (!Number.isInteger(graceMs) || graceMs < 0) {
        throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `stop grace period ${graceMs} ms must be a non-negative integer`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const e = this.entries.get(id);
    if (!e) {
      const inFlight = this.starting.get(id);
      if (inFlight) return inFlight.then(() => this.stop(id, graceMs));
      return Promise.reject(this.notFound(id));
    }
    if (e.ended) return Promise.resolve({ exitCode: e.ended.exitCode });
    e.stopping ??= this.stopEntry(e, graceMs).finally(() => {
      e.stopping = undefined;
    });
    return e.stopping;
  }

  /**
   * Looks at every task now, as the periodic poll does (exit file, supervisor alive): a
   * task that ended unseen is ended and reported at once (`doctor --repair`).
   */
  checkNow(): void {
    for (const e of this.entries.values()) if (!e.ended) this.check(e, true);
  }

  /** The tasks whose process is running, with the command's pid. */
  running(): Array<{ id: string; pid: number }> {
    return [...this.entries.values()].filter((e) => !e.ended).map((e) => ({ id: e.id, pid: this.pidOf(e) }));
  }

  /**
   * Runs argv inside the task's network, mount and UTS namespaces (it sees the task's
   * resolv.conf, hosts and hostname) with the task's environment plus `opts.env`, and
   * returns its exit code and output (each stream capped at 16 MiB). timeoutMs (default:
   * none) kills it and rejects with SHOAL_ERR_TASK_EXEC_TIMEOUT. An unknown task is
   * SHOAL_ERR_TASK_NO_RECORD, an ended one SHOAL_ERR_TASK_NOT_RUNNING.
   */
  async exec(
    id: string,
    argv: string[],
    opts: { timeoutMs?: number | undefined; env?: string[] | undefined; stdin?: Buffer | undefined; workdir?: string | undefined } = {},
  ): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
    this.assertOpen();
    const e = this.entries.get(id);
    if (!e) throw this.notFound(id);
    validateArgv(argv, id);
    validateEnv(opts.env ?? [], id);
    if (opts.timeoutMs !== undefined && (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0)) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `exec timeout ${opts.timeoutMs} ms must be a positive integer`);
    }
    const target = this.execTarget(e);
    const spec = e.record.spec;
    const r = await runInTask(this.tools(), target, argv, {
      env: taskEnvironment(spec.env, effectiveHostname(spec), opts.env ?? []),
      taskId: id,
      ...(opts.workdir ? { workdir: opts.workdir } : {}),
      ...(opts.stdin ? { stdin: opts.stdin } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    if (isNsenterFailure(r)) {
      this.check(e, true);
      if (e.ended) throw this.notRunning(id);
      throw taskError('SHOAL_ERR_TASK_EXEC_FAILED', `cannot enter task ${id}: ${r.stderr.toString('utf8').trim()}`, { id, pid: target });
    }
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

  /** The task's combined stdout/stderr log: its last `tail` lines, or all of it when tail is undefined. */
  async readLogs(id: string, opts: { tail?: number | undefined } = {}): Promise<Buffer> {
    return (await this.readLogFrom(id, opts)).data;
  }

  /**
   * The log as readLogs reads it, or (with `offset`, follow mode's cursor) everything after
   * that byte; with the offset just after what was read. `sinceMs` keeps the lines written
   * at or after that wall time, `times` adds each line's time (log-times.ts). With an
   * offset, `tail` and `sinceMs` do not apply.
   */
  async readLogFrom(
    id: string,
    opts: { tail?: number | undefined; offset?: number | undefined; sinceMs?: number | undefined; times?: boolean } = {},
  ): Promise<LogRead & { times?: number[] }> {
    this.assertOpen();
    validateTaskId(id);
    if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `log tail ${opts.tail} must be a non-negative integer`);
    }
    if (opts.offset !== undefined && (!Number.isSafeInteger(opts.offset) || opts.offset < 0)) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `log offset ${opts.offset} must be a non-negative integer`);
    }
    if (!this.entries.has(id) && !this.dir.exists(id)) throw this.notFound(id);
    try {
      const log = this.dir.path(id, 'log');
      const timesFile = this.dir.path(id, 'times');
      const sinceMs = opts.offset === undefined ? opts.sinceMs : undefined;
      const wantTimes = sinceMs !== undefined || opts.times === true;
      // what is in the log now gets a time before it is read: the same time in every later read
      if (wantTimes) this.logClock.mark(id, log, timesFile);
      const records = wantTimes ? readLogTimes(timesFile) : [];
      const since = sinceMs !== undefined ? offsetSince(records, sinceMs) : undefined;
      const r = await readLog(log, {
        ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
        ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
        ...(since !== undefined ? { since } : {}),
      });
      if (opts.times !== true) return r;
      return { ...r, times: lineTimes(records, r.end - r.data.length, r.data, this.clock.wallNow()) };
    } catch (err) {
      throw taskError('SHOAL_ERR_TASK_RECORD', `cannot read the log of task ${id}: ${(err as Error).message}`, { id }, err);
    }
  }

  /** Forgets a stopped task: removes its record and log. Removing an unknown task is success; a running one is SHOAL_ERR_TASK_RUNNING. */
  async remove(id: string): Promise<void> {
    this.assertOpen();
    validateTaskId(id);
    const e = this.entries.get(id);
    if ((e && !e.ended) || this.starting.has(id)) {
      throw taskError('SHOAL_ERR_TASK_RUNNING', `task ${id} is still running: stop it first`, { id });
    }
    if (!e && this.supervisorAliveOnDisk(id)) {
      throw taskError('SHOAL_ERR_TASK_RUNNING', `task ${id} is still running (not adopted yet): stop it first`, { id });
    }
    this.entries.delete(id);
    this.logClock.unwatch(id, false);
    this.dir.remove(id);
  }

  /**
   * Stops the watcher, the poll and every health check, and fails pending stop() calls
   * with SHOAL_ERR_CLOSED. Task processes keep running: they outlive the agent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    this.logClock.close();
    const closedErr = new ShoalError('SHOAL_ERR_CLOSED', 'the task runtime was closed');
    for (const e of this.entries.values()) {
      e.health?.stop();
      e.health = undefined;
      for (const w of e.waiters.splice(0)) w.reject(closedErr);
    }
    for (const launch of this.launches.values()) launch.wake();
  }

  // ---- starting ----

  private async startNew(spec: ProcessSpec): Promise<{ pid: number }> {
    const tools = this.tools();
    const health = resolveHealthCheck(spec.health, spec.id, tools.sh);
    await requireNetns(spec.netns);
    this.watcher.start();
    const id = spec.id;
    // A record left by an earlier agent whose process still runs: adopt it, start nothing.
    if (!this.entries.has(id) && this.supervisorAliveOnDisk(id)) {
      const e = this.adoptOne(id);
      if (e && !e.ended) return { pid: this.pidOf(e) };
    }
    const launch = new Launch({
      tools,
      dir: this.dir,
      spec,
      clock: this.clock,
      startTimeoutMs: this.startTimeoutMs,
      isClosed: () => this.closed,
      onSupervisorExit: () => {
        const e = this.entries.get(id);
        if (e && !e.ended) this.check(e, true);
      },
    });
    this.launches.set(id, launch);
    let launched: Launched;
    try {
      launched = await launch.run();
    } finally {
      this.launches.delete(id);
    }
    const e = this.addEntry(launched.record, launched.mainPid);
    this.emit({ kind: 'started', id, pid: launched.mainPid });
    if (health) this.startHealth(e, 'starting', this.clock.now());
    // It may have ended already (a command that exits at once).
    this.check(e, false);
    return { pid: launched.mainPid };
  }

  // ---- adopting ----

  private adoptOne(id: string): Entry | undefined {
    const record = this.dir.readRecord(id);
    if (!record) return undefined;
    const e = this.addEntry(record, record.main?.pid ?? this.dir.readPid(id));
    this.check(e, true);
    if (e.ended) return e;
    if (resolveHealthCheck(record.spec.health, id, this.tools().sh)) {
      // The start period counts from the process's start, not from the adoption.
      const startedAt = this.clock.now() - (this.clock.wallNow() - record.startedAtMs);
      this.startHealth(e, this.dir.readHealth(id) ?? 'starting', startedAt);
    }
    return e;
  }

  private supervisorAliveOnDisk(id: string): boolean {
    try {
      const record = this.dir.readRecord(id);
      return record !== undefined && isAlive(record.supervisor);
    } catch {
      return false;
    }
  }

  // ---- noticing ends ----

  private addEntry(record: TaskRecord, mainPid: number | undefined): Entry {
    const e: Entry = {
      id: record.spec.id,
      record,
      mainPid,
      ended: undefined,
      health: undefined,
      sentSignals: new Set(),
      waiters: [],
      stopping: undefined,
    };
    this.entries.set(e.id, e);
    if (!this.closed) this.logClock.watch(e.id, this.dir.path(e.id, 'log'), this.dir.path(e.id, 'times'));
    return e;
  }

  private onMarker(id: string, kind: MarkerKind): void {
    this.launches.get(id)?.wake();
    const e = this.entries.get(id);
    if (e && !e.ended) this.check(e, kind === 'exited');
  }

  /**
   * Looks at one task: its exit file, and with `liveness` its supervisor in /proc. Ends
   * the entry when the task has ended.
   */
  private check(e: Entry, liveness: boolean): void {
    // A closed runtime reports nothing more: the next one adopts the task.
    if (e.ended || this.closed) return;
    this.learnMain(e);
    const code = this.dir.readExit(e.id);
    if (code !== undefined) {
      this.finish(e, code, false);
      return;
    }
    if (!liveness || isAlive(e.record.supervisor)) return;
    // The supervisor writes the status, then exits: read once more before calling it lost.
    const late = this.dir.readExit(e.id);
    if (late !== undefined) {
      this.finish(e, late, false);
      return;
    }
    // Nothing will record this task's end. Whatever is left of it runs unsupervised: end it.
    if (e.record.main && isAlive(e.record.main)) {
      try {
        signalGroup(e.record.main.pid, 'SIGKILL');
      } catch (err) {
        this.logger.warn({ id: e.id, err }, 'cannot kill the unsupervised process of a task');
      }
    }
    this.finish(e, EXIT_CODE_UNKNOWN, true);
  }

  private learnMain(e: Entry): void {
    if (e.record.main) return;
    e.mainPid ??= this.dir.readPid(e.id);
    if (e.mainPid === undefined) return;
    const main = identify(e.mainPid);
    if (!main) return;
    e.record.main = main;
    try {
      this.dir.writeRecord(e.record);
    } catch (err) {
      this.logger.warn({ id: e.id, err }, 'cannot update a task record');
    }
  }

  private finish(e: Entry, exitCode: number, unknown: boolean): void {
    if (e.ended) return;
    const sig = signalOfStatus(exitCode);
    const signal = !unknown && sig !== undefined && e.sentSignals.has(sig) ? sig : undefined;
    e.ended = { exitCode, ...(signal ? { signal } : {}), message: exitMessage(exitCode, signal, unknown) };
    e.health?.stop();
    e.health = undefined;
    this.logClock.unwatch(e.id);
    this.dir.removeMarkers(e.id);
    this.emit({ kind: 'exited', id: e.id, ...e.ended });
    for (const w of e.waiters.splice(0)) w.resolve(e.ended);
  }

  // ---- stopping ----

  private async stopEntry(e: Entry, graceMs: number): Promise<{ exitCode: number }> {
    const ended = this.whenEnded(e);
    this.signalTask(e, 'SIGTERM');
    let r = await this.within(ended, graceMs);
    if (!r) {
      this.signalTask(e, 'SIGKILL');
      r = await this.within(ended, this.killWaitMs);
    }
    if (!r) {
      this.check(e, true);
      if (e.ended) return { exitCode: e.ended.exitCode };
      throw taskError('SHOAL_ERR_TASK_STOP_TIMEOUT', `task ${e.id} has not ended ${this.killWaitMs} ms after SIGKILL`, { id: e.id });
    }
    return { exitCode: r.exitCode };
  }

  /** Signals the command's process group; before the command runs, the supervisor's session. */
  private signalTask(e: Entry, signal: NodeJS.Signals): void {
    this.learnMain(e);
    e.sentSignals.add(signal);
    if (e.record.main) {
      // A group outlives its leader: children left after the command exited get it too.
      if (isAlive(e.record.main) || readProcStat(e.record.main.pid) === undefined) signalGroup(e.record.main.pid, signal);
      return;
    }
    // No command yet (an agent that died while starting it): the supervisor traps TERM,
    // so only KILL ends it, and nothing is left to supervise.
    if (signal === 'SIGKILL' && isAlive(e.record.supervisor)) signalGroup(e.record.supervisor.pid, signal);
  }

  private whenEnded(e: Entry): Promise<Ended> {
    if (e.ended) return Promise.resolve(e.ended);
    return new Promise((resolve, reject) => e.waiters.push({ resolve, reject }));
  }

  /** The promise's value, or undefined when `ms` pass first. */
  private within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      const timer = this.clock.setTimer(ms, () => resolve(undefined));
      p.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (err: unknown) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }

  // ---- health ----

  private startHealth(e: Entry, initial: HealthStatus, startedAt: number): void {
    const check = resolveHealthCheck(e.record.spec.health, e.id, this.tools().sh);
    if (!check) return;
    const spec = e.record.spec;
    const env = taskEnvironment(spec.env, effectiveHostname(spec));
    const monitor = new HealthMonitor({
      check,
      clock: this.clock,
      startedAt,
      initial,
      probe: async (argv, signal) => {
        if (e.ended) return { exitCode: -1, output: 'task has ended' };
        const r = await runInTask(this.tools(), this.execTarget(e), argv, {
          env,
          signal,
          taskId: e.id,
          maxOutputBytes: PROBE_OUTPUT_BYTES,
        });
        const output = Buffer.concat([r.stdout, r.stderr]).toString('utf8');
        return { exitCode: isNsenterFailure(r) ? -1 : r.exitCode, output };
      },
      onChange: (health, output) => {
        try {
          this.dir.writeHealth(e.id, health);
        } catch (err) {
          this.logger.warn({ id: e.id, err }, 'cannot record a task health status');
        }
        this.emit({ kind: 'health', id: e.id, health, output });
      },
    });
    e.health = monitor;
    this.emit({ kind: 'health', id: e.id, health: initial, output: '' });
    monitor.start();
  }

  // ---- helpers ----

  private execTarget(e: Entry): number {
    if (e.ended) throw this.notRunning(e.id);
    this.learnMain(e);
    if (e.record.main && isAlive(e.record.main)) return e.record.main.pid;
    if (isAlive(e.record.supervisor)) return e.record.supervisor.pid;
    this.check(e, true);
    throw this.notRunning(e.id);
  }

  private pidOf(e: Entry): number {
    return e.record.main?.pid ?? e.mainPid ?? e.record.supervisor.pid;
  }

  private tools(): TaskTools {
    this.toolsCache ??= resolveTools();
    return this.toolsCache;
  }

  private emit(event: RuntimeEvent): void {
    if (this.deferred) this.deferred.push(event);
    else this.deliver(event);
  }

  private deliver(event: RuntimeEvent): void {
    try {
      this.onEvent(event);
    } catch (err) {
      this.logger.error({ err, event: event.kind, id: event.id }, 'task event handler threw');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ShoalError('SHOAL_ERR_CLOSED', 'the task runtime was closed');
  }

  private notFound(id: string): ShoalError {
    return taskError('SHOAL_ERR_TASK_NO_RECORD', `no task ${id} on this node`, { id });
  }

  private notRunning(id: string): ShoalError {
    return taskError('SHOAL_ERR_TASK_NOT_RUNNING', `task ${id} is not running`, { id });
  }
}
