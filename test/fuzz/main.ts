/**
 * `npm run fuzz -- [--target NAME]... [--inputs N] [--seed S] [--from I] [--replay FILE]`
 *
 * Runs every target (or the named ones) for N inputs each (default 1,000,000) after
 * replaying its corpus, and prints inputs/s per target and a final line. The seed defaults
 * to a fresh one and is printed; `--seed S --from I --inputs 1` regenerates input I of that
 * seed (the state a target carries between inputs is replayed by running from 0).
 * `--replay FILE --target NAME` runs one saved input (a crash file) through a fresh target.
 * The exit status is 1 when any input failed.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type RunResult, replayInput, runTarget } from './harness.ts';
import { TARGETS, targetNamed } from './targets.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    inputs: { type: 'string' },
    seed: { type: 'string' },
    from: { type: 'string' },
    replay: { type: 'string' },
    'no-corpus': { type: 'boolean' },
    progress: { type: 'string' },
  },
  strict: true,
});

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a non-negative integer, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

const names = values.target ?? TARGETS.map((t) => t.name);
const targets = names.map((n) => {
  const t = targetNamed(n);
  if (!t) {
    process.stderr.write(`fuzz: no target ${n} (targets: ${TARGETS.map((x) => x.name).join(', ')})\n`);
    process.exit(2);
  }
  return t;
});

if (values.replay !== undefined) {
  if (targets.length !== 1) {
    process.stderr.write('fuzz: --replay needs one --target\n');
    process.exit(2);
  }
  const err = await replayInput(targets[0]!, new Uint8Array(readFileSync(values.replay)));
  process.stdout.write(err === undefined ? `${values.replay}: passes\n` : `${values.replay}: FAILS\n${err}\n`);
  process.exit(err === undefined ? 0 : 1);
}

const inputs = integer('inputs', values.inputs, 1_000_000);
const seed = integer('seed', values.seed, Date.now() % 2 ** 31);
const from = integer('from', values.from, 0);
const progress = integer('progress', values.progress, inputs >= 200_000 ? 100_000 : 0);
process.stdout.write(`fuzz: seed ${seed}, ${inputs.toLocaleString('en')} inputs per target (replay with --seed ${seed})\n`);

const results: RunResult[] = [];
const started = performance.now();
for (const target of targets) {
  const r = await runTarget(target, { inputs, seed, from, corpus: values['no-corpus'] !== true, progressEvery: progress });
  results.push(r);
  process.stdout.write(
    `${r.target}: ${(r.inputs + r.corpusEntries).toLocaleString('en')} inputs (${r.corpusEntries} corpus) in ${r.seconds.toFixed(1)} s, ` +
      `${Math.round(r.perSecond).toLocaleString('en')} inputs/s, ${r.failures.length} failures; ${r.summary}\n`,
  );
}
const failures = results.reduce((n, r) => n + r.failures.length, 0);
const total = results.reduce((n, r) => n + r.inputs + r.corpusEntries, 0);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `fuzz: ${results.length} targets, ${total.toLocaleString('en')} inputs in ${seconds.toFixed(1)} s, ${failures} failures (seed ${seed})\n`,
);
process.exit(failures > 0 ? 1 : 0);
