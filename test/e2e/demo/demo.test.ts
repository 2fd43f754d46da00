/**
 * Acceptance of `shoal demo`, the compiled command a user runs, on a prefix of its own:
 *
 * - a full run exits 0, reports every one of its 8 steps ok in the summary table, and
 *   leaves nothing of its testbed: no namespace, no link or nft table named with its prefix,
 *   no process (daemons found by their data dir, tasks by the demo's marker in their
 *   environment), no state directory, no context file;
 * - with `--wait-timeout 1ms` a step that waits fails: it is reported FAILED with the
 *   timeout's code, the steps after it are skipped, the summary still prints, the testbed is
 *   taken down all the same, and the exit status is 1.
 *
 * bin/shoal.js runs dist/: the test runner builds first.
 */
import t from 'tap';
import type { Test } from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { contextFilePath } from '../../../src/api/context.ts';
import { DEMO_TESTBED_ENV } from '../../../src/testbed/demo-tour.ts';
import { testbedPaths } from '../../../src/testbed/state.ts';
import { clusterPrefix, exec, type Result } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { SHOAL_BIN } from '../../support/manager-harness.ts';
import { waitUntil } from '../../support/wait.ts';

const STEPS = 8;

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['SHOAL_HOST', 'SHOAL_DATA_DIR', 'SHOAL_CONTEXT']) delete env[k];
  return env;
}

function demo(prefix: string, extra: readonly string[] = []): Promise<Result> {
  return exec(process.execPath, [SHOAL_BIN, 'demo', '--prefix', prefix, ...extra], { env: cleanEnv(), timeoutMs: 300_000 });
}

/** The summary table's step rows: [title, result]. */
function summary(stdout: string): Array<{ title: string; result: string }> {
  const at = stdout.lastIndexOf('\nSTEP ');
  if (at < 0) return [];
  return stdout
    .slice(at + 1)
    .split('\n')
    .flatMap((l) => {
      const m = /^(\d+\. .+?)\s{2,}(ok|FAILED|skipped|interrupted)\s{2,}/.exec(l);
      return m ? [{ title: m[1]!, result: m[2]! }] : [];
    });
}

/** PIDs of processes of this testbed: its daemons and task supervisors (by path), its tasks (by marker). */
function processesOf(prefix: string): number[] {
  const dir = testbedPaths(prefix).root;
  const marker = `${DEMO_TESTBED_ENV}=${prefix}`;
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${e}/environ`, 'utf8');
      if (cmdline.includes(`${dir}/`) || environ.split('\0').includes(marker)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

async function assertNothingLeft(t: Test, prefix: string): Promise<void> {
  const ns = await exec('ip', ['netns', 'list']);
  t.same(
    ns.stdout.split('\n').filter((l) => l.startsWith(prefix)),
    [],
    'no namespace of the prefix is left',
  );
  const links = await exec('ip', ['-o', 'link', 'show']);
  t.notOk(links.stdout.includes(prefix), 'no link named with the prefix in this namespace');
  const tables = await exec('nft', ['list', 'tables']);
  t.notOk(tables.stdout.includes(prefix), 'no nft table named with the prefix');
  // endProcesses has sent SIGKILL to what outlived its grace: wait for the exit to show
  const left = await waitUntil(() => processesOf(prefix).length === 0 || undefined, 10_000, 'the processes to be gone').catch(() =>
    processesOf(prefix),
  );
  t.equal(left, true, `no process of the testbed is left${Array.isArray(left) ? `: ${left.join(' ')}` : ''}`);
  t.notOk(existsSync(testbedPaths(prefix).root), 'no state directory');
  t.notOk(existsSync(contextFilePath(prefix)), 'no context file');
}

if (requireKernel(t)) {
  t.test('a full run: every step ok, a summary, nothing left', async (t) => {
    const prefix = clusterPrefix();
    t.teardown(async () => {
      await exec(process.execPath, [SHOAL_BIN, 'testbed', 'down', '--prefix', prefix], { env: cleanEnv() });
    });
    const r = await demo(prefix);
    t.equal(r.code, 0, 'exit status 0');
    const rows = summary(r.stdout);
    t.equal(rows.length, STEPS, `the summary lists ${STEPS} steps`);
    t.same(
      rows.filter((x) => x.result !== 'ok'),
      [],
      'every step ok',
    );
    t.match(r.stdout, /^total\s+\S+$/m, 'the summary ends with the total time');
    t.match(r.stdout, /no replica of web on this host/, 'a host without a replica is reached through the mesh');
    t.match(r.stdout, /<- tasks\.web resolves to the 3 task addresses/, 'tasks.web answered in a task');
    t.match(r.stdout, /h\d's replicas gone from h\d's load balancer/, "a dead host's replicas leave the load balancers");
    t.match(r.stdout, /^==> shoal testbed down$/m, 'it takes the testbed down');
    if (r.code !== 0) t.comment(r.stdout + r.stderr);
    await assertNothingLeft(t, prefix);
  });

  t.test('a failing step: reported with its cause, the rest skipped, cleaned up, exit 1', async (t) => {
    const prefix = clusterPrefix();
    t.teardown(async () => {
      await exec(process.execPath, [SHOAL_BIN, 'testbed', 'down', '--prefix', prefix], { env: cleanEnv() });
    });
    const r = await demo(prefix, ['--wait-timeout', '1ms']);
    t.equal(r.code, 1, 'exit status 1');
    const rows = summary(r.stdout);
    t.equal(rows.length, STEPS, 'the summary still lists every step');
    const failed = rows.findIndex((x) => x.result === 'FAILED');
    t.ok(failed > 0, 'a step after the testbed came up failed');
    t.same(
      rows.slice(0, failed).map((x) => x.result),
      Array(failed).fill('ok'),
      'the steps before it are ok',
    );
    t.same(
      rows.slice(failed + 1).map((x) => x.result),
      Array(STEPS - failed - 1).fill('skipped'),
      'the steps after it are skipped',
    );
    t.match(
      r.stdout,
      new RegExp(`^step ${failed + 1} \\(.+\\) FAILED: timed out after .+ \\(SHOAL_ERR_TIMEOUT\\)$`, 'm'),
      'which step and why',
    );
    t.match(r.stdout, /^==> shoal testbed down$/m, 'it takes the testbed down');
    if (r.code !== 1) t.comment(r.stdout + r.stderr);
    await assertNothingLeft(t, prefix);
  });
}
