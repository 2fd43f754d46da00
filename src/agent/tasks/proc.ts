/**
 * The runtime's view of processes: /proc reads and signals, no child processes.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { taskError } from './errors.ts';
import { type ProcStat, type ProcessIdentity, isEnded, parseProcStat } from './record.ts';
import { TOOL_NAMES, type TaskTools } from './launch.ts';

/** /proc/PID/stat parsed, or undefined when there is no such process. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/** The identity of a live process, or undefined when it is gone. */
export function identify(pid: number): ProcessIdentity | undefined {
  const stat = readProcStat(pid);
  return stat && !isEnded(stat) ? { pid, startTime: stat.startTime } : undefined;
}

/** Whether this exact process (pid and start time) is alive: a reused pid is not. */
export function isAlive(p: ProcessIdentity): boolean {
  const stat = readProcStat(p.pid);
  return stat !== undefined && !isEnded(stat) && stat.startTime === p.startTime;
}

/**
 * Sends `signal` to process group `pgid`. False when the group has no member left
 * (ESRCH); other failures (EPERM) are thrown.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw taskError('SHOAL_ERR_TASK_SIGNAL', `refusing to signal process group ${pgid}`, { pgid });
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    const errno = (err as NodeJS.ErrnoException).code;
    throw taskError(
      'SHOAL_ERR_TASK_SIGNAL',
      `cannot send ${signal} to process group ${pgid}: ${(err as Error).message}`,
      { pgid, signal, errno },
      err,
    );
  }
}

/**
 * Absolute paths of the tools, found in `path` (the agent's PATH, then the usual
 * directories). A tool that is missing is SHOAL_ERR_TASK_TOOL_MISSING, naming all of them.
 */
export function resolveTools(path = process.env['PATH'] ?? ''): TaskTools {
  const dirs = [...path.split(delimiter).filter((d) => d.startsWith('/')), '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  const found: Partial<TaskTools> = {};
  const missing: string[] = [];
  for (const name of TOOL_NAMES) {
    const hit = dirs.map((d) => join(d, name)).find((p) => executable(p));
    if (hit) found[name] = hit;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw taskError('SHOAL_ERR_TASK_TOOL_MISSING', `the task runtime needs ${missing.join(', ')} (util-linux, dash) and cannot find them`, {
      missing,
    });
  }
  return found as TaskTools;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
