/**
 * Sysctls of one network namespace, read and written through /proc/sys.
 *
 * The kernel resolves /proc/sys/net/* by the network namespace of the process that opens
 * the file, so the real implementation runs `cat` / `tee` on the path inside the namespace
 * (one short process per call, through exec.ts). Sysctls outside net.* are global to the
 * host: a handle on a named namespace refuses them rather than change the whole machine.
 *
 * Names: dotted (`net.ipv4.conf.eth0.rp_filter`) or slashed (`net/ipv4/conf/eth0/rp_filter`).
 * The first separator decides, as sysctl.d(5) does: after a dot, a '/' inside a name stands
 * for a '.' in that component (`net.ipv4.conf.eth0/100.rp_filter` is interface `eth0.100`);
 * a slashed name is a path and its dots are literal. Allowed characters: letters, digits,
 * `_ - . /`; no empty, `.` or `..` component.
 */
import { readFile } from 'node:fs/promises';
import { ShoalError } from '../common/errors.ts';
import { execInNetns, firstLines } from './exec.ts';
import type { Sysctl } from './types.ts';

export const PROC_SYS = '/proc/sys';

export interface SysctlOptions {
  /** Milliseconds before a `cat`/`tee` is killed; default exec.ts's DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * The path of a sysctl under /proc/sys (`net/ipv4/ip_forward`), validated.
 * `netns` is the namespace the handle programs: a named one accepts only net.* names.
 */
export function sysctlPath(name: string, netns = ''): string {
  const bad = (why: string): ShoalError =>
    new ShoalError('SHOAL_ERR_BAD_SYSCTL', `sysctl name ${JSON.stringify(name)} ${why}`, { details: { name } });
  if (typeof name !== 'string' || name.length === 0 || name.length > 512) throw bad('must be 1-512 characters');
  if (!/^[A-Za-z0-9_./-]+$/.test(name)) throw bad('may contain only letters, digits and _ - . /');
  const dot = name.indexOf('.');
  const slash = name.indexOf('/');
  const slashed = slash >= 0 && (dot < 0 || slash < dot);
  const parts = slashed ? name.split('/') : name.split('.').map((p) => p.replace(/\//g, '.'));
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw bad('has an empty, "." or ".." component');
  }
  if (netns !== '' && parts[0] !== 'net')
    throw bad(`is not a network sysctl (net.*); it is global to the host, not per namespace ${netns}`);
  return parts.join('/');
}

/** The dotted name of a sysctl path (`net/ipv4/conf/eth0.1/rp_filter` -> `net.ipv4.conf.eth0/1.rp_filter`). */
export function sysctlDottedName(path: string): string {
  return path
    .split('/')
    .map((p) => p.replace(/\./g, '/'))
    .join('.');
}

/** A value as it is written: integers and strings; no newline or NUL inside. */
export function sysctlValueText(name: string, value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `sysctl ${name} value ${value} is not an integer`, { details: { name, value } });
    return String(value);
  }
  if (typeof value !== 'string' || /[\n\0]/.test(value)) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `sysctl ${name} value ${JSON.stringify(value)} must be one line of text`, {
      details: { name },
    });
  }
  return value;
}

/** Maps a failed cat/tee on a /proc/sys path to the error a caller can act on. */
function sysctlError(err: unknown, name: string, op: 'read' | 'write', netns: string): unknown {
  if (!(err instanceof ShoalError) || err.code !== 'SHOAL_ERR_COMMAND_FAILED') return err;
  const stderr = String(err.details['stderr'] ?? '');
  const details = { name, netns, stderr: firstLines(stderr) };
  if (/No such file or directory/.test(stderr)) {
    return new ShoalError('SHOAL_ERR_NOT_FOUND', `sysctl ${name} does not exist${netns ? ` in namespace ${netns}` : ''}`, {
      cause: err,
      details,
      errno: 'ENOENT',
    });
  }
  if (/Is a directory/.test(stderr)) {
    return new ShoalError('SHOAL_ERR_NOT_FOUND', `sysctl ${name} is a directory, not a value`, { cause: err, details, errno: 'EISDIR' });
  }
  const errno = /Invalid argument/.test(stderr)
    ? 'EINVAL'
    : /Permission denied/.test(stderr)
      ? 'EACCES'
      : /Operation not permitted/.test(stderr)
        ? 'EPERM'
        : undefined;
  return new ShoalError('SHOAL_ERR_SYSCTL', `cannot ${op} sysctl ${name}: ${firstLines(stderr, 1) || err.message}`, {
    cause: err,
    details,
    ...(errno ? { errno } : {}),
  });
}

class KernelSysctl implements Sysctl {
  readonly netns: string;
  readonly #timeoutMs: number | undefined;

  constructor(netns: string, options: SysctlOptions) {
    this.netns = netns;
    this.#timeoutMs = options.timeoutMs;
  }

  async get(name: string): Promise<string> {
    const path = sysctlPath(name, this.netns);
    if (this.netns === '') return readOwn(name, path); // our own namespace: no process to start
    try {
      const { stdout } = await execInNetns(this.netns, 'cat', [`${PROC_SYS}/${path}`], this.#execOptions());
      return stdout.replace(/\n$/, '');
    } catch (err) {
      throw sysctlError(err, name, 'read', this.netns);
    }
  }

  async set(name: string, value: string | number): Promise<void> {
    const path = sysctlPath(name, this.netns);
    const text = sysctlValueText(name, value);
    try {
      // tee opens the existing file for writing; /proc/sys never creates a missing one.
      await execInNetns(this.netns, 'tee', [`${PROC_SYS}/${path}`], { ...this.#execOptions(), input: `${text}\n` });
    } catch (err) {
      throw sysctlError(err, name, 'write', this.netns);
    }
  }

  #execOptions(): { timeoutMs?: number } {
    return this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs };
  }
}

/** Reads a sysctl of the namespace this process runs in, with the errors the `cat` path gives. */
async function readOwn(name: string, path: string): Promise<string> {
  try {
    return (await readFile(`${PROC_SYS}/${path}`, 'utf8')).replace(/\n$/, '');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    const details = { name, netns: '', stderr: '' };
    if (errno === 'ENOENT')
      return Promise.reject(new ShoalError('SHOAL_ERR_NOT_FOUND', `sysctl ${name} does not exist`, { cause: err, details, errno }));
    if (errno === 'EISDIR')
      return Promise.reject(
        new ShoalError('SHOAL_ERR_NOT_FOUND', `sysctl ${name} is a directory, not a value`, { cause: err, details, errno }),
      );
    throw new ShoalError('SHOAL_ERR_SYSCTL', `cannot read sysctl ${name}: ${(err as Error).message}`, {
      cause: err,
      details,
      ...(errno ? { errno } : {}),
    });
  }
}

/** Sysctls of network namespace `netns` ('' = the one this process runs in). */
export function createSysctl(netns: string, options: SysctlOptions = {}): Sysctl {
  return new KernelSysctl(netns, options);
}
