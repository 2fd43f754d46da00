/**
 * One start of a task's process: spawn its supervisor detached into the sandbox (the
 * process tree is in launch.ts), record it, and wait until the command runs in a process
 * group of its own. Until then nothing else of the runtime knows the task; afterwards the
 * runtime watches it like any other.
 *
 * The wait is event-driven: the supervisor touches `<id>.started` (the runtime's watch
 * calls wake()), and the supervisor's exit (while it is our child) ends the wait as well.
 * Short timers cover the moment between the pid file and setsid(), and a missed event.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { Clock, Timer } from '../../common/clock.ts';
import { ShoalError } from '../../common/errors.ts';
import { netnsPath } from '../../kernel/netns.ts';
import { taskError } from './errors.ts';
import { effectiveHostname, launchArgv, type TaskTools, taskEnvironment } from './launch.ts';
import { readTail } from './logs.ts';
import { identify, isAlive, readProcStat, signalGroup } from './proc.ts';
import { type ProcessIdentity, type ProcessSpec, RECORD_VERSION, type TaskRecord } from './record.ts';
import type { TaskDir } from './task-dir.ts';

export interface LaunchOptions {
  tools: TaskTools;
  dir: TaskDir;
  spec: ProcessSpec;
  clock: Clock;
  /** How long the sandbox setup may take before the supervisor is killed, in ms. */
  startTimeoutMs: number;
  isClosed: () => boolean;
  /** The supervisor (this process's child) exited: the runtime checks the task. */
  onSupervisorExit: () => void;
}

export interface Launched {
  /** Written to disk with the supervisor, and the command once its identity could be read. */
  record: TaskRecord;
  /** The command's pid (it may have ended already). */
  mainPid: number;
}

export class Launch {
  private readonly o: LaunchOptions;
  private childExited = false;
  private spawnError: Error | undefined;
  private waker: (() => void) | undefined;

  constructor(options: LaunchOptions) {
    this.o = options;
  }

  /** Something happened (a marker, the child's exit, close): look again now. */
  wake(): void {
    this.waker?.();
  }

  async run(): Promise<Launched> {
    const { spec, dir, tools, clock } = this.o;
    const id = spec.id;
    const hostname = effectiveHostname(spec);
    const logFd = dir.prepare(spec);
    const [file, ...args] = launchArgv(tools, {
      netnsPath: netnsPath(spec.netns),
      taskDir: dir.path(id),
      hostname,
      markerPrefix: dir.markerPrefix(id),
      name: spec.name,
      argv: spec.argv,
    });
    let child: ChildProcess;
    try {
      child = spawn(file!, args, { cwd: '/', env: taskEnvironment(spec.env, hostname), detached: true, stdio: ['ignore', logFd, logFd] });
    } catch (err) {
      throw taskError('SHOAL_ERR_TASK_START_FAILED', `cannot spawn the supervisor of task ${id}: ${(err as Error).message}`, { id }, err);
    } finally {
      closeSync(logFd);
    }
    // Nothing of the agent holds the task: no pipes, and the handle does not keep us alive.
    child.unref();
    child.once('error', (err) => {
      this.spawnError = err;
      this.childExited = true;
      this.wake();
    });
    child.once('exit', () => {
      this.childExited = true;
      this.wake();
      this.o.onSupervisorExit();
    });
    const supervisor = child.pid === undefined ? undefined : identify(child.pid);
    if (!supervisor) {
      // Either spawn failed (the error event says why) or the supervisor ended at once.
      await this.sleep(1_000, () => this.childExited);
      const why = this.spawnError ? this.spawnError.message : await this.logExcerpt();
      dir.removeRecord(id);
      throw taskError('SHOAL_ERR_TASK_START_FAILED', `task ${id} did not start: ${why}`, { id });
    }
    const record: TaskRecord = { version: RECORD_VERSION, spec, supervisor, startedAtMs: clock.wallNow() };
    dir.writeRecord(record);
    const mainPid = await this.waitForCommand(supervisor);
    const main = identify(mainPid);
    if (main) {
      record.main = main;
      dir.writeRecord(record);
    }
    return { record, mainPid };
  }

  /**
   * Waits for the supervisor's pid file, then for setsid() to have made the command a
   * process group of its own (stop() signals that group). A supervisor that ends without
   * a pid could not set the sandbox up; one that takes longer than startTimeoutMs is killed.
   */
  private async waitForCommand(supervisor: ProcessIdentity): Promise<number> {
    const { dir, clock } = this.o;
    const id = this.o.spec.id;
    const deadline = clock.now() + this.o.startTimeoutMs;
    let mainPid: number | undefined;
    for (;;) {
      if (this.o.isClosed()) throw new ShoalError('SHOAL_ERR_CLOSED', 'the task runtime was closed');
      mainPid ??= dir.readPid(id);
      if (mainPid !== undefined) {
        const stat = readProcStat(mainPid);
        if (stat === undefined || stat.pgrp === mainPid || stat.state === 'Z') return mainPid;
      } else if (this.childExited || dir.readExit(id) !== undefined || !isAlive(supervisor)) {
        // The pid may have been written just before the command and its supervisor ended.
        mainPid = dir.readPid(id);
        if (mainPid !== undefined) continue;
        const excerpt = await this.logExcerpt();
        dir.removeRecord(id);
        throw taskError('SHOAL_ERR_TASK_START_FAILED', `the sandbox of task ${id} could not be set up: ${excerpt}`, { id });
      }
      const left = deadline - clock.now();
      if (left <= 0) {
        signalGroup(supervisor.pid, 'SIGKILL');
        if (mainPid !== undefined) signalGroup(mainPid, 'SIGKILL');
        dir.removeRecord(id);
        throw taskError('SHOAL_ERR_TASK_START_FAILED', `task ${id} did not start within ${this.o.startTimeoutMs} ms and was killed`, {
          id,
        });
      }
      // The started marker wakes us; the short fallback covers a group not changed yet.
      await this.sleep(Math.min(left, mainPid === undefined ? 100 : 2), () => false);
    }
  }

  /** Resolves after `ms`, when woken, or at once when `done()` holds. */
  private sleep(ms: number, done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: Timer | undefined;
      const finish = (): void => {
        timer?.cancel();
        if (this.waker === finish) this.waker = undefined;
        resolve();
      };
      timer = this.o.clock.setTimer(ms, finish);
      this.waker = finish;
    });
  }

  private async logExcerpt(): Promise<string> {
    try {
      const text = (await readTail(this.o.dir.path(this.o.spec.id, 'log'), 5)).toString('utf8').trim();
      return text === '' ? 'no output' : text;
    } catch {
      return 'no output';
    }
  }
}
