/**
 * Network namespaces by name, kept as bind mounts under /run/netns exactly as
 * `ip netns` keeps them (so `ip netns list`, `ip -n NAME` and nsenter see ours).
 * Creation and deletion go through the native addon: no process per namespace.
 */
import { readdir, stat } from 'node:fs/promises';
import { ShoalError } from '../common/errors.ts';
import { callNative } from './native.ts';
import type { NetnsManager } from './types.ts';
import { validateNetnsName } from './validate.ts';

export const NETNS_RUN_DIR = '/run/netns';

/**
 * Path of a namespace's bind mount; '' means the namespace this process runs in (its
 * "host": inside a testbed host that is the host's namespace, not pid 1's). Native calls
 * enter other namespaces only for the length of one synchronous call and return, so from
 * JavaScript /proc/self/ns/net always names the process's own namespace.
 */
export function netnsPath(name: string): string {
  if (name === '') return '/proc/self/ns/net';
  validateNetnsName(name);
  return `${NETNS_RUN_DIR}/${name}`;
}

/** The path to setns() into for a handle on `name` ('' = stay where we are). */
export function nsPathOrNull(name: string): string | null {
  return name === '' ? null : netnsPath(name);
}

class KernelNetns implements NetnsManager {
  async create(name: string): Promise<boolean> {
    validateNetnsName(name);
    return callNative(`create namespace ${name}`, (n) => n.createNetns(name));
  }

  async delete(name: string): Promise<boolean> {
    validateNetnsName(name);
    return callNative(`delete namespace ${name}`, (n) => n.deleteNetns(name));
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(NETNS_RUN_DIR)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new ShoalError('SHOAL_ERR_NETNS', `cannot list ${NETNS_RUN_DIR}`, { cause: err });
    }
  }

  async exists(name: string): Promise<boolean> {
    validateNetnsName(name);
    try {
      await stat(netnsPath(name));
      return true;
    } catch {
      return false;
    }
  }

  path(name: string): string {
    return netnsPath(name);
  }
}

export function createNetnsManager(): NetnsManager {
  return new KernelNetns();
}

/** Throws SHOAL_ERR_NETNS_NOT_FOUND unless the namespace exists ('' always exists). */
export async function requireNetns(name: string): Promise<void> {
  if (name === '') return;
  try {
    await stat(netnsPath(name));
  } catch {
    throw new ShoalError('SHOAL_ERR_NETNS_NOT_FOUND', `network namespace ${name} does not exist`, {
      details: { netns: name },
      errno: 'ENOENT',
    });
  }
}
