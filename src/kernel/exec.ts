/**
 * Runs one command inside a named network namespace, for the parts of the kernel layer
 * that drive a command-line tool (nft, conntrack) or read /proc/sys/net, which the kernel
 * resolves by the network namespace of the process that opens it.
 *
 * `nsenter --net=/run/netns/NAME -- cmd args` enters only the network namespace; unlike
 * `ip netns exec` it makes no new mount namespace and does not remount /sys (see
 * PLATFORM.md). Netns '' runs the command where this process runs.
 *
 * The command gets stdin from `input` (or an empty stdin), and its stdout and stderr are
 * captured whole. A non-zero exit is SHOAL_ERR_COMMAND_FAILED carrying the exit code and
 * stderr, unless the caller listed the code in `okExitCodes` (conntrack exits 1 when it
 * deleted nothing). A namespace that does not exist is SHOAL_ERR_NETNS_NOT_FOUND; a
 * command that outlives its timeout is killed and is SHOAL_ERR_TIMEOUT.
 */
import { spawn } from 'node:child_process';
import { ShoalError } from '../common/errors.ts';
import { netnsPath } from './netns.ts';

/** Default time a command may run before it is killed, in milliseconds. Loading a table
 * of 10,000 services takes about 1.3 s here; a minute leaves room on a loaded machine
 * while still unsticking a hung tool. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. Omitted = empty stdin. */
  input?: string;
  /** Milliseconds before the command is killed (SIGKILL). Default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Exit codes besides 0 that are results, not failures (the caller reads `code`). */
  okExitCodes?: readonly number[];
}

export interface ExecResult {
  /** Exit code of the command (0, or one listed in okExitCodes). */
  code: number;
  stdout: string;
  stderr: string;
}

/** The command line as a person would type it, for messages and logs. */
export function commandLine(netns: string, cmd: string, args: readonly string[]): string {
  const quoted = [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return netns === '' ? quoted.join(' ') : `nsenter --net=${netnsPath(netns)} -- ${quoted.join(' ')}`;
}

/** First lines of a tool's stderr, trimmed, for an error message. */
export function firstLines(text: string, max = 4): string {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  return lines.slice(0, max).join('\n') + (lines.length > max ? `\n... (${lines.length - max} more lines)` : '');
}

/**
 * Runs `cmd args` in network namespace `netns` ('' = the current one).
 * Resolves with the captured output when the exit code is 0 or listed in okExitCodes.
 */
export async function execInNetns(netns: string, cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `command timeout ${timeoutMs} ms must be a positive integer`);
  }
  let file = cmd;
  let argv = [...args];
  if (netns !== '') {
    // netnsPath validates the name (no '/', not '.' or '..').
    argv = [`--net=${netnsPath(netns)}`, '--', cmd, ...args];
    file = 'nsenter';
  }
  const line = commandLine(netns, cmd, args);

  return await new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    const fail = (e: ShoalError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    };

    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      fail(
        new ShoalError('SHOAL_ERR_COMMAND_FAILED', `cannot run ${line}: ${e.message}`, {
          cause: e,
          details: { command: line, netns },
          ...(e.code ? { errno: e.code } : {}),
        }),
      );
    });
    // A command that exits without reading all of stdin closes the pipe: EPIPE here is
    // not the failure; the exit code says what happened.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        reject(
          new ShoalError('SHOAL_ERR_TIMEOUT', `${line} did not finish within ${timeoutMs} ms and was killed`, {
            details: { command: line, netns, timeoutMs, stderr: firstLines(stderr) },
          }),
        );
        return;
      }
      const exitCode = code ?? -1;
      // nsenter reports its own failures (before it runs the command) prefixed 'nsenter: '.
      if (netns !== '' && exitCode !== 0 && stderr.startsWith('nsenter: ')) {
        if (stderr.startsWith(`nsenter: cannot open ${netnsPath(netns)}`) && /No such file or directory/.test(stderr)) {
          reject(
            new ShoalError('SHOAL_ERR_NETNS_NOT_FOUND', `network namespace ${netns} does not exist`, {
              details: { netns, command: line },
              errno: 'ENOENT',
            }),
          );
          return;
        }
        reject(
          new ShoalError('SHOAL_ERR_COMMAND_FAILED', `${line} failed: ${firstLines(stderr)}`, {
            details: { command: line, netns, exitCode, stderr },
          }),
        );
        return;
      }
      if (exitCode === 0 || (options.okExitCodes ?? []).includes(exitCode)) {
        resolve({ code: exitCode, stdout, stderr });
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
      reject(
        new ShoalError('SHOAL_ERR_COMMAND_FAILED', `${line} ${how}${stderr.trim() ? `: ${firstLines(stderr)}` : ''}`, {
          details: { command: line, netns, exitCode, ...(signal ? { signal } : {}), stderr },
        }),
      );
    });
    child.stdin.end(options.input ?? '');
  });
}
