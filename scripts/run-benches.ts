/**
 * The benchmark runner behind `npm run bench` (scripts/bench builds dist/ and then runs this
 * file through tsx): runs bench/NAME.ts for every name given (none: every bench/*.ts whose
 * name does not start with `_`), one after another, each in a process group of its own with
 * the time limit bench/_goals.ts gives it, and then writes
 *
 *   bench/results/<date>.json   the run: machine facts, each bench's status, times, figures
 *   bench/results/<date>.md     the report table (bench/_report.ts)
 *   docs/PERFORMANCE.md         the same table with what every figure means
 *
 * where <date> is the UTC day the run started; a later run of the same day replaces them. A
 * bench that exits non-zero, prints no JSON last line, or runs past its limit is recorded as
 * failed or timed out with the end of its stderr; the other benches still run, and the exit
 * status is 1. An unknown name is refused before anything runs (exit 2).
 *
 * Environment: SHOAL_BENCH_TIMEOUT_S overrides every bench's time limit (seconds).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCHES, FIGURES } from '../bench/_goals.ts';
import {
  type BenchRun,
  type BenchStatus,
  formatDuration,
  type MachineFacts,
  type RunRecord,
  renderPerformanceDoc,
  renderResults,
  reportRows,
  tableProblems,
  tally,
} from '../bench/_report.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Lines of stderr kept for a bench that did not end ok. */
const STDERR_TAIL_LINES = 40;
/** Characters kept of each of those lines. */
const STDERR_LINE_CHARS = 400;
/** After SIGTERM at the time limit, how long a bench may take down what it set up. */
const TERM_GRACE_MS = 90_000;
/** Time limit of a bench that bench/_goals.ts does not list. */
const DEFAULT_TIMEOUT_S = 300;

const log = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};

function allBenches(): string[] {
  return readdirSync(join(root, 'bench'))
    .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function timeoutS(name: string): number {
  const override = process.env['SHOAL_BENCH_TIMEOUT_S'];
  if (override !== undefined && override !== '') return Number(override);
  return BENCHES.find((b) => b.name === name)?.timeoutS ?? DEFAULT_TIMEOUT_S;
}

const git = (args: string[]): string => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};

function machine(loadStart: number): MachineFacts {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    commit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    uncommitted_changes: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    loadavg_1m_start: Math.round(loadStart * 100) / 100,
    loadavg_1m_end: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

/** The last non-empty stdout line as a JSON object, or why not. */
function lastJson(stdout: string): { figures: Record<string, unknown> } | { why: string } {
  const last = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  if (last === undefined) return { why: 'printed nothing on stdout' };
  try {
    const v: unknown = JSON.parse(last);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { figures: v as Record<string, unknown> };
  } catch {
    // falls through
  }
  return { why: `its last stdout line is not a JSON object: ${last.slice(0, 200)}` };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are removed from the kept stderr
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

function tail(stderr: string): string[] {
  return stderr
    .replace(ANSI, '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-STDERR_TAIL_LINES)
    .map((l) => (l.length > STDERR_LINE_CHARS ? `${l.slice(0, STDERR_LINE_CHARS)} ...` : l));
}

let current: { pid: number } | undefined;
let interrupted: NodeJS.Signals | undefined;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Runs bench/NAME.ts; its stderr goes on to ours as it comes (the progress) and is kept. */
function runBench(name: string): Promise<BenchRun> {
  const limitS = timeoutS(name);
  const started = new Date();
  const t0 = performance.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', `${name}.ts`)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    current = child.pid === undefined ? undefined : { pid: child.pid };
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      process.stderr.write(s);
      stderr += s;
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
    });
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    const limit = setTimeout(() => {
      timedOut = true;
      log(`${name}: past its ${limitS} s limit, SIGTERM (it takes down what it set up)`);
      if (child.pid !== undefined) killGroup(child.pid, 'SIGTERM');
      killer = setTimeout(() => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, TERM_GRACE_MS);
    }, limitS * 1000);
    child.on('error', (err) => {
      stderr += `\n${err.message}\n`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      if (killer) clearTimeout(killer);
      current = undefined;
      const ended = new Date();
      const parsed = lastJson(stdout);
      const figures = 'figures' in parsed ? parsed.figures : null;
      let status: BenchStatus = 'ok';
      let error = '';
      if (timedOut) {
        status = 'timed out';
        error = `ran past its ${limitS} s limit`;
      } else if (interrupted) {
        status = 'failed';
        error = `interrupted by ${interrupted}`;
      } else if (code !== 0) {
        status = 'failed';
        error = signal ? `killed by ${signal}` : `exit status ${code}`;
      } else if ('why' in parsed) {
        status = 'failed';
        error = parsed.why;
      }
      done({
        name,
        status,
        error,
        exit_code: code,
        signal,
        started: started.toISOString(),
        ended: ended.toISOString(),
        duration_s: Math.round((performance.now() - t0) / 100) / 10,
        figures,
        ...(status === 'ok' ? {} : { stderr_tail: tail(stderr) }),
      });
    });
  });
}

async function main(): Promise<number> {
  const problems = tableProblems(BENCHES, FIGURES);
  if (problems.length > 0) {
    for (const p of problems) log(`bench/_goals.ts: ${p}`);
    return 2;
  }
  const known = allBenches();
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    log(`no benchmark named ${unknown.join(', ')} (benchmarks: ${known.join(', ')})`);
    return 2;
  }
  const names = asked.length === 0 ? known : [...new Set(asked)];
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = signal;
    log(`${signal}: ending the bench that runs, then writing what ran`);
    if (current) killGroup(current.pid, 'SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const loadStart = os.loadavg()[0]!;
  const started = new Date();
  const t0 = performance.now();
  const runs: BenchRun[] = [];
  for (const name of names) {
    if (interrupted) break;
    log(`${name}: starting (limit ${timeoutS(name)} s)`);
    const r = await runBench(name);
    log(`${name}: ${r.status}${r.error ? ` (${r.error})` : ''} in ${formatDuration(r.duration_s)}`);
    runs.push(r);
  }
  const ran = new Set(runs.map((r) => r.name));
  const record: RunRecord = {
    date: started.toISOString().slice(0, 10),
    partial: ran.size < known.length,
    not_run: known.filter((n) => !ran.has(n)),
    machine: machine(loadStart),
    started: started.toISOString(),
    ended: new Date().toISOString(),
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
    benches: runs,
  };

  const results = join(root, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const jsonPath = join(results, `${record.date}.json`);
  const mdPath = join(results, `${record.date}.md`);
  writeFileSync(jsonPath, `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(mdPath, renderResults(record, FIGURES));
  writeFileSync(join(root, 'docs', 'PERFORMANCE.md'), renderPerformanceDoc(record, BENCHES, FIGURES));

  const t = tally(reportRows(record, FIGURES));
  const bad = runs.filter((r) => r.status !== 'ok');
  log(`wrote ${jsonPath}, ${mdPath} and docs/PERFORMANCE.md`);
  log(
    `${runs.length} benches in ${formatDuration(record.duration_s)}: ${bad.length === 0 ? 'all ok' : `${bad.map((r) => `${r.name} ${r.status}`).join(', ')}`}; ${t.met} of ${t.goals} goals met, ${t.notMet} not met, ${t.missing} figures missing`,
  );
  if (interrupted) return 130;
  return bad.length > 0 ? 1 : 0;
}

process.exitCode = await main();
