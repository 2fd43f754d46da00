/**
 * The test runner behind `bash scripts/test` (which installs what is missing and then runs
 * this file through tsx): the checks, the test files through tap, the namespace check,
 * and one closing line `N passed, N failed[, N skipped]`; exit status 1 whenever anything
 * failed. See scripts/test for the usage and the environment switches, and CONTRIBUTING.md
 * ("Test tiers") for what counts as failed and skipped.
 *
 * It does not believe a quiet run: tap's exit status, every file's result line, the files
 * it was given and the paths it was asked for are all checked (runner/tap-results.ts says
 * how each failure shows in tap's output).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isCi } from '../test/support/ci.ts';
import { emptyTally, type Tally, TapRunReader, tallyFiles } from './runner/tap-results.ts';
import { resolveTargets } from './runner/targets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Per-file timeout when SHOAL_TEST_TIMEOUT is unset, in seconds. */
const DEFAULT_TIMEOUT_S = 900;
/** Where a skip fails the run in CI when SHOAL_TEST_STRICT_PATHS is unset. */
const DEFAULT_STRICT_PATHS = 'test/kernel test/e2e';

interface Check {
  /** The name counted and printed (`ok - NAME`). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Run only when this file exists (a check that may not be there yet). */
  readonly ifExists?: string;
}

const CHECKS: readonly Check[] = [
  { name: 'type check', command: 'npx', args: ['tsc', '--noEmit', '-p', '.'] },
  { name: 'lint', command: 'npx', args: ['biome', 'check', '--error-on-warnings', '.'] },
  { name: 'module boundaries', command: 'node', args: ['scripts/check-boundaries.mjs'], ifExists: 'scripts/check-boundaries.mjs' },
];

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Counts one check (not a tap test) as passed or failed and prints its line. */
function count(tally: Tally, ok: boolean, name: string, failure = name): void {
  if (ok) tally.passed++;
  else {
    tally.failed++;
    tally.failures.push(failure);
  }
  say(`${ok ? 'ok' : 'not ok'} - ${name}`);
}

function runCheck(tally: Tally, check: Check): void {
  if (check.ifExists && !existsSync(join(root, check.ifExists))) return;
  const shown = [check.command, ...check.args].join(' ');
  say(`# ${check.name} (${shown})`);
  const r = spawnSync(check.command, check.args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  count(tally, r.status === 0, check.name, `${check.name}: ${shown} ${r.error ? `did not run (${r.error.message})` : 'failed'}`);
}

/** `ip netns list`, names only, sorted; empty when ip is missing. */
function namespaces(): string[] {
  try {
    const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .split('\n')
      .map((l) => l.split(/\s+/)[0] ?? '')
      .filter((n) => n !== '')
      .sort();
  } catch {
    return [];
  }
}

interface TapRun {
  readonly reader: TapRunReader;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error: Error | undefined;
}

/** Runs tap on `files`, copying its TAP to stdout as it comes. */
async function runTap(files: readonly string[], timeoutS: number): Promise<TapRun> {
  const reader = new TapRunReader();
  const child = spawn(join(root, 'node_modules/.bin/tap'), ['--disable-coverage', '--reporter=tap', `--timeout=${timeoutS}`, ...files], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let error: Error | undefined;
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((done) => {
    child.on('error', (err) => {
      error = err;
      done([null, null]);
    });
    child.on('close', (code, signal) => done([code, signal]));
  });
  for await (const line of createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
    say(line);
    reader.line(line);
  }
  reader.end();
  const [code, signal] = await closed;
  return { reader, code, signal, error };
}

function positiveSeconds(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return DEFAULT_TIMEOUT_S;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

async function main(args: readonly string[]): Promise<number> {
  const env = process.env;
  const tally = emptyTally();
  const onlyFiles = env['SHOAL_TEST_ONLY_FILES'] === '1';
  const ci = isCi(env);
  const strictPaths = (env['SHOAL_TEST_STRICT_PATHS'] ?? DEFAULT_STRICT_PATHS)
    .split(/\s+/)
    .map((p) => p.replace(/\/+$/, ''))
    .filter((p) => p !== '');
  const strict = (file: string): boolean => ci && strictPaths.some((p) => file === p || file.startsWith(`${p}/`));
  say(ci ? `# in CI (CI=${env['CI']}): a skip under ${strictPaths.join(', ')} is a failure` : '# not in CI: skips are counted as skipped');

  const timeoutS = positiveSeconds(env['SHOAL_TEST_TIMEOUT']);
  if (timeoutS === undefined) {
    count(tally, false, `SHOAL_TEST_TIMEOUT must be a whole number of seconds above 0, not ${JSON.stringify(env['SHOAL_TEST_TIMEOUT'])}`);
    return finish(tally);
  }

  if (!onlyFiles) for (const check of CHECKS) runCheck(tally, check);

  const targets = resolveTargets(root, args);
  for (const path of targets.unmatched) count(tally, false, `no test file matches ${path}`, `${path}: matches no test file`);

  const before = onlyFiles ? undefined : namespaces();
  if (targets.files.length > 0) {
    const run = await runTap(targets.files, timeoutS);
    const failedBefore = tally.failed;
    tallyFiles(run.reader.files, { expected: targets.files, strict, timeoutSeconds: timeoutS }, tally);
    if (run.error) {
      tally.failed++;
      tally.failures.push(`tap did not run: ${run.error.message}`);
    } else if ((run.code !== 0 || run.signal) && tally.failed === failedBefore) {
      // tap knows of a failure that its output did not show
      tally.failed++;
      tally.failures.push(run.signal ? `tap was killed by ${run.signal}` : `tap exited with status ${run.code}`);
    }
  }
  if (before !== undefined) {
    const after = namespaces();
    const same = before.length === after.length && before.every((n, i) => n === after[i]);
    if (!same) {
      say('# network namespaces before and after the run differ:');
      for (const n of before.filter((n) => !after.includes(n))) say(`#   - ${n} (removed)`);
      for (const n of after.filter((n) => !before.includes(n))) say(`#   + ${n} (left behind)`);
    }
    count(
      tally,
      same,
      same ? 'network namespaces unchanged by the run' : 'network namespaces left behind or removed by the tests',
      'network namespaces left behind or removed by the tests',
    );
  }
  return finish(tally);
}

function finish(tally: Tally): number {
  if (tally.skips.length > 0) say(`\nSkipped:\n${tally.skips.map((s) => `  - ${s}`).join('\n')}`);
  if (tally.failures.length > 0) say(`\nFailed:\n${tally.failures.map((f) => `  - ${f}`).join('\n')}`);
  say('');
  say(`${tally.passed} passed, ${tally.failed} failed${tally.skipped > 0 ? `, ${tally.skipped} skipped` : ''}`);
  return tally.failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
