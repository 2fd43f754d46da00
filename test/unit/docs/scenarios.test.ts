/**
 * The user scenarios are covered, checkably: every scenario 1..14 of docs/scenarios.md has
 * an end-to-end test on a testbed cluster (a file under test/e2e that calls startCluster,
 * so real packets cross the real kernel) whose name says "scenario N", and the document
 * names only test files that exist and test names those files have.
 *
 * Test names are read from the source text: the first argument of each `t.test(` when it
 * is a plain string literal (a name built at run time cannot say which scenario it covers).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCENARIOS = 14;
const DOC = 'docs/scenarios.md';

/** Every *.test.ts under a directory, relative to the repository root. */
function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(root, rel)).isDirectory()) out.push(...testFiles(rel));
    else if (name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

/** The names of a file's tests: string literals passed first to `t.test(` (any test object named t). */
function testNames(source: string): string[] {
  const names: string[] = [];
  const re = /\bt\.test\(\s*(?:'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|`((?:\\.|[^`\\$])*)`)/g;
  for (const m of source.matchAll(re)) names.push((m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
  return names;
}

/** The scenario numbers a test name claims ("scenario 4, scenario 11: ..." claims 4 and 11). */
function scenariosOf(name: string): number[] {
  return [...name.matchAll(/\bscenario (\d+)(?!\d)/gi)].map((m) => Number(m[1]));
}

interface E2eFile {
  path: string;
  testbed: boolean;
  names: string[];
}

function e2eFiles(): E2eFile[] {
  return testFiles('test/e2e').map((p) => {
    const source = readFileSync(path.join(root, p), 'utf8');
    return { path: p, testbed: /\bstartCluster\(/.test(source), names: testNames(source) };
  });
}

t.test('the name reader', async (t) => {
  t.same(
    testNames(`t.test('a', x); await t.test(\n  "b \\"c\\"", y); t.test(\`d\`, z); t.test(\`e \${f}\`, w)`),
    ['a', 'b "c"', 'd'],
    'plain literals only, escapes undone',
  );
  t.same(scenariosOf('scenario 4, scenario 11: x'), [4, 11]);
  t.same(scenariosOf('scenario 13: x'), [13], '13 is not 1');
  t.same(scenariosOf('scenarios are nice'), []);
});

t.test('every scenario has an end-to-end test on a testbed whose name says "scenario N"', async (t) => {
  const files = e2eFiles();
  for (let n = 1; n <= SCENARIOS; n++) {
    const covering = files.filter((f) => f.testbed && f.names.some((name) => scenariosOf(name).includes(n))).map((f) => f.path);
    t.ok(covering.length > 0, `scenario ${n}: ${covering.length > 0 ? covering.join(', ') : 'no testbed e2e test names it'}`);
  }
  const claimed = files.flatMap((f) => f.names.flatMap(scenariosOf));
  t.same(
    claimed.filter((n) => n < 1 || n > SCENARIOS),
    [],
    `no test claims a scenario beyond 1..${SCENARIOS}`,
  );
});

t.test(`${DOC} describes every scenario and names only tests that exist`, async (t) => {
  const doc = readFileSync(path.join(root, DOC), 'utf8');
  const files = new Map(e2eFiles().map((f) => [f.path, f]));
  const sections = doc.split(/^(?=## Scenario \d+\b)/m).slice(1);
  t.same(
    sections.map((s) => Number(/^## Scenario (\d+)/.exec(s)?.[1])),
    Array.from({ length: SCENARIOS }, (_, i) => i + 1),
    `a "## Scenario N" section for each of 1..${SCENARIOS}, in order`,
  );
  for (const section of sections) {
    const n = Number(/^## Scenario (\d+)/.exec(section)?.[1]);
    const named: string[] = [];
    for (const line of section.split('\n')) {
      const [file, ...quoted] = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      if (!file || !/^test\/.*\.test\.ts$/.test(file)) continue;
      const f = files.get(file);
      t.ok(f, `scenario ${n}: ${file} exists`);
      if (!f) continue;
      named.push(file);
      for (const name of quoted) t.ok(f.names.includes(name), `scenario ${n}: ${file} has a test named ${JSON.stringify(name)}`);
    }
    t.ok(
      named.some((p) => files.get(p)?.testbed && files.get(p)?.names.some((name) => scenariosOf(name).includes(n))),
      `scenario ${n}: the section names a testbed file with a "scenario ${n}" test`,
    );
  }
});
