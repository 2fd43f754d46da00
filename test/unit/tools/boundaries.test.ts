/**
 * The module-boundary check (scripts/check-boundaries.mjs): the real tree passes, and each
 * rule fails on a small tree with one deliberately bad import, naming both files.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
// @ts-expect-error plain JavaScript without declarations
import { checkBoundaries, parseImports } from '../../../scripts/check-boundaries.mjs';

interface Violation {
  from: string;
  to: string;
  rule: string;
}
const check = checkBoundaries as (root: string) => Violation[];
const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const script = join(repo, 'scripts/check-boundaries.mjs');

/** Writes `files` (path -> source) into a fresh directory removed in teardown. */
function tree(tt: Test, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'shoal-boundaries-'));
  tt.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const base = {
  'src/common/errors.ts': 'export class ShoalError extends Error {}\n',
  'src/kernel/types.ts': "import type { ShoalError } from '../common/errors.ts';\nexport type X = ShoalError;\n",
  'src/kernel/rtnl.ts': "import { execFile } from 'node:child_process';\nexport const run = execFile;\n",
  'src/ipam/types.ts': 'export interface Pool { cidr: string }\n',
  'src/ipam/index.ts': 'export const DEFAULT = 1;\n',
  'src/manager/server.ts': "import { ShoalError } from '../common/errors.ts';\nexport const E = ShoalError;\n",
};

t.test('the real tree keeps every boundary', async (tt) => {
  const violations = check(repo);
  tt.same(
    violations.map((v) => `${v.from} -> ${v.to}: ${v.rule}`),
    [],
  );
});

t.test('a module importing one above it fails, naming both files', async (tt) => {
  const root = tree(tt, { ...base, 'src/common/bad.ts': "import { run } from '../kernel/rtnl.ts';\nexport const r = run;\n" });
  const v = check(root);
  tt.equal(v.length, 1);
  tt.equal(v[0]?.from, 'src/common/bad.ts');
  tt.equal(v[0]?.to, 'src/kernel/rtnl.ts');
  tt.match(v[0]?.rule, /common must not import kernel/);
});

t.test('the agent importing the manager fails; the manager importing the agent or the CLI fails', async (tt) => {
  const root = tree(tt, {
    ...base,
    'src/agent/join.ts': "import { E } from '../manager/server.ts';\nexport const e = E;\n",
    'src/cli/main.ts': 'export const main = 1;\n',
    'src/manager/uses-cli.ts': "import { main } from '../cli/main.ts';\nexport const m = main;\n",
  });
  const pairs = check(root).map((v) => `${v.from} -> ${v.to}`);
  tt.same(pairs.sort(), ['src/agent/join.ts -> src/manager/server.ts', 'src/manager/uses-cli.ts -> src/cli/main.ts']);
});

t.test('api may import only types from ipam', async (tt) => {
  const ok = tree(tt, { ...base, 'src/api/types.ts': "import type { Pool } from '../ipam/types.ts';\nexport type P = Pool;\n" });
  tt.same(check(ok), []);
  const bad = tree(tt, { ...base, 'src/api/types.ts': "import { DEFAULT } from '../ipam/index.ts';\nexport const d = DEFAULT;\n" });
  const v = check(bad);
  tt.equal(v.length, 1);
  tt.match(v[0]?.rule, /api may import only types from ipam/);
});

t.test('a value-import cycle fails; a type-only back reference does not', async (tt) => {
  const cyclic = tree(tt, {
    ...base,
    'src/ipam/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'src/ipam/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
  });
  const v = check(cyclic);
  tt.equal(v.length, 1);
  tt.match(v[0]?.rule, /circular import: src\/ipam\/a\.ts -> src\/ipam\/b\.ts -> src\/ipam\/a\.ts/);
  const typeOnly = tree(tt, {
    ...base,
    'src/ipam/a.ts': "import { b } from './b.ts';\nexport class A { b = b; }\n",
    'src/ipam/b.ts': "import type { A } from './a.ts';\nexport const b = (x: A) => x;\n",
  });
  tt.same(check(typeOnly), []);
});

t.test('a planner reaching child_process, fs or a kernel applier fails, also through a helper', async (tt) => {
  const root = tree(tt, {
    ...base,
    'src/overlay/plan.ts':
      "import type { X } from '../kernel/types.ts';\nimport { h } from './helper.ts';\nexport const plan = (x: X) => h(x);\n",
    'src/overlay/helper.ts': "import { readFileSync } from 'node:fs';\nexport const h = (x: unknown) => [x, readFileSync];\n",
    'src/vip/plan-rules.ts': "import { run } from '../kernel/rtnl.ts';\nexport const p = run;\n",
    'src/dns/plan.ts': "import type { X } from '../kernel/types.ts';\nexport const ok = (x: X) => x;\n",
  });
  const v = check(root);
  tt.same(v.map((x) => `${x.from} -> ${x.to}`).sort(), ['src/overlay/helper.ts -> pkg:fs', 'src/vip/plan-rules.ts -> src/kernel/rtnl.ts']);
  tt.match(
    v.find((x) => x.to === 'pkg:fs')?.rule,
    /planner src\/overlay\/plan\.ts must not reach fs \(src\/overlay\/plan\.ts -> src\/overlay\/helper\.ts -> pkg:fs\)/,
  );
});

t.test('an import of a file that does not exist fails', async (tt) => {
  const root = tree(tt, { ...base, 'src/kernel/x.ts': "import { y } from './missing.ts';\nexport const x = y;\n" });
  tt.match(check(root)[0]?.rule, /does not exist/);
});

t.test('the command exits 1 and prints the violation', async (tt) => {
  const root = tree(tt, { ...base, 'src/common/bad.ts': "export { run } from '../kernel/rtnl.ts';\n" });
  let status = 0;
  let out = '';
  try {
    execFileSync(process.execPath, [script, root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    status = (err as { status: number }).status;
    out = (err as { stdout: string }).stdout;
  }
  tt.equal(status, 1);
  tt.match(out, /^src\/common\/bad\.ts -> src\/kernel\/rtnl\.ts: common must not import kernel/m);
  const good = tree(tt, base);
  tt.match(execFileSync(process.execPath, [script, good], { encoding: 'utf8' }), /module boundaries hold \(6 files\)/);
});

t.test('imports are read from every form, comments ignored', async (tt) => {
  const parse = parseImports as (s: string) => Array<{ spec: string; typeOnly: boolean }>;
  tt.same(
    parse(
      [
        "import a from './a.ts';",
        "import type { B } from './b.ts';",
        "import { type C, d } from './c.ts';",
        "export * from './e.ts';",
        "export type { F } from './f.ts';",
        "import './g.ts';",
        "const h = await import('./h.ts');",
        "// import x from './commented.ts';",
        "/* import y from './block.ts'; */",
        "import {\n  i,\n  j,\n} from './ij.ts';",
      ].join('\n'),
    ),
    [
      { spec: './a.ts', typeOnly: false },
      { spec: './b.ts', typeOnly: true },
      { spec: './c.ts', typeOnly: false },
      { spec: './e.ts', typeOnly: false },
      { spec: './f.ts', typeOnly: true },
      { spec: './g.ts', typeOnly: false },
      { spec: './h.ts', typeOnly: false },
      { spec: './ij.ts', typeOnly: false },
    ],
  );
});
