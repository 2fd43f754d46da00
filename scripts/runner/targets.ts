/**
 * Which test files a run covers. The runner hands tap an explicit list of files, so the
 * rule is ours, not tap's directory globbing: a directory stands for every `*.test.ts`
 * beneath it; a file is run as named, whatever its name (that is how the runner's own
 * fixtures, `test/fixtures/runner/*.fixture.ts`, are run: only ever by explicit path); a
 * path that is neither, or a directory holding no test file, matches nothing and is
 * reported as such so that a mistyped path fails the run instead of passing it silently.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** What a run with no paths covers: the three tiers. */
export const DEFAULT_TARGETS: readonly string[] = ['test/unit', 'test/kernel', 'test/e2e'];

/** How a file in a directory is recognised as a test file. */
export const TEST_FILE_SUFFIX = '.test.ts';

/** Directories never searched for test files. */
const SKIPPED_DIRECTORIES = new Set(['node_modules', '.git', '.tap']);

export interface Targets {
  /** Test files, relative to the repository with `/` separators, sorted, each once. */
  readonly files: string[];
  /** The paths, as given, that matched no test file. */
  readonly unmatched: string[];
}

/**
 * Resolves `paths` (relative to `root`, or absolute) to test files; no paths means
 * DEFAULT_TARGETS.
 */
export function resolveTargets(root: string, paths: readonly string[]): Targets {
  const files = new Set<string>();
  const unmatched: string[] = [];
  for (const given of paths.length > 0 ? paths : DEFAULT_TARGETS) {
    const found = filesFor(resolve(root, given));
    if (found.length === 0) unmatched.push(given);
    for (const f of found) files.add(toRepoPath(root, f));
  }
  return { files: [...files].sort(), unmatched };
}

function filesFor(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) walk(full);
      } else if (entry.isFile() && entry.name.endsWith(TEST_FILE_SUFFIX)) {
        out.push(full);
      }
    }
  };
  walk(path);
  return out;
}

/** The path tap prints for a file: relative to the project root, `/`-separated. */
function toRepoPath(root: string, file: string): string {
  const rel = relative(root, file);
  return (isAbsolute(rel) || rel.startsWith('..') ? file : rel).split(sep).join('/');
}
