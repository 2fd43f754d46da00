/**
 * The benchmark report (bench/_report.ts) from a fixed run record and a fixed figure table:
 * goal parsing and evaluation, the markdown table (a met goal, a missed one, a figure with
 * no goal, a ratio with its same-run reference, a figure the bench reported as not measured,
 * a failed and a timed-out bench), the partial-run note, and the real table in
 * bench/_goals.ts being consistent. No bench runs here.
 */
import t from 'tap';
import { BENCHES, FIGURES } from '../../../bench/_goals.ts';
import type { BenchInfo, FigureSpec } from '../../../bench/_goals.ts';
import {
  type BenchRun,
  goalMet,
  parseGoal,
  type RunRecord,
  renderPerformanceDoc,
  renderResults,
  renderTable,
  reportRows,
  tableProblems,
  tally,
} from '../../../bench/_report.ts';

const benches: BenchInfo[] = [
  { name: 'alpha', what: 'alpha things', knobs: 'ALPHA_ROUNDS (3)', timeoutS: 60 },
  { name: 'beta', what: 'beta things', knobs: 'none', timeoutS: 60 },
  { name: 'gamma', what: 'gamma things', knobs: 'none', timeoutS: 60 },
  { name: 'delta', what: 'delta things', knobs: 'none', timeoutS: 60 },
];

const figures: FigureSpec[] = [
  { bench: 'alpha', figure: 'ours_ms', unit: 'ms', reference: '', issue: 1, meaning: 'ours' },
  { bench: 'alpha', figure: 'theirs_ms', unit: 'ms', reference: '', issue: 1, meaning: 'theirs' },
  {
    bench: 'alpha',
    figure: 'ratio',
    unit: 'ratio',
    goal: '<= 3',
    referenceFigure: 'theirs_ms',
    reference: 'their tool, same run',
    issue: 1,
    meaning: 'ours / theirs',
  },
  { bench: 'alpha', figure: 'rate', unit: 'ops/s', goal: '>= 1000000', reference: '', issue: 2, meaning: 'ops' },
  { bench: 'alpha', figure: 'cold_ms', unit: 'ms', reference: '', issue: 8, meaning: 'cold', whyMissing: 'cold' },
  { bench: 'alpha', figure: 'errors', unit: 'count', goal: '== 0', reference: '', issue: 2, meaning: 'errors' },
  { bench: 'beta', figure: 'p99_ms', unit: 'ms', goal: '< 300', reference: 'an outside figure', issue: 3, meaning: 'tail' },
  { bench: 'gamma', figure: 'gbps', unit: 'Gbit/s', goal: '>= 0.95', reference: '', issue: 4, meaning: 'speed' },
  { bench: 'delta', figure: 'x', unit: 'ms', reference: '', issue: 5, meaning: 'x' },
];

const machine = {
  nproc: 2,
  cpu: 'Test CPU',
  memory_gib: 24,
  kernel: '6.1.0-test',
  node: 'v20.19.0',
  commit: '0123456789ab',
  uncommitted_changes: true,
  loadavg_1m_start: 1.5,
  loadavg_1m_end: 2.25,
};

const bench = (name: string, over: Partial<BenchRun>): BenchRun => ({
  name,
  status: 'ok',
  error: '',
  exit_code: 0,
  signal: null,
  started: '2026-12-03T10:00:00.000Z',
  ended: '2026-12-03T10:01:05.000Z',
  duration_s: 65,
  figures: null,
  ...over,
});

const record: RunRecord = {
  date: '2026-12-03',
  partial: true,
  not_run: ['delta'],
  machine,
  started: '2026-12-03T10:00:00.000Z',
  ended: '2026-12-03T10:12:00.000Z',
  duration_s: 720,
  benches: [
    bench('alpha', {
      figures: {
        bench: 'alpha',
        ours_ms: 55.5,
        theirs_ms: 15.25,
        ratio: 3.64,
        rate: 2895507,
        cold_ms: null,
        cold: 'not run: needs 35 GB',
        errors: 0,
      },
    }),
    bench('beta', {
      status: 'failed',
      error: 'exit status 1',
      exit_code: 1,
      figures: null,
      stderr_tail: ['beta: starting', 'Error: boom'],
    }),
    bench('gamma', {
      status: 'timed out',
      error: 'ran past its 60 s limit',
      exit_code: null,
      signal: 'SIGTERM',
      stderr_tail: ['gamma: round 1'],
    }),
  ],
};

t.test('goals parse and evaluate', async (t) => {
  t.same(parseGoal('< 50'), { op: '<', value: 50 });
  t.same(parseGoal('>=0.9'), { op: '>=', value: 0.9 });
  t.same(parseGoal('== 0'), { op: '==', value: 0 });
  t.equal(parseGoal('about 5'), undefined);
  t.equal(parseGoal('< fifty'), undefined);
  t.equal(parseGoal('=> 3'), undefined);
  t.ok(goalMet({ op: '<', value: 50 }, 49.9));
  t.notOk(goalMet({ op: '<', value: 50 }, 50));
  t.ok(goalMet({ op: '<=', value: 3 }, 3));
  t.notOk(goalMet({ op: '>=', value: 0.9 }, 0.89));
  t.ok(goalMet({ op: '>', value: 1 }, 1.01));
  t.ok(goalMet({ op: '==', value: 0 }, 0));
  t.notOk(goalMet({ op: '==', value: 0 }, 1));
});

t.test('the markdown table from fixed figures', async (t) => {
  const rows = reportRows(record, figures);
  t.equal(
    renderTable(rows),
    [
      '| bench | figure | value | unit | goal | reference | met |',
      '| --- | --- | ---: | --- | --- | --- | --- |',
      '| alpha | `ours_ms` | 55.5 | ms |  |  |  |',
      '| alpha | `theirs_ms` | 15.25 | ms |  |  |  |',
      '| alpha | `ratio` | 3.64 | ratio | <= 3 ratio | theirs_ms 15.25 ms: their tool, same run | **not met** |',
      '| alpha | `rate` | 2,895,507 | ops/s | >= 1000000 ops/s | none (an absolute goal) | met |',
      '| alpha | `cold_ms` | missing (not run: needs 35 GB) | ms |  |  | **missing** |',
      '| alpha | `errors` | 0 | count | == 0 count | none (an absolute goal) | met |',
      '| beta | `p99_ms` | missing (bench failed) | ms | < 300 ms | an outside figure | **missing** |',
      '| gamma | `gbps` | missing (bench timed out) | Gbit/s | >= 0.95 Gbit/s | none (an absolute goal) | **missing** |',
    ].join('\n'),
  );
  t.same(tally(rows), { goals: 5, met: 2, notMet: 1, missing: 3 });
});

t.test('a figure absent from an ok bench is missing, not a failure of the bench', async (t) => {
  const r: RunRecord = {
    ...record,
    benches: [bench('alpha', { figures: { bench: 'alpha', ours_ms: 1 } })],
    not_run: ['beta', 'gamma', 'delta'],
  };
  const rows = reportRows(r, figures);
  t.same(
    rows.map((x) => [x.figure, x.verdict, x.shown]),
    [
      ['ours_ms', 'no goal', '1'],
      ['theirs_ms', 'missing', "missing (not in the bench's output)"],
      ['ratio', 'missing', "missing (not in the bench's output)"],
      ['rate', 'missing', "missing (not in the bench's output)"],
      ['cold_ms', 'missing', "missing (not in the bench's output)"],
      ['errors', 'missing', "missing (not in the bench's output)"],
    ],
  );
  t.match(rows[2]!.reference, /^theirs_ms missing: their tool/);
});

t.test('the results file: partial run, machine, failures with their stderr', async (t) => {
  const md = renderResults(record, figures);
  t.match(md, /^# Benchmarks, 2026-12-03\n/);
  t.match(md, 'Partial run: only alpha, beta, gamma (`npm run bench -- alpha beta gamma`); delta did not run and is not in this report.');
  t.match(md, 'Commit 0123456789ab with uncommitted changes; Node v20.19.0; Linux 6.1.0-test; 2 cores (Test CPU), 24 GiB');
  t.match(md, 'Started 2026-12-03T10:00:00.000Z, ended 2026-12-03T10:12:00.000Z: 12 min 00 s.');
  t.match(md, '2 of 5 goals met; not met: alpha ratio; missing: alpha cold_ms, beta p99_ms, gamma gbps.');
  t.match(md, '| alpha | ok | 2026-12-03T10:00:00.000Z | 1 min 05 s |');
  t.match(md, '| beta | **failed**: exit status 1 |');
  t.match(md, '| gamma | **timed out**: ran past its 60 s limit |');
  t.match(md, '### beta: failed\n\nexit status 1\n\n```\nbeta: starting\nError: boom\n```');
  t.match(md, '### gamma: timed out');
  t.notMatch(md, '| delta |');
  t.notMatch(md, '### alpha');
});

t.test('a full run says so', async (t) => {
  const full: RunRecord = { ...record, partial: false, not_run: [], benches: [...record.benches, bench('delta', { figures: { x: 2 } })] };
  const md = renderResults(full, figures);
  t.match(md, 'Full run of every bench (`npm run bench`).');
  t.match(md, '| delta | `x` | 2 | ms |');
  t.notMatch(md, 'Benches that did not end ok (the end of their stderr)\n\n### delta');
});

t.test('PERFORMANCE.md: the latest table and what every figure means', async (t) => {
  const doc = renderPerformanceDoc(record, benches, figures);
  t.match(doc, '## Latest run: 2026-12-03');
  t.match(doc, '[bench/results/2026-12-03.md](../bench/results/2026-12-03.md)');
  t.match(doc, renderTable(reportRows(record, figures)));
  t.match(doc, '### alpha\n\n`npm run bench -- alpha`: alpha things. Knobs: ALPHA_ROUNDS (3). Time limit 60 s.');
  t.match(doc, '- `ratio` (ratio, issue 1): ours / theirs. Goal <= 3 ratio. Reference: `theirs_ms`, their tool, same run.');
  t.match(doc, '### delta', 'a bench that did not run still has its meanings');
});

t.test('table problems are found', async (t) => {
  const bad: FigureSpec[] = [
    { bench: 'alpha', figure: 'a', unit: 'ms', goal: 'fast', reference: '', issue: 1, meaning: '' },
    { bench: 'alpha', figure: 'a', unit: 'ms', reference: '', issue: 1, meaning: '' },
    { bench: 'omega', figure: 'b', unit: 'ms', reference: '', issue: 1, meaning: '' },
    { bench: 'beta', figure: 'c', unit: 'ratio', referenceFigure: 'a', reference: '', issue: 1, meaning: '' },
  ];
  t.same(tableProblems(benches, bad), [
    'alpha.a: goal "fast" is not "<op> <number>"',
    'alpha.a: listed twice',
    'omega.b: no bench named omega in BENCHES',
    'beta.c: reference figure a is not a figure of beta',
  ]);
});

t.test("the project's figure table is consistent", async (t) => {
  t.same(tableProblems(BENCHES, FIGURES), []);
  t.ok(
    FIGURES.filter((f) => f.goal !== undefined).every((f) => f.issue > 0),
    'every goal names its issue',
  );
});
