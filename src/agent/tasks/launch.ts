/**
 * How a task's process is launched, as pure functions: spec validation, the environment it
 * gets, the supervisor script and the command lines of the launch and of exec. No I/O here,
 * so every line of what the runtime runs can be checked in a unit test.
 *
 * The process tree of one task (each arrow an exec, not a fork, unless it says fork):
 *
 *   agent --spawn, setsid--> nsenter --net=/run/netns/SANDBOX
 *     -> unshare --mount --uts --propagation private
 *     -> sh (the supervisor, session leader; pid recorded with its /proc start time)
 *          bind-mounts DIR/resolv.conf and DIR/hosts over /etc/*, sets the UTS hostname,
 *          --fork--> sh: writes its pid to DIR/pid -> setsid -> the command (the task's
 *          "main" process: a session and process group of its own)
 *          waits for it, kills what is left of its process group, writes the exit
 *          status to DIR/exit, then touches EVENTS/ID.exited.
 *
 * Why a supervisor: after an agent restart the task is no longer the agent's child, so
 * only a parent that outlives the agent can learn its exit status. Why the command gets a
 * process group of its own: stop() signals that group, so SIGTERM and SIGKILL reach the
 * command and its children but never the supervisor, which therefore records the status
 * in every case, SIGKILL included (137). The supervisor also traps TERM, INT, HUP and
 * QUIT with a handler (`:`), so a stray signal sent to it alone does not end it before the
 * command does. A handler, unlike an ignored disposition, is reset by exec, so the command
 * starts with every signal at its default (libuv resets the agent's own dispositions in
 * the child it spawns).
 *
 * The supervisor assigns no shell variable before the command has ended: a variable that
 * came in the environment is exported, and assigning it would change the task's
 * environment. Everything it needs arrives as positional parameters.
 */
import type { HealthConfig } from '../../api/api-types.ts';
import { taskError } from './errors.ts';

/** Absolute paths of the programs the runtime runs (util-linux and a POSIX sh). */
export interface TaskTools {
  sh: string;
  nsenter: string;
  unshare: string;
  setsid: string;
  mount: string;
}

/** The programs by name, looked up in PATH once (resolveTools in tools.ts). */
export const TOOL_NAMES: readonly (keyof TaskTools)[] = ['sh', 'nsenter', 'unshare', 'setsid', 'mount'];

/** Docker's PATH for a container whose image sets none. */
export const DEFAULT_TASK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Exit status the supervisor writes when the sandbox could not be set up (Docker's 125). */
export const EXIT_SETUP_FAILED = 125;

/** Exit code reported when a task ended and nothing recorded its status (its supervisor was killed, or the node rebooted). */
export const EXIT_CODE_UNKNOWN = 255;

/**
 * The supervisor, run as `sh -c SUPERVISOR_SCRIPT NAME DIR HOSTNAME MARKER MOUNT SH SETSID -- ARGV...`.
 * MARKER is EVENTS/ID: the runtime watches EVENTS (one inotify watch for every task, and
 * none of the log's writes), the files in DIR are the truth.
 */
export const SUPERVISOR_SCRIPT = [
  'trap : TERM INT HUP QUIT',
  `"$4" --bind -- "$1/resolv.conf" /etc/resolv.conf && "$4" --bind -- "$1/hosts" /etc/hosts && printf '%s\\n' "$2" > /proc/sys/kernel/hostname || { echo "shoal: cannot set up the task's sandbox" >&2; echo ${EXIT_SETUP_FAILED} > "$1/exit"; : > "$3.exited"; exit ${EXIT_SETUP_FAILED}; }`,
  `"$5" -c 'echo $$ > "$1/pid" && : > "$3.started" && shift 5 && exec "$@"' sh "$@"`,
  's=$?',
  'read p < "$1/pid" && kill -s KILL -- "-$p" 2>/dev/null',
  'echo "$s" > "$1/exit"',
  ': > "$3.exited"',
].join('\n');

/** A task id is a directory name under the runtime dir: no separators, no leading dot (EVENTS is `.events`). */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Hostnames as the kernel keeps them (at most 64 bytes), restricted to what resolvers accept. */
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$/;
const ENV_KEY_RE = /^[^=\0]+$/;

export function validateTaskId(id: string): void {
  if (!ID_RE.test(id)) {
    throw taskError('SHOAL_ERR_TASK_BAD_SPEC', `task id ${JSON.stringify(id)} is not a plain name (letters, digits, _ . -, at most 128)`, {
      id,
    });
  }
}

/** Checks argv, env and hostname; throws the first problem with a stable code. */
export function validateLaunch(spec: { id: string; argv: readonly string[]; env: readonly string[]; hostname: string }): void {
  validateTaskId(spec.id);
  validateArgv(spec.argv, spec.id);
  validateEnv(spec.env, spec.id);
  if (spec.hostname !== '' && !HOSTNAME_RE.test(spec.hostname)) {
    throw taskError(
      'SHOAL_ERR_TASK_BAD_SPEC',
      `hostname ${JSON.stringify(spec.hostname)} is not a valid host name (at most 64 characters)`,
      {
        id: spec.id,
        hostname: spec.hostname,
      },
    );
  }
}

export function validateArgv(argv: readonly string[], id: string): void {
  if (argv.length === 0 || argv[0] === '') {
    throw taskError('SHOAL_ERR_TASK_EMPTY_COMMAND', `task ${id} has no command to run`, { id });
  }
  const bad = argv.findIndex((a) => a.includes('\0'));
  if (bad >= 0) throw taskError('SHOAL_ERR_TASK_BAD_SPEC', `argument ${bad} of task ${id}'s command holds a NUL byte`, { id });
}

export function validateEnv(env: readonly string[], id: string): void {
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || !ENV_KEY_RE.test(entry.slice(0, eq)) || entry.includes('\0')) {
      throw taskError('SHOAL_ERR_TASK_BAD_SPEC', `environment entry ${JSON.stringify(entry)} of task ${id} is not KEY=VALUE`, {
        id,
        entry,
      });
    }
  }
}

/** The hostname a task gets: its own, or the id's first 12 characters (as Docker does). */
export function effectiveHostname(spec: { id: string; hostname: string }): string {
  return spec.hostname !== '' ? spec.hostname : spec.id.slice(0, 12).replace(/[^A-Za-z0-9]+$/, '');
}

/**
 * The environment of a task's process (and of exec and health commands in it): exactly
 * the spec's entries in order (a later entry of the same key wins), plus PATH (Docker's
 * default) and HOSTNAME when the spec sets them not. Nothing of the agent's environment.
 * The task's process also finds PWD=/ : it runs in / (tasks have no working-directory
 * setting), and the supervisor shell, as every POSIX shell, exports PWD.
 */
export function taskEnvironment(env: readonly string[], hostname: string, extra: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of [...env, ...extra]) {
    const eq = entry.indexOf('=');
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  if (!('PATH' in out)) out['PATH'] = DEFAULT_TASK_PATH;
  if (!('HOSTNAME' in out)) out['HOSTNAME'] = hostname;
  return out;
}

/** The command line that launches a task's supervisor in its sandbox ([file, ...args]). */
export function launchArgv(
  tools: TaskTools,
  p: { netnsPath: string; taskDir: string; hostname: string; markerPrefix: string; name: string; argv: readonly string[] },
): string[] {
  return [
    tools.nsenter,
    `--net=${p.netnsPath}`,
    '--',
    tools.unshare,
    '--mount',
    '--uts',
    '--propagation',
    'private',
    '--',
    tools.sh,
    '-c',
    SUPERVISOR_SCRIPT,
    `shoal-task:${p.name}`,
    p.taskDir,
    p.hostname,
    p.markerPrefix,
    tools.mount,
    tools.sh,
    tools.setsid,
    '--',
    ...p.argv,
  ];
}

/** The command line that runs `argv` in the namespaces of process `pid` (network, mount, UTS). */
export function execArgv(tools: TaskTools, pid: number, argv: readonly string[], workdir = ''): string[] {
  // --wd is applied inside the task's mount namespace, after entering it
  return [tools.nsenter, `--target=${pid}`, '--net', '--mount', '--uts', ...(workdir ? [`--wd=${workdir}`] : []), '--', ...argv];
}

/** A health check as the runtime runs it: Docker's semantics and defaults, in milliseconds. */
export interface ResolvedHealthCheck {
  /** What runs inside the sandbox: CMD's argv, or [sh, -c, CMD-SHELL's string]. */
  argv: string[];
  /** Between the end of one probe and the start of the next; 0 in the spec = 30 s. */
  intervalMs: number;
  /** A probe running longer fails (and is killed); 0 in the spec = 30 s. */
  timeoutMs: number;
  /** Consecutive failures that make the task unhealthy; 0 in the spec = 3. */
  retries: number;
  /** Failures this soon after the start do not count while the task is still starting. */
  startPeriodMs: number;
}

export const DEFAULT_HEALTH_INTERVAL_MS = 30_000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 30_000;
export const DEFAULT_HEALTH_RETRIES = 3;

/**
 * The health check a spec asks for, or undefined for none (no config, an empty test, or
 * NONE). `shell` runs CMD-SHELL's string, as Docker's `/bin/sh -c`.
 */
export function resolveHealthCheck(health: HealthConfig | undefined, id: string, shell = '/bin/sh'): ResolvedHealthCheck | undefined {
  if (health === undefined || health.cmd.length === 0) return undefined;
  const [kind, ...rest] = health.cmd;
  let argv: string[];
  switch (kind) {
    case 'NONE':
      return undefined;
    case 'CMD':
      argv = rest;
      break;
    case 'CMD-SHELL':
      argv = rest.length === 0 || rest.join(' ').trim() === '' ? [] : [shell, '-c', rest.join(' ')];
      break;
    default:
      throw taskError(
        'SHOAL_ERR_TASK_BAD_SPEC',
        `health test of task ${id} starts with ${JSON.stringify(kind)}, not CMD, CMD-SHELL or NONE`,
        {
          id,
          test: health.cmd,
        },
      );
  }
  if (argv.length === 0 || argv[0] === '') {
    throw taskError('SHOAL_ERR_TASK_BAD_SPEC', `health test ${kind} of task ${id} has no command`, { id, test: health.cmd });
  }
  const field = (name: string, v: number): number => {
    if (!Number.isInteger(v) || v < 0) {
      throw taskError('SHOAL_ERR_TASK_BAD_SPEC', `health ${name} of task ${id} must be a non-negative integer, not ${v}`, {
        id,
        [name]: v,
      });
    }
    return v;
  };
  // As in Docker's API, 0 means "the default", not "none".
  const orDefault = (v: number, d: number): number => (v === 0 ? d : v);
  return {
    argv,
    intervalMs: orDefault(field('intervalMs', health.intervalMs), DEFAULT_HEALTH_INTERVAL_MS),
    timeoutMs: orDefault(field('timeoutMs', health.timeoutMs), DEFAULT_HEALTH_TIMEOUT_MS),
    retries: orDefault(field('retries', health.retries), DEFAULT_HEALTH_RETRIES),
    startPeriodMs: field('startPeriodMs', health.startPeriodMs),
  };
}
