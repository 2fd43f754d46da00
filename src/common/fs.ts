/**
 * File helpers shared by every process (manager, agent, CLI).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file atomically with the given mode: a temporary file next to it, then a
 * rename, so a reader sees the old content or the new, never a torn file. Missing parent
 * directories are created with mode 0700 (they hold keys and identities).
 */
export function writeFileAtomic(path: string, data: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}
