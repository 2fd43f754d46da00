/**
 * Whether a PID names a process that still runs, for every process that checks another's
 * (the manager's data-directory lock, the testbed's daemons). A process killed with SIGKILL
 * stays a zombie until its parent reaps it (often init, once the command that started it
 * exited): signal 0 still reaches it, but it holds no file and serves nothing, so a zombie
 * counts as gone.
 */
import { readFileSync } from 'node:fs';

/** The state letter of a /proc/PID/stat text (field 3: R, S, Z ...). */
export function procState(stat: string): string | undefined {
  // the state follows the command name, which is in parentheses and may hold any byte
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** Whether a process with this PID exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, another user's
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return procState(readFileSync(`/proc/${pid}/stat`, 'utf8')) !== 'Z';
  } catch {
    return true; // no procfs to tell: signal 0 reached it
  }
}
