/**
 * The test runner (scripts/test, scripts/run-tests.ts) tells the truth: it is run on the
 * fixture files in test/fixtures/runner (one per way a test file can end) with
 * SHOAL_TEST_ONLY_FILES=1, and each case is judged by the exit status and the closing
 * line `N passed, N failed[, N skipped]`. Also: what CI means, which files a run with no
 * paths covers, and a late timeout report that displaces another file's result line.
 * Spawns tap about eight times: it takes a minute or two, longer than tap's default
 * per-file timeout, so run it through scripts/test (or tap with a larger --timeout).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { emptyTally, TapRunReader, tallyFiles } from '../../../scripts/runner/tap-results.ts';
import { DEFAULT_TARGETS, resolveTargets } from '../../../scripts/runner/targets.ts';
import { isCi } from '../../support/ci.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const fixture = (name: string): string => `test/fixtures/runner/${name}`;

interface RunnerResult {
  readonly status: number | null;
  readonly closing: string;
  readonly output: string;
}

/**
 * The environment of a run: ours without what tap sets for its own children (a nested
 * tap must not think it is one of them) and without CI or the runner's switches.
 */
function runnerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^_?TAP/.test(k) || k.startsWith('TS_NODE_') || k.startsWith('SHOAL_TEST_') || k === 'NODE_OPTIONS' || k === 'CI') continue;
    env[k] = v;
  }
  return { ...env, SHOAL_TEST_ONLY_FILES: '1', ...extra };
}

function runRunner(paths: readonly string[], extra: Record<string, string> = {}): Promise<RunnerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['scripts/test', ...paths], { cwd: repo, env: runnerEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', () => {});
    child.on('error', reject);
    child.on('close', (status) => {
      const lines = output.trimEnd().split('\n');
      resolve({ status, closing: lines[lines.length - 1] ?? '', output });
    });
  });
}

/** Runs at most two runners at a time: each starts tap and a test process. */
function limited(jobs: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= jobs) await new Promise<void>((go) => waiting.push(go));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
const slot = limited(2);
const run = (paths: readonly string[], extra: Record<string, string> = {}): Promise<RunnerResult> => slot(() => runRunner(paths, extra));

/** Checks the closing line; quotes the run's output when it is wrong. */
function closes(t: Test, r: RunnerResult, expected: string): void {
  if (!t.equal(r.closing, expected, 'the closing line')) t.comment(r.output);
}

const strictEnv = { CI: '1', SHOAL_TEST_STRICT_PATHS: fixture('strict') };
// started together, judged one by one below
const runs = {
  pass: run([fixture('pass.fixture.ts')]),
  killed: run([fixture('killed.fixture.ts')]),
  exitZero: run([fixture('exit-zero.fixture.ts')]),
  hang: run([fixture('hang.fixture.ts')], { SHOAL_TEST_TIMEOUT: '3' }),
  skip: run([fixture('skip.fixture.ts')]),
  missing: run([fixture('no-such.fixture.ts'), fixture('')]),
  ciStrict: run([fixture('strict/skip.fixture.ts'), fixture('strict/skip-test.fixture.ts'), fixture('skip.fixture.ts')], strictEnv),
  ciOff: run([fixture('strict/skip.fixture.ts')], { ...strictEnv, CI: 'false' }),
};

t.test('a passing file passes', async (t) => {
  const r = await runs.pass;
  closes(t, r, '2 passed, 0 failed');
  t.equal(r.status, 0);
});

t.test('a file that kills itself part way fails once, and its earlier test still counts', async (t) => {
  const r = await runs.killed;
  closes(t, r, '1 passed, 1 failed');
  t.not(r.status, 0);
  t.match(r.output, /killed\.fixture\.ts: killed by SIGKILL/);
});

t.test('a file that calls process.exit(0) with tests pending fails once', async (t) => {
  const r = await runs.exitZero;
  closes(t, r, '1 passed, 1 failed');
  t.not(r.status, 0);
});

t.test('a file that never ends fails once when its timeout passes', async (t) => {
  const r = await runs.hang;
  closes(t, r, '0 passed, 1 failed');
  t.not(r.status, 0);
});

t.test('a file that skips as a whole is counted and named as skipped', async (t) => {
  const r = await runs.skip;
  closes(t, r, '0 passed, 0 failed, 1 skipped');
  t.equal(r.status, 0);
  t.match(r.output, /Skipped:\n {2}- test\/fixtures\/runner\/skip\.fixture\.ts: skipped as a whole: this file has nothing to run here/);
});

t.test('each path that matches no test file is one failed test, named', async (t) => {
  const r = await runs.missing;
  closes(t, r, '0 passed, 2 failed');
  t.not(r.status, 0);
  t.match(r.output, /test\/fixtures\/runner\/no-such\.fixture\.ts: matches no test file/);
  t.match(r.output, /test\/fixtures\/runner\/: matches no test file/, 'a directory of fixtures holds no *.test.ts');
});

t.test('in CI a skip under a strict path fails (a file or a test), elsewhere it is a skip', async (t) => {
  const r = await runs.ciStrict;
  closes(t, r, '1 passed, 2 failed, 1 skipped');
  t.not(r.status, 0);
  t.match(r.output, /strict\/skip\.fixture\.ts: skipped as a whole: .* \(CI allows no skip here\)/);
  t.match(r.output, /strict\/skip-test\.fixture\.ts > skipped: skipped: no device here \(CI allows no skip here\)/);
  const off = await runs.ciOff;
  t.comment('CI=false is not CI');
  closes(t, off, '0 passed, 0 failed, 1 skipped');
  t.equal(off.status, 0);
});

t.test('CI means CI set to anything but empty, 0 or false', async (t) => {
  for (const value of ['true', 'TRUE', '1', 'yes', 'github']) t.equal(isCi({ CI: value }), true, `CI=${value}`);
  for (const value of [undefined, '', '0', 'false', 'False', 'FALSE']) t.equal(isCi({ CI: value }), false, `CI=${value}`);
});

t.test('a run with no paths covers the *.test.ts files of the three tiers, never a fixture', async (t) => {
  const { files, unmatched } = resolveTargets(repo, []);
  t.same(unmatched, []);
  t.ok(files.includes('test/unit/runner/runner.test.ts'), 'this file is part of the unit tier');
  t.same(
    files.filter((f) => !f.endsWith('.test.ts') || !DEFAULT_TARGETS.some((d) => f.startsWith(`${d}/`))),
    [],
  );
  t.same(
    files.filter((f) => f.startsWith('test/fixtures/')),
    [],
  );
  t.same(resolveTargets(repo, [fixture('pass.fixture.ts'), `./${fixture('pass.fixture.ts')}`]).files, [fixture('pass.fixture.ts')]);
});

t.test("a late timeout report that takes another file's result line fails only the file that timed out", async (t) => {
  // as tap 21 printed it for a file that timed out after starting, next to one that passed
  const transcript = `TAP version 14
1..2
# Subtest: a.test.ts
    # Subtest: never ends
        not ok 1 - timeout!
          ---
          expired: TAP
          ...
        1..1
    not ok 1 - never ends # time=20120.517ms
    1..1
not ok 1 - a.test.ts # time=20225.779ms
  ---
  exitCode: null
  signal: SIGALRM
  ...
# Subtest: b.test.ts
    # Subtest: one
        ok 1 - first
        1..1
    ok 1 - one # time=65.515ms
    1..1
    # time=148.683ms
not ok 2 - timeout!
  ---
  expired: a.test.ts
  ...
`;
  const reader = new TapRunReader();
  for (const line of transcript.split('\n')) reader.line(line);
  reader.end();
  const tally = emptyTally();
  tallyFiles(reader.files, { expected: ['a.test.ts', 'b.test.ts'], strict: () => false, timeoutSeconds: 20 }, tally);
  t.same(tally.failures, ['a.test.ts > never ends']);
  t.equal(tally.passed, 1);

  // without its plan met, the displaced file cannot be judged and fails
  const cut = new TapRunReader();
  for (const line of transcript.replace('    1..1\n    # time=148', '    # time=148').split('\n')) cut.line(line);
  cut.end();
  const cutTally = emptyTally();
  tallyFiles(cut.files, { expected: ['a.test.ts', 'b.test.ts'], strict: () => false, timeoutSeconds: 20 }, cutTally);
  t.same(cutTally.failures, ['a.test.ts > never ends', 'b.test.ts: no result line from tap (its output was cut off)']);
});

t.test('a failed test is named with the assertions that failed inside it', async (t) => {
  const transcript = `TAP version 14
1..1
# Subtest: c.test.ts
    # Subtest: cluster
        # Subtest: SIGTERM to an agent
            ok 1 - the agent exited
            not ok 2 - no namespace is left
              ---
              at: x
              ...
            1..2
        not ok 1 - SIGTERM to an agent # time=10.1ms
        ok 2 - still counts
        1..2
    not ok 1 - cluster # time=20.2ms
    1..1
not ok 1 - c.test.ts # time=30.3ms
`;
  const reader = new TapRunReader();
  for (const line of transcript.split('\n')) reader.line(line);
  reader.end();
  const tally = emptyTally();
  tallyFiles(reader.files, { expected: ['c.test.ts'], strict: () => false, timeoutSeconds: 20 }, tally);
  t.same(tally.failures, ['c.test.ts > cluster: no namespace is left; SIGTERM to an agent']);
  t.equal(tally.failed, 1);
});
