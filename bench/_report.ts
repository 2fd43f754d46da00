/**
 * The benchmark report, from a run's record and the figure table (bench/_goals.ts): each
 * goal evaluated against the figure a bench printed, the markdown of bench/results/<date>.md,
 * and docs/PERFORMANCE.md. Pure: no I/O, no clock; scripts/run-benches.ts runs the benches,
 * builds the record and writes what this returns. (`_` keeps scripts/bench from running
 * this file.)
 */
import type { BenchInfo, FigureSpec } from './_goals.ts';

export type GoalOp = '<' | '<=' | '>' | '>=' | '==';

export interface Goal {
  readonly op: GoalOp;
  readonly value: number;
}

/** How one bench of the run ended. */
export type BenchStatus = 'ok' | 'failed' | 'timed out';

/** One bench's part of the run record (bench/results/<date>.json). */
export interface BenchRun {
  readonly name: string;
  readonly status: BenchStatus;
  /** Why it failed, one line ('' when ok). */
  readonly error: string;
  readonly exit_code: number | null;
  readonly signal: string | null;
  readonly started: string;
  readonly ended: string;
  readonly duration_s: number;
  /** The bench's last stdout line, parsed; null when there was none that parsed. */
  readonly figures: Readonly<Record<string, unknown>> | null;
  /** The end of its stderr, kept only when it did not end ok. */
  readonly stderr_tail?: readonly string[];
}

export interface MachineFacts {
  readonly nproc: number;
  readonly cpu: string;
  readonly memory_gib: number;
  readonly kernel: string;
  readonly node: string;
  readonly commit: string;
  /** The working tree differed from the commit when the run started. */
  readonly uncommitted_changes: boolean;
  readonly loadavg_1m_start: number;
  readonly loadavg_1m_end: number;
}

/** What one `npm run bench` wrote: bench/results/<date>.json. */
export interface RunRecord {
  /** The UTC date the run started, YYYY-MM-DD: the name of the result files. */
  readonly date: string;
  /** Only some benches were named on the command line. */
  readonly partial: boolean;
  /** Benches that exist but this run did not run (empty for a full run). */
  readonly not_run: readonly string[];
  readonly machine: MachineFacts;
  readonly started: string;
  readonly ended: string;
  readonly duration_s: number;
  readonly benches: readonly BenchRun[];
}

export type Verdict = 'met' | 'not met' | 'missing' | 'no goal';

/** One row of the report's table. */
export interface ReportRow {
  readonly bench: string;
  readonly figure: string;
  readonly value: number | null;
  /** The value as shown; for a missing figure, "missing" and why. */
  readonly shown: string;
  readonly unit: string;
  readonly goal: string;
  readonly reference: string;
  readonly verdict: Verdict;
  readonly issue: number;
}

const GOAL_RE = /^(<=|>=|==|<|>)\s*(-?\d+(?:\.\d+)?)$/;

/** `<op> <number>`, or undefined when the expression is not one. */
export function parseGoal(expr: string): Goal | undefined {
  const m = GOAL_RE.exec(expr.trim());
  if (!m) return undefined;
  return { op: m[1] as GoalOp, value: Number(m[2]) };
}

export function goalMet(goal: Goal, value: number): boolean {
  switch (goal.op) {
    case '<':
      return value < goal.value;
    case '<=':
      return value <= goal.value;
    case '>':
      return value > goal.value;
    case '>=':
      return value >= goal.value;
    case '==':
      return value === goal.value;
  }
}

/**
 * Every problem of the figure table, each a line: an unknown bench, a duplicate figure, a
 * goal that does not parse, a reference figure that is not a row of the same bench.
 */
export function tableProblems(benches: readonly BenchInfo[], figures: readonly FigureSpec[]): string[] {
  const problems: string[] = [];
  const names = new Set(benches.map((b) => b.name));
  const keys = new Set<string>();
  for (const f of figures) {
    const key = `${f.bench}.${f.figure}`;
    if (!names.has(f.bench)) problems.push(`${key}: no bench named ${f.bench} in BENCHES`);
    if (keys.has(key)) problems.push(`${key}: listed twice`);
    keys.add(key);
    if (f.goal !== undefined && parseGoal(f.goal) === undefined)
      problems.push(`${key}: goal ${JSON.stringify(f.goal)} is not "<op> <number>"`);
  }
  for (const f of figures) {
    if (f.referenceFigure !== undefined && !keys.has(`${f.bench}.${f.referenceFigure}`)) {
      problems.push(`${f.bench}.${f.figure}: reference figure ${f.referenceFigure} is not a figure of ${f.bench}`);
    }
  }
  return problems;
}

/** A number as the report shows it: thousands separated, at most three decimals. */
export function formatNumber(x: number): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

const numberIn = (figures: Readonly<Record<string, unknown>> | null, key: string): number | null => {
  const v = figures?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

function whyMissing(spec: FigureSpec, run: BenchRun | undefined): string {
  if (!run) return 'bench not run';
  if (run.status === 'timed out') return 'bench timed out';
  if (run.figures === null) return 'bench failed';
  const why = spec.whyMissing === undefined ? undefined : run.figures[spec.whyMissing];
  if (typeof why === 'string' && why !== '') return why;
  return run.status === 'failed' ? 'bench failed' : "not in the bench's output";
}

/** The rows of the report: one per figure of the table whose bench this run ran. */
export function reportRows(record: RunRecord, figures: readonly FigureSpec[]): ReportRow[] {
  const runs = new Map(record.benches.map((b) => [b.name, b]));
  const rows: ReportRow[] = [];
  for (const spec of figures) {
    if (record.not_run.includes(spec.bench)) continue;
    const run = runs.get(spec.bench);
    const value = numberIn(run?.figures ?? null, spec.figure);
    const goal = spec.goal === undefined ? undefined : parseGoal(spec.goal);
    let verdict: Verdict;
    if (value === null) verdict = 'missing';
    else if (goal === undefined) verdict = 'no goal';
    else verdict = goalMet(goal, value) ? 'met' : 'not met';
    rows.push({
      bench: spec.bench,
      figure: spec.figure,
      value,
      shown: value === null ? `missing (${whyMissing(spec, run)})` : formatNumber(value),
      unit: spec.unit,
      goal: spec.goal === undefined ? '' : `${spec.goal} ${spec.unit}`,
      reference: referenceCell(spec, run, figures),
      verdict,
      issue: spec.issue,
    });
  }
  return rows;
}

function referenceCell(spec: FigureSpec, run: BenchRun | undefined, figures: readonly FigureSpec[]): string {
  if (spec.referenceFigure === undefined)
    return spec.reference === '' && spec.goal !== undefined ? 'none (an absolute goal)' : spec.reference;
  const refSpec = figures.find((f) => f.bench === spec.bench && f.figure === spec.referenceFigure);
  const v = numberIn(run?.figures ?? null, spec.referenceFigure);
  const measured = `${spec.referenceFigure} ${v === null ? 'missing' : `${formatNumber(v)} ${refSpec?.unit ?? ''}`.trim()}`;
  return spec.reference === '' ? measured : `${measured}: ${spec.reference}`;
}

export interface Tally {
  readonly goals: number;
  readonly met: number;
  readonly notMet: number;
  readonly missing: number;
}

export function tally(rows: readonly ReportRow[]): Tally {
  const withGoal = rows.filter((r) => r.goal !== '');
  return {
    goals: withGoal.length,
    met: withGoal.filter((r) => r.verdict === 'met').length,
    notMet: withGoal.filter((r) => r.verdict === 'not met').length,
    missing: rows.filter((r) => r.verdict === 'missing').length,
  };
}

/** A markdown table cell: no line breaks, pipes escaped. */
const cell = (s: string): string => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

const VERDICT_SHOWN: Record<Verdict, string> = { met: 'met', 'not met': '**not met**', missing: '**missing**', 'no goal': '' };

/** The table of figures: bench, figure, value, unit, goal, reference, met/not met. */
export function renderTable(rows: readonly ReportRow[]): string {
  const lines = ['| bench | figure | value | unit | goal | reference | met |', '| --- | --- | ---: | --- | --- | --- | --- |'];
  for (const r of rows) {
    const cells = [r.bench, `\`${r.figure}\``, r.shown, r.unit, r.goal, r.reference, VERDICT_SHOWN[r.verdict]];
    lines.push(`| ${cells.map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m === 0 ? `${s} s` : `${m} min ${String(s % 60).padStart(2, '0')} s`;
}

function runLines(record: RunRecord): string[] {
  const m = record.machine;
  const ran = record.benches.map((b) => b.name);
  const what = record.partial
    ? `Partial run: only ${ran.join(', ')} (\`npm run bench -- ${ran.join(' ')}\`); ${record.not_run.join(', ')} did not run and ${record.not_run.length === 1 ? 'is' : 'are'} not in this report.`
    : `Full run of every bench (\`npm run bench\`).`;
  return [
    what,
    '',
    `Commit ${m.commit}${m.uncommitted_changes ? ' with uncommitted changes' : ''}; Node ${m.node}; Linux ${m.kernel}; ${m.nproc} cores (${m.cpu}), ${m.memory_gib} GiB; load average ${formatNumber(m.loadavg_1m_start)} at the start, ${formatNumber(m.loadavg_1m_end)} at the end.`,
    `Started ${record.started}, ended ${record.ended}: ${formatDuration(record.duration_s)}.`,
  ];
}

function benchTable(record: RunRecord): string {
  const lines = ['| bench | status | started | duration |', '| --- | --- | --- | ---: |'];
  for (const b of record.benches) {
    const status = b.status === 'ok' ? 'ok' : `**${b.status}**: ${b.error}`;
    lines.push(`| ${[b.name, status, b.started, formatDuration(b.duration_s)].map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

function failures(record: RunRecord): string[] {
  const out: string[] = [];
  for (const b of record.benches) {
    if (b.status === 'ok') continue;
    out.push('', `### ${b.name}: ${b.status}`, '', b.error, '', '```', ...(b.stderr_tail ?? ['(no stderr)']), '```');
  }
  return out.length === 0 ? [] : ['', '## Benches that did not end ok (the end of their stderr)', ...out];
}

function summary(rows: readonly ReportRow[]): string {
  const t = tally(rows);
  const parts = [`${t.met} of ${t.goals} goals met`];
  if (t.notMet > 0)
    parts.push(
      `not met: ${rows
        .filter((r) => r.verdict === 'not met')
        .map((r) => `${r.bench} ${r.figure}`)
        .join(', ')}`,
    );
  if (t.missing > 0)
    parts.push(
      `missing: ${rows
        .filter((r) => r.verdict === 'missing')
        .map((r) => `${r.bench} ${r.figure}`)
        .join(', ')}`,
    );
  return `${parts.join('; ')}.`;
}

/** bench/results/<date>.md. */
export function renderResults(record: RunRecord, figures: readonly FigureSpec[]): string {
  const rows = reportRows(record, figures);
  return [
    `# Benchmarks, ${record.date}`,
    '',
    '<!-- Generated by `npm run bench` (scripts/run-benches.ts, bench/_report.ts) from bench/_goals.ts; do not edit. -->',
    '',
    ...runLines(record),
    '',
    summary(rows),
    '',
    renderTable(rows),
    '',
    '## Benches',
    '',
    benchTable(record),
    ...failures(record),
    '',
  ].join('\n');
}

/** docs/PERFORMANCE.md: the latest table, then what every figure means and how it is measured. */
export function renderPerformanceDoc(record: RunRecord, benches: readonly BenchInfo[], figures: readonly FigureSpec[]): string {
  const rows = reportRows(record, figures);
  const out = [
    '# Performance',
    '',
    '<!-- Generated by `npm run bench` (scripts/run-benches.ts, bench/_report.ts) from bench/_goals.ts; do not edit. -->',
    '',
    'Every figure an issue asked for, its goal, and what it is compared with. `npm run bench` runs every',
    'benchmark in bench/ (`npm run bench -- NAME...` only those), then writes the run to',
    '`bench/results/<date>.json` (every figure each bench printed, the machine, the commit, the',
    'time each bench took) and `bench/results/<date>.md` (the table below), and rewrites this file.',
    'A bench that fails or runs past its time limit is recorded as such, with the end of its stderr;',
    'the others still run, and the exit status is non-zero. The goals, references and meanings live',
    'in one table, bench/_goals.ts; edit it there.',
    '',
    'A ratio is always taken against a reference measured on the same machine in the same run, so that',
    'the load other work puts on the machine hits both sides. Absolute figures (milliseconds, rates)',
    'move with that load: read them with the load average printed with the run.',
    '',
    `## Latest run: ${record.date}`,
    '',
    `From [bench/results/${record.date}.md](../bench/results/${record.date}.md).`,
    '',
    ...runLines(record),
    '',
    summary(rows),
    '',
    renderTable(rows),
    '',
    '## What each figure means',
    '',
    'Each bench prints progress on stderr and one JSON object of figures as its last stdout line; the',
    'JSON has more figures than the table (parts of a figure, the sizes used). The knobs are',
    'environment variables; the defaults are what `npm run bench` uses.',
  ];
  for (const b of benches) {
    out.push('', `### ${b.name}`, '', `\`npm run bench -- ${b.name}\`: ${b.what}. Knobs: ${b.knobs}. Time limit ${b.timeoutS} s.`, '');
    for (const f of figures.filter((x) => x.bench === b.name)) {
      const goal = f.goal === undefined ? '' : ` Goal ${f.goal} ${f.unit}.`;
      const ref =
        f.reference === '' ? '' : ` Reference: ${f.referenceFigure === undefined ? '' : `\`${f.referenceFigure}\`, `}${f.reference}.`;
      out.push(`- \`${f.figure}\` (${f.unit}, issue ${f.issue}): ${f.meaning}.${goal}${ref}`);
    }
  }
  out.push('');
  return out.join('\n');
}
