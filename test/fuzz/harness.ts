/**
 * The fuzz loop. A target opens an instance (a node, a resolver, a manager core, ...),
 * which turns one input (bytes) into a run and checks its invariant; the loop replays the
 * target's corpus (test/fuzz/corpus/<target>/), then generates inputs by mutating corpus
 * entries. Input i of seed S is drawn from its own Rng (inputRng(S, i)), so the bytes of
 * any input can be regenerated from its seed and index; the state a target carries between
 * inputs is replayed by running the same seed from 0.
 *
 * An input that throws out of the target or breaks its invariant is a failure: written to
 * test/fuzz/crashes/<target>/<hash> (gitignored; replay it with `--replay FILE`), reported
 * with its seed and index, and the run goes on. A fixed crash input belongs in the corpus
 * as a regression entry (`regress-*`).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, type Rng } from '../../src/common/rng.ts';

export const FUZZ_ROOT = fileURLToPath(new URL('.', import.meta.url));
export const CORPUS_ROOT = join(FUZZ_ROOT, 'corpus');
export const CRASH_ROOT = join(FUZZ_ROOT, 'crashes');

/** An invariant broken by an input (anything else thrown out of run() is one too). */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

export function fail(message: string): never {
  throw new FuzzFailure(message);
}

export interface FuzzInstance {
  /** A new input, mutated from the corpus (or made from scratch). */
  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array;
  /** Runs one input; throws when its invariant breaks. Returns a promise only when it must. */
  run(input: Uint8Array): void | Promise<void>;
  /** Checks that the target still works (a ping answered, a valid query served). */
  check?(): void | Promise<void>;
  /** Inputs between checks (default 1,000). */
  readonly checkEvery?: number;
  /** The target's own counters, one line. */
  summary(): string;
  close(): Promise<void>;
}

export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  /** Valid inputs made with our own encoders: what make-corpus.ts writes as the seed corpus. */
  seeds(): Uint8Array[];
  open(seed: number): Promise<FuzzInstance>;
}

export interface FuzzFailureReport {
  target: string;
  seed: number;
  /** Input index (-1 for a check after the input before it, -2 for a corpus replay). */
  index: number;
  message: string;
  file: string | undefined;
}

export interface RunOptions {
  inputs: number;
  seed: number;
  /** First index to generate (to regenerate one input: from = I, inputs = 1). */
  from?: number;
  /** Replay the corpus first (default true). */
  corpus?: boolean;
  /** Write failing inputs under test/fuzz/crashes (default true). */
  saveCrashes?: boolean;
  /** Progress line every this many inputs (0: none). */
  progressEvery?: number;
  log?: (line: string) => void;
}

export interface RunResult {
  target: string;
  inputs: number;
  corpusEntries: number;
  seconds: number;
  perSecond: number;
  failures: FuzzFailureReport[];
  summary: string;
}

/** The corpus of a target: its files, sorted by name. */
export function loadCorpus(target: string): { name: string; data: Uint8Array }[] {
  const dir = join(CORPUS_ROOT, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => ({ name: f, data: new Uint8Array(readFileSync(join(dir, f))) }));
}

/** The Rng of input `index` under `seed`. */
export function inputRng(seed: number, index: number): Rng {
  return createRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
}

/** A seed taken from the input's bytes: choices a run makes (chunk splits) replay from the input alone. */
export function seedOfInput(input: Uint8Array): number {
  return createHash('sha1').update(input).digest().readUInt32BE(0);
}

export function inputHash(input: Uint8Array): string {
  return createHash('sha256').update(input).digest('hex').slice(0, 16);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name === 'FuzzFailure' ? '' : `${err.name}: `}${err.message}` : String(err);
  return text.split('\n')[0]!.slice(0, 300);
}

const MAX_REPORTED = 20;

export async function runTarget(target: FuzzTarget, o: RunOptions): Promise<RunResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const inst = await target.open(o.seed);
  const corpus = loadCorpus(target.name);
  const pool = corpus.map((c) => c.data);
  const failures: FuzzFailureReport[] = [];
  const seen = new Set<string>();
  const record = (index: number, input: Uint8Array | undefined, err: unknown): void => {
    const message = firstLine(err);
    let file: string | undefined;
    if (input && o.saveCrashes !== false) {
      const dir = join(CRASH_ROOT, target.name);
      mkdirSync(dir, { recursive: true });
      file = join(dir, inputHash(input));
      writeFileSync(file, input);
    }
    const key = message.replace(/\d+/g, 'N');
    if (failures.length < MAX_REPORTED && !seen.has(key)) {
      seen.add(key);
      log(`FAIL ${target.name} seed ${o.seed} index ${index}: ${message}${file ? ` (input ${file})` : ''}`);
      if (err instanceof Error && err.name !== 'FuzzFailure' && err.stack) log(err.stack.split('\n').slice(0, 8).join('\n'));
    }
    failures.push({ target: target.name, seed: o.seed, index, message, file });
  };
  const runOne = async (input: Uint8Array, index: number): Promise<void> => {
    try {
      const r = inst.run(input);
      if (r) await r;
    } catch (err) {
      record(index, input, err);
    }
  };
  const check = async (index: number): Promise<void> => {
    if (!inst.check) return;
    try {
      await inst.check();
    } catch (err) {
      record(index, undefined, new FuzzFailure(`check after input ${index} failed: ${firstLine(err)}`));
    }
  };
  const started = performance.now();
  try {
    if (o.corpus !== false) {
      for (const c of corpus) {
        await runOne(c.data, -2);
        if (failures.length && failures[failures.length - 1]!.index === -2) failures[failures.length - 1]!.message += ` (corpus ${c.name})`;
      }
      await check(-1);
    }
    const from = o.from ?? 0;
    const every = inst.checkEvery ?? 1000;
    const progress = o.progressEvery ?? 0;
    for (let i = from; i < from + o.inputs; i++) {
      const rng = inputRng(o.seed, i);
      const input = inst.generate(rng, pool);
      await runOne(input, i);
      if ((i + 1 - from) % every === 0) await check(i);
      if (progress && (i + 1 - from) % progress === 0) {
        const s = (performance.now() - started) / 1000;
        log(`  ${target.name}: ${(i + 1 - from).toLocaleString('en')} inputs, ${s.toFixed(1)} s, ${failures.length} failures`);
      }
    }
    await check(from + o.inputs - 1);
  } finally {
    await inst.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const total = o.inputs + (o.corpus !== false ? corpus.length : 0);
  return {
    target: target.name,
    inputs: o.inputs,
    corpusEntries: o.corpus !== false ? corpus.length : 0,
    seconds,
    perSecond: total / Math.max(seconds, 1e-9),
    failures,
    summary: inst.summary(),
  };
}

/** Runs one saved input (a crash file or a corpus entry) through a fresh instance. */
export async function replayInput(target: FuzzTarget, input: Uint8Array, seed = 1): Promise<string | undefined> {
  const inst = await target.open(seed);
  try {
    const r = inst.run(input);
    if (r) await r;
    await inst.check?.();
    return undefined;
  } catch (err) {
    return err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    await inst.close();
  }
}
