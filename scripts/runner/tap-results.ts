/**
 * Reads what `tap --reporter=tap` (tap 21, TAP 14) prints and tells, per test file, what
 * happened; then tallies the run into passed, failed and skipped tests.
 *
 * What tap 21 prints, and what each case looks like (seen by running small files through
 * it; test/unit/runner/runner.test.ts keeps these cases honest):
 *   - each file is a top-level subtest: `# Subtest: FILE`, its own TAP indented by four
 *     spaces, then one result line `ok N - FILE`, `ok N - FILE # SKIP why` (a file that
 *     skipped as a whole: `t.plan(0, why)`, requireKernel) or `not ok N - FILE`, followed
 *     by a YAML block (two spaces) with `exitCode:` and `signal:`;
 *   - a process killed part way (a signal, out of memory: SIGABRT) or ending with its plan
 *     unmet (`process.exit(0)` with tests pending, a raw `1..2` then one result): the
 *     file's line says `not ok`, often with no failed subtest of its own; the YAML says
 *     `signal: SIGKILL` or `exitCode: 1`, and tap adds `# test count(1) != plan(...)`;
 *   - a file that prints nothing at all (it exits before its first test, a file defining
 *     no test) gets a made-up `1..0 # no tests found` and `ok N - FILE # SKIP no tests
 *     found`, which would read as a skip;
 *   - a timeout (`--timeout`): tap signals the child and prints, at top level,
 *     `not ok N - timeout!` with `expired: FILE` in its YAML, with or without the file's
 *     own result line; that line can come late, inside the block of the next file, and
 *     then takes the place of that file's result line (which never comes); when several
 *     files time out their output can interleave.
 * Hence the rules in tallyFiles(): a file's own failure counts once, unless one of its
 * tests already failed; a file with no result line fails, unless a late timeout took its
 * place and the file's TAP was complete (its plan met, nothing failed); a file that
 * printed nothing fails.
 *
 * A "test" is a direct subtest (or top-level assertion) of a file, as tap prints it four
 * spaces in.
 */

export type TestStatus = 'pass' | 'fail' | 'skip' | 'todo';

export interface TestResult {
  readonly name: string;
  readonly status: TestStatus;
  /** The SKIP or TODO reason, as printed. */
  readonly reason: string;
  /** Skips inside this test (at any depth below it), as `name: reason`. */
  readonly innerSkips: readonly string[];
  /** The failed assertions inside the test (their names), so a summary says what failed. */
  readonly innerFailures: readonly string[];
}

export interface FileResult {
  readonly file: string;
  readonly tests: TestResult[];
  /** From the file's own result line; undefined when tap printed none. */
  outcome: 'ok' | 'not ok' | 'skip' | undefined;
  skipReason: string;
  exitCode: string | undefined;
  signal: string | undefined;
  timedOut: boolean;
  /** tap's `test count(N) != plan(M)` note, when it printed one. */
  planMismatch: string | undefined;
  /** The file's own plan `1..N`, when it printed one. */
  plan: number | undefined;
  /** Whether another file's late `timeout!` line took the place of this file's result line. */
  displaced: boolean;
  /** Whether the file printed any TAP of its own (beyond what tap makes up for silence). */
  printed: boolean;
}

interface ResultLine {
  readonly ok: boolean;
  readonly name: string;
  readonly directive: 'SKIP' | 'TODO' | undefined;
  readonly reason: string;
}

/** `ok 3 - name # SKIP why`; a `#` inside a name is escaped by tap as `\#`. */
function parseResult(text: string): ResultLine | undefined {
  const m = /^(not ok|ok)\b(?: \d+)?(?: -)?(?: (.*?))?(?:\s#\s(.*))?$/.exec(text);
  if (!m) return undefined;
  const directive = /^(SKIP|TODO)\b\s*(.*)$/i.exec(m[3] ?? '');
  return {
    ok: m[1] === 'ok',
    name: m[2] ?? '',
    directive: directive ? (directive[1]!.toUpperCase() as 'SKIP' | 'TODO') : undefined,
    reason: directive?.[2] ?? '',
  };
}

const indentOf = (line: string): number => line.length - line.trimStart().length;

/** What tap prints inside a file block when the file itself printed nothing. */
const MADE_UP_PLAN = '1..0 # no tests found';

/** Feed it tap's stdout line by line; read `files` at the end. */
export class TapRunReader {
  /** Per file (and any other top-level result), in the order first seen. */
  readonly files = new Map<string, FileResult>();
  private current: FileResult | undefined;
  /** Indentation of the YAML block being skipped, if inside one. */
  private yamlIndent: number | undefined;
  /** Indentation of the previous line when it was a result line (a YAML block may follow). */
  private lastResultIndent: number | undefined;
  /** The top-level result whose YAML block is being read. */
  private yamlOwner: FileResult | 'timeout' | undefined;
  private timeoutAttributed = true;
  /** The file whose block a `timeout!` line interrupted before its result line. */
  private interrupted: FileResult | undefined;
  private innerSkips: string[] = [];
  private innerFailures: string[] = [];

  private record(file: string): FileResult {
    let r = this.files.get(file);
    if (!r) {
      r = {
        file,
        tests: [],
        outcome: undefined,
        skipReason: '',
        exitCode: undefined,
        signal: undefined,
        timedOut: false,
        planMismatch: undefined,
        plan: undefined,
        displaced: false,
        printed: false,
      };
      this.files.set(file, r);
    }
    return r;
  }

  line(line: string): void {
    const indent = indentOf(line);
    const body = line.trimStart();
    if (this.yamlIndent !== undefined) {
      if (indent === this.yamlIndent && body === '...') {
        this.yamlIndent = undefined;
        this.closeTimeout();
      } else if (this.yamlIndent === 2 && indent === 2) {
        this.yamlKey(body);
      }
      return;
    }
    const afterResult = this.lastResultIndent;
    this.lastResultIndent = undefined;
    if (body === '---' && afterResult !== undefined && indent === afterResult + 2) {
      this.yamlIndent = indent;
      return;
    }
    if (indent === 0) this.topLevel(body);
    else if (this.current) this.inFile(indent, body);
  }

  /** Call after the last line. */
  end(): void {
    this.closeTimeout();
  }

  private topLevel(body: string): void {
    this.closeTimeout();
    const subtest = /^# Subtest: (.*)$/.exec(body);
    if (subtest) {
      this.current = this.record(subtest[1]!);
      this.innerSkips = [];
      this.innerFailures = [];
      return;
    }
    const r = parseResult(body);
    if (!r) return;
    this.lastResultIndent = 0;
    if (r.name === 'timeout!' && !r.ok) {
      // the file is named by `expired:` in the YAML that follows
      this.yamlOwner = 'timeout';
      this.timeoutAttributed = false;
      this.interrupted = this.current?.outcome === undefined ? this.current : undefined;
      return;
    }
    const rec = this.record(r.name);
    rec.outcome = r.directive === 'SKIP' ? 'skip' : r.ok ? 'ok' : 'not ok';
    rec.skipReason = r.directive === 'SKIP' ? r.reason : '';
    this.yamlOwner = rec;
    this.current = undefined;
  }

  private yamlKey(body: string): void {
    const m = /^(expired|exitCode|signal): (.*)$/.exec(body);
    if (!m) return;
    const value = m[2]!.trim();
    if (this.yamlOwner === 'timeout') {
      if (m[1] === 'expired') {
        this.record(value).timedOut = true;
        this.timeoutAttributed = true;
        if (this.interrupted && this.interrupted.file !== value) this.interrupted.displaced = true;
      }
    } else if (this.yamlOwner) {
      if (m[1] === 'exitCode') this.yamlOwner.exitCode = value;
      if (m[1] === 'signal') this.yamlOwner.signal = value;
    }
  }

  /** A `timeout!` that named no file belongs to the file whose block it ends. */
  private closeTimeout(): void {
    if (this.yamlOwner === 'timeout' && !this.timeoutAttributed && this.current) this.current.timedOut = true;
    this.timeoutAttributed = true;
    this.interrupted = undefined;
    if (this.yamlIndent === undefined) this.yamlOwner = undefined;
  }

  private inFile(indent: number, body: string): void {
    const file = this.current!;
    if (indent === 4) {
      const r = parseResult(body);
      if (r) {
        this.lastResultIndent = 4;
        file.printed = true;
        const status: TestStatus = r.directive === 'SKIP' ? 'skip' : r.directive === 'TODO' ? 'todo' : r.ok ? 'pass' : 'fail';
        file.tests.push({ name: r.name, status, reason: r.reason, innerSkips: this.innerSkips, innerFailures: this.innerFailures });
        this.innerSkips = [];
        this.innerFailures = [];
        return;
      }
      if (body.startsWith('# Subtest: ')) {
        this.innerSkips = [];
        this.innerFailures = [];
      }
      const mismatch = /^# (test count\(\d+\) != plan\(\w+\))$/.exec(body);
      if (mismatch) {
        file.planMismatch = mismatch[1];
        return;
      }
      if (body === MADE_UP_PLAN) return;
      const plan = /^1\.\.(\d+)\b/.exec(body);
      if (plan) file.plan = Number(plan[1]);
      file.printed = true;
      return;
    }
    const r = parseResult(body);
    if (r) {
      this.lastResultIndent = indent;
      if (r.directive === 'SKIP') this.innerSkips.push(r.reason ? `${r.name}: ${r.reason}` : r.name);
      else if (!r.ok && r.directive !== 'TODO' && r.name !== 'timeout!') this.innerFailures.push(r.name);
    }
  }
}

export interface TallyOptions {
  /** The files the run gave tap: each must end with a result. */
  readonly expected: readonly string[];
  /** Whether a skip in this file is a failure (CI, kernel and e2e tiers). */
  readonly strict: (file: string) => boolean;
  /** The per-file timeout, for the message. */
  readonly timeoutSeconds: number;
}

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  /** One line per failed test, naming it. */
  readonly failures: string[];
  /** One line per skipped test or file, with the reason. */
  readonly skips: string[];
}

export function emptyTally(): Tally {
  return { passed: 0, failed: 0, skipped: 0, failures: [], skips: [] };
}

/** Adds the run's files to `tally`. */
export function tallyFiles(files: ReadonlyMap<string, FileResult>, options: TallyOptions, tally: Tally): void {
  const fail = (what: string): void => {
    tally.failed++;
    tally.failures.push(what);
  };
  const expected = new Set(options.expected);
  for (const file of options.expected) {
    const rec = files.get(file);
    if (!rec) {
      fail(`${file}: tap reported nothing for it`);
      continue;
    }
    const strict = options.strict(file);
    let failedTests = 0;
    for (const test of rec.tests) {
      const name = `${file} > ${test.name}`;
      if (test.status === 'fail') {
        // the deepest failures name what went wrong (a subtest's own line only repeats it)
        const inner = test.innerFailures.slice(0, 4).map((n) => (n.length > 200 ? `${n.slice(0, 200)}...` : n));
        fail(
          inner.length > 0
            ? `${name}: ${inner.join('; ')}${test.innerFailures.length > 4 ? `; and ${test.innerFailures.length - 4} more` : ''}`
            : name,
        );
        failedTests++;
      } else if (test.status !== 'pass') {
        const why = `${test.status === 'todo' ? 'todo' : 'skipped'}${test.reason ? `: ${test.reason}` : ''}`;
        if (strict) {
          fail(`${name}: ${why} (CI allows no skip here)`);
          failedTests++;
        } else {
          tally.skipped++;
          tally.skips.push(`${name}: ${why}`);
        }
      } else if (strict && test.innerSkips.length > 0) {
        fail(`${name}: skipped inside (CI allows no skip here): ${test.innerSkips.join('; ')}`);
        failedTests++;
      } else {
        tally.passed++;
      }
    }
    const own = fileFailure(rec, options.timeoutSeconds);
    if (own !== undefined) {
      if (failedTests === 0) fail(`${file}: ${own}`);
    } else if (rec.outcome === 'skip') {
      const why = `skipped as a whole${rec.skipReason ? `: ${rec.skipReason}` : ''}`;
      if (strict) fail(`${file}: ${why} (CI allows no skip here)`);
      else {
        tally.skipped++;
        tally.skips.push(`${file}: ${why}`);
      }
    }
  }
  for (const rec of files.values()) {
    if (expected.has(rec.file)) continue;
    // a top-level result that is not one of our files: tap's own trouble
    if (rec.outcome === 'not ok' || rec.timedOut) fail(`tap: ${rec.file}`);
  }
}

/** Why the file itself failed, or undefined when it did not. */
function fileFailure(rec: FileResult, timeoutSeconds: number): string | undefined {
  if (rec.timedOut) return `timed out after ${timeoutSeconds} s`;
  if (rec.outcome === undefined) {
    const complete = rec.plan !== undefined && rec.plan === rec.tests.length && rec.tests.every((t) => t.status !== 'fail');
    if (rec.displaced && complete) return undefined;
    return 'no result line from tap (its output was cut off)';
  }
  if (rec.outcome === 'skip' && !rec.printed) return 'printed no TAP (it exited before its first test, or defines none)';
  if (rec.outcome !== 'not ok') return undefined;
  if (rec.signal && rec.signal !== 'null') return `killed by ${rec.signal}`;
  const exit = rec.exitCode && rec.exitCode !== 'null' ? `exit code ${rec.exitCode}` : 'no exit code';
  if (rec.planMismatch) return `ended before its plan completed (${rec.planMismatch}, ${exit})`;
  return `failed (${exit})`;
}
