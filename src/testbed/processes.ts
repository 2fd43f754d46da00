/**
 * The processes of the testbed, seen through /proc: which run inside its namespaces, whether
 * a recorded PID is still the process it was (same start time, same command line: PIDs are
 * reused), starting a daemon inside a host so that it outlives the command that started it,
 * and ending processes (SIGTERM, then SIGKILL after a grace period).
 *
 * Daemons are entered with `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which
 * remounts /sys in a new mount namespace: see PLATFORM.md). nsenter with only --net does
 * setns() and then exec, so the PID it gets is the daemon's own.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { ShoalError } from '../common/errors.ts';
import { processAlive, procState } from '../common/process-alive.ts';
import { native } from '../kernel/native.ts';
import { netnsPath } from '../kernel/netns.ts';

export interface ProcessInfo {
  pid: number;
  /** The testbed namespace it runs in. */
  netns: string;
  argv: string[];
  /** Start time in clock ticks after boot (/proc/PID/stat field 22): with the PID, a process's identity. */
  startTime: number;
}

/** The processes running inside the given namespaces (this process excluded). */
export async function processesIn(namespaces: readonly string[]): Promise<ProcessInfo[]> {
  if (namespaces.length === 0) return [];
  const byInode = new Map<number, string>();
  for (const n of namespaces) {
    try {
      byInode.set(native().netnsInode(netnsPath(n)), n);
    } catch {
      /* vanished meanwhile */
    }
  }
  const out: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const link = await readlink(`/proc/${entry}/ns/net`);
      const ns = byInode.get(Number(/\[(\d+)\]/.exec(link)?.[1]));
      if (ns === undefined) continue;
      const argv = splitCmdline(await readFile(`/proc/${entry}/cmdline`, 'utf8'));
      const startTime = parseStartTime(await readFile(`/proc/${entry}/stat`, 'utf8'));
      if (startTime === undefined) continue;
      out.push({ pid: Number(entry), netns: ns, argv, startTime });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** What /proc says of one PID now: undefined when no such process runs (zombies count as gone). */
export function readProcess(pid: number): { argv: string[]; startTime: number; netnsInode: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (procState(stat) === 'Z') return undefined;
    const startTime = parseStartTime(stat);
    if (startTime === undefined) return undefined;
    const argv = splitCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    const netnsInode = native().netnsInode(`/proc/${pid}/ns/net`);
    return { argv, startTime, netnsInode };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is still the recorded process: it runs (not a zombie), started at the
 * recorded time, with the same command line.
 */
export function isSameProcess(pid: number, startTime: number, argv: readonly string[]): boolean {
  const now = readProcess(pid);
  return now !== undefined && now.startTime === startTime && sameArgv(now.argv, argv);
}

export function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function splitCmdline(text: string): string[] {
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** Field 22 of /proc/PID/stat (the command name in field 2 may hold spaces and parentheses). */
export function parseStartTime(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19]
  const v = Number(rest[19]);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** A daemon started by startDetached. */
export interface DetachedProcess {
  pid: number;
  startTime: number;
  /** Set once the process exited (this process saw its exit, so it is no zombie to misread). */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/**
 * Starts `argv` inside namespace `netns` in its own session (so neither a terminal's hang-up
 * nor the end of this process ends it), stdout and stderr appended to `logFile`, with
 * `env` as its whole environment.
 */
export async function startDetached(
  netns: string,
  argv: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
): Promise<DetachedProcess> {
  const fd = openSync(logFile, 'a', 0o600);
  let exit: DetachedProcess['exit'];
  let pid: number;
  try {
    const child = spawn('nsenter', [`--net=${netnsPath(netns)}`, '--', ...argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) =>
        reject(
          new ShoalError('SHOAL_ERR_COMMAND_FAILED', `cannot start ${argv.join(' ')} in ${netns}: ${err.message}`, {
            cause: err,
            details: { netns, argv },
            ...errnoOf(err),
          }),
        ),
      );
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
  // the start time identifies the process from now on; nsenter keeps its PID when it execs
  let startTime: number | undefined;
  try {
    startTime = parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    startTime = undefined;
  }
  return {
    pid,
    startTime: startTime ?? 0,
    get exit() {
      return exit;
    },
  };
}

/** `{ errno }` for a system error (the options of a ShoalError), else nothing. */
export function errnoOf(err: unknown): { errno?: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? { errno: code } : {};
}

/** Sends `sig`; a process already gone is success. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Whether a process with this PID exists and is not a zombie. */
export const alive: (pid: number) => boolean = processAlive;

/** SIGTERM to each, then SIGKILL to those still running after `graceMs`. Returns the PIDs. */
export async function endProcesses(pids: readonly number[], graceMs = 2000): Promise<number[]> {
  if (pids.length === 0) return [];
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
  return [...pids];
}

/** The last `lines` lines of a log file ('' when it cannot be read), for error messages. */
export function logTail(path: string, lines = 15): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } catch {
    return '';
  }
}
