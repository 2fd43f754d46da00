/**
 * Where shoal's own files are at run time.
 *
 * Files that ship next to the code (proto/*.proto) are found from the package root, not
 * from a path relative to one source file: the same module runs from src/ through tsx and,
 * compiled, from an output folder such as dist/src/, so "two directories up" is right in
 * one layout only. The root is the nearest directory above this module whose package.json
 * is named "shoal"; a package.json of another name on the way (an output folder's
 * `{"type": "module"}`) is skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShoalError } from './errors.ts';

/** The `name` in package.json that marks the package root. */
export const PACKAGE_NAME = 'shoal';

let cached: string | undefined;

/** The directory holding shoal's package.json (found once per process, then cached). */
export function packageRoot(): string {
  cached ??= findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

/** The nearest directory at or above `start` whose package.json is named `name` ("shoal"). */
export function findPackageRoot(start: string, name: string = PACKAGE_NAME): string {
  for (let dir = start; ; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && manifestName(manifest) === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ShoalError('SHOAL_ERR_INTERNAL', `no package.json named "${name}" in ${start} or above it`, {
        details: { start, name },
      });
    }
    dir = parent;
  }
}

function manifestName(path: string): unknown {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}
