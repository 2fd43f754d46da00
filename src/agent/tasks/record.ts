/**
 * What the runtime keeps about a task in its directory, and the parsers of what it reads
 * back (record.json, the supervisor's pid and exit files, /proc/PID/stat). Pure: the
 * runtime does the reading and writing.
 *
 * DIR/<id>/ holds:
 *   record.json   this record (written atomically: temp file + rename)
 *   resolv.conf   bind-mounted over /etc/resolv.conf in the sandbox
 *   hosts         bind-mounted over /etc/hosts
 *   output.log    the command's stdout and stderr, appended by file descriptor
 *   output.times  when the log grew, "SIZE MS" lines (log-times.ts)
 *   pid           the command's pid, "N\n", written by the supervisor before exec
 *   exit          its exit status, "N\n" (128+signal when a signal ended it)
 *   health        the last health status ("healthy\n"), so an adopted task resumes it
 * A pid identifies a process only with its start time (field 22 of /proc/PID/stat, clock
 * ticks since boot): a pid reused after a reboot or a wrap-around has another one.
 */
import type { HealthConfig } from '../../api/api-types.ts';
import { taskError } from './errors.ts';

/** What the runtime needs to run a task or standalone container. */
export interface ProcessSpec {
  /** Task or container id: the directory name under the runtime dir. */
  id: string;
  /** Task name (web.1.abc) or container name, for logs and `ps`. */
  name: string;
  /** The sandbox network namespace's name under /run/netns (it must exist). */
  netns: string;
  /** Command and arguments; empty is SHOAL_ERR_TASK_EMPTY_COMMAND. */
  argv: string[];
  /** KEY=VALUE entries: the whole environment, plus PATH and HOSTNAME when absent. */
  env: string[];
  /** UTS hostname inside the sandbox; empty = the id's first 12 characters. */
  hostname: string;
  /** Content of /etc/resolv.conf as the process sees it. */
  resolvConf: string;
  /** Content of /etc/hosts as the process sees it. */
  hosts: string;
  health?: HealthConfig;
}

/** A process, identified so that a reused pid is not mistaken for it. */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat, as text (clock ticks since boot). */
  startTime: string;
}

export interface TaskRecord {
  version: 1;
  spec: ProcessSpec;
  /** The supervisor shell: alive means the task has not ended. */
  supervisor: ProcessIdentity;
  /** The command itself; absent until the supervisor has written its pid. */
  main?: ProcessIdentity;
  /** Wall-clock start, ms since the epoch (the health start period counts from it). */
  startedAtMs: number;
}

export const RECORD_VERSION = 1;

export function serializeRecord(record: TaskRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Parses record.json, checking every field; a bad record is SHOAL_ERR_TASK_RECORD. */
export function parseRecord(text: string, where: string): TaskRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw taskError('SHOAL_ERR_TASK_RECORD', `${where} is not JSON`, { path: where }, err);
  }
  const bad = (what: string): never => {
    throw taskError('SHOAL_ERR_TASK_RECORD', `${where}: ${what}`, { path: where });
  };
  if (!isObject(raw)) return bad('not an object');
  if (raw['version'] !== RECORD_VERSION) return bad(`version ${JSON.stringify(raw['version'])} is not ${RECORD_VERSION}`);
  const spec = raw['spec'];
  if (!isObject(spec)) return bad('spec is missing');
  for (const key of ['id', 'name', 'netns', 'hostname', 'resolvConf', 'hosts'] as const) {
    if (typeof spec[key] !== 'string') bad(`spec.${key} is not a string`);
  }
  for (const key of ['argv', 'env'] as const) {
    const v = spec[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad(`spec.${key} is not a list of strings`);
  }
  if (spec['health'] !== undefined && !isHealthConfig(spec['health'])) bad('spec.health is not a health config');
  const supervisor = identity(raw['supervisor']);
  if (!supervisor) return bad('supervisor is not {pid, startTime}');
  const main = raw['main'] === undefined ? undefined : identity(raw['main']);
  if (raw['main'] !== undefined && !main) bad('main is not {pid, startTime}');
  const startedAtMs = raw['startedAtMs'];
  if (typeof startedAtMs !== 'number' || !Number.isFinite(startedAtMs)) bad('startedAtMs is not a number');
  return {
    version: RECORD_VERSION,
    spec: spec as unknown as ProcessSpec,
    supervisor,
    ...(main ? { main } : {}),
    startedAtMs: startedAtMs as number,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isHealthConfig(v: unknown): v is HealthConfig {
  return (
    isObject(v) &&
    Array.isArray(v['cmd']) &&
    v['cmd'].every((x) => typeof x === 'string') &&
    ['intervalMs', 'timeoutMs', 'retries', 'startPeriodMs'].every((k) => typeof v[k] === 'number')
  );
}

function identity(v: unknown): ProcessIdentity | undefined {
  if (!isObject(v)) return undefined;
  const { pid, startTime } = v;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return undefined;
  if (typeof startTime !== 'string' || !/^\d+$/.test(startTime)) return undefined;
  return { pid, startTime };
}

/**
 * A number file written by the supervisor ("N\n", one write). Undefined while it is
 * empty or incomplete (the shell opens it, then writes): the newline marks it complete.
 */
export function parseNumberFile(text: string): number | undefined {
  const m = /^(-?\d{1,10})\n$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface ProcStat {
  /** R, S, D, Z, T, X, ... */
  state: string;
  pgrp: number;
  startTime: string;
}

/**
 * Parses /proc/PID/stat. The command name (field 2) is in parentheses and may itself hold
 * spaces and parentheses, so the fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime) || !Number.isInteger(pgrp)) return undefined;
  return { state, pgrp, startTime };
}

/** A stat that says the process has ended (a zombie not yet reaped, or dead). */
export function isEnded(stat: ProcStat): boolean {
  return stat.state === 'Z' || stat.state === 'X' || stat.state === 'x';
}

/** Signal names by number (Linux x86/arm), for exit statuses 128+N. */
const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
};

/** The signal an exit status 128+N names, if N is one (a shell cannot tell `exit 143` from SIGTERM). */
export function signalOfStatus(status: number): string | undefined {
  return status > 128 ? SIGNALS[status - 128] : undefined;
}

/** The sentence an 'exited' event carries. */
export function exitMessage(exitCode: number, signal: string | undefined, unknown: boolean): string {
  if (unknown) return `ended while its exit status could not be recorded (reported as ${exitCode})`;
  if (signal) return `killed by ${signal} (exit code ${exitCode})`;
  return `exited with code ${exitCode}`;
}
