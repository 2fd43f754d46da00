/**
 * Running a command inside a task's namespaces (`shoal exec`, health probes):
 * `nsenter --target PID --net --mount --uts -- ARGV`. nsenter enters and execs (it forks
 * only to enter a pid namespace, which tasks do not have), so each run is one process: the
 * command itself. It runs in a process group of its own, so a timeout or an abort kills
 * the command and whatever it started.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { taskError } from './errors.ts';
import { execArgv, type TaskTools } from './launch.ts';

/** Output kept per stream; more is dropped (the command keeps running) and `truncated` set. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunInTaskOptions {
  /** Working directory inside the task (default /). */
  workdir?: string;
  /** The whole environment of the command. */
  env: Record<string, string>;
  stdin?: Buffer;
  /** Kill (SIGKILL, whole group) after this many ms and reject with SHOAL_ERR_TASK_EXEC_TIMEOUT; none when undefined. */
  timeoutMs?: number;
  /** Kill the command when this aborts; resolves with exit code -1. */
  signal?: AbortSignal;
  maxOutputBytes?: number;
  /** For messages. */
  taskId: string;
}

export interface RunInTaskResult {
  exitCode: number;
  /** The signal that ended the command, when one did (exitCode is then 128+N). */
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
  truncated: boolean;
}

export function runInTask(tools: TaskTools, pid: number, argv: readonly string[], opts: RunInTaskOptions): Promise<RunInTaskResult> {
  const [file, ...args] = execArgv(tools, pid, argv, opts.workdir ?? '');
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  return new Promise<RunInTaskResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ exitCode: -1, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), truncated: false });
      return;
    }
    const child = spawn(file!, args, {
      cwd: '/',
      env: opts.env,
      detached: true,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    let timedOut = false;
    let aborted = false;
    let settled = false;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group has ended already
      }
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGroup();
          }, opts.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };

    child.stdout!.on('data', (b: Buffer) => {
      if (outBytes + b.length > max) {
        truncated = true;
        b = b.subarray(0, Math.max(0, max - outBytes));
      }
      outBytes += b.length;
      if (b.length > 0) out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errBytes + b.length > max) {
        truncated = true;
        b = b.subarray(0, Math.max(0, max - errBytes));
      }
      errBytes += b.length;
      if (b.length > 0) err.push(b);
    });
    if (opts.stdin && child.stdin) {
      // A command that exits without reading its stdin closes the pipe: not a failure.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      done();
      reject(
        taskError(
          'SHOAL_ERR_TASK_EXEC_FAILED',
          `cannot run nsenter for task ${opts.taskId}: ${e.message}`,
          { id: opts.taskId, errno: e.code },
          e,
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      done();
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err);
      if (timedOut) {
        reject(
          taskError(
            'SHOAL_ERR_TASK_EXEC_TIMEOUT',
            `command in task ${opts.taskId} did not finish within ${opts.timeoutMs} ms and was killed`,
            {
              id: opts.taskId,
              argv: [...argv],
              timeoutMs: opts.timeoutMs,
            },
          ),
        );
        return;
      }
      if (aborted) {
        resolve({ exitCode: -1, stdout, stderr, truncated });
        return;
      }
      if (signal) {
        resolve({ exitCode: 128 + (constants.signals[signal] ?? 0), signal, stdout, stderr, truncated });
        return;
      }
      resolve({ exitCode: code ?? -1, stdout, stderr, truncated });
    });
  });
}

/**
 * nsenter's own failure (it could not enter the namespaces), told from the command's by
 * its message: nsenter exits 1 and prints "nsenter: ..." before it runs anything.
 */
export function isNsenterFailure(r: RunInTaskResult): boolean {
  return r.exitCode === 1 && r.stdout.length === 0 && /^nsenter: (cannot open|reassociate|failed)/.test(r.stderr.toString('utf8'));
}
