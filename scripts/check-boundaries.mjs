#!/usr/bin/env node
/**
 * Checks the module boundaries of src/ over the import graph and prints every violation
 * as `FROM -> TO: rule`, naming both files. Exit status 1 when there is any.
 *
 * The rules (ARCHITECTURE.md, "Imports only go down"):
 *   - no circular imports between files. Only value imports count: an `import type` is
 *     erased when compiled, so it cannot take part in an initialisation-order bug, and a
 *     handle naming its owner's type (FakeRtnl -> FakeKernel) is a fair back reference;
 *   - each module imports only the modules below it, in LAYERS; a module marked
 *     type-only may be imported by `import type` alone;
 *   - a planner (`src/<module>/plan*.ts`) reaches, through everything it imports, no kernel
 *     applier, no child_process, no netlink and no fs: planners are pure.
 *
 * Usage: node scripts/check-boundaries.mjs [ROOT]   (ROOT defaults to the repository)
 * The checker is plain JavaScript so that it runs in a fraction of a second without a loader.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** For each module of src/: the modules it may import, and those it may import types from only. */
export const LAYERS = {
  common: { may: [] },
  kernel: { may: ['common'] },
  ipam: { may: ['common'] },
  gossip: { may: ['common'] },
  api: { may: ['common'], typesOnly: ['ipam'] },
  overlay: { may: ['common', 'kernel', 'ipam', 'gossip', 'api'] },
  vip: { may: ['common', 'kernel', 'ipam', 'gossip', 'api'] },
  dns: { may: ['common', 'kernel', 'ipam', 'gossip', 'api'] },
  testbed: { may: ['common', 'kernel', 'api'] },
  agent: { may: ['common', 'kernel', 'ipam', 'gossip', 'api', 'overlay', 'vip', 'dns'] },
  manager: { may: ['common', 'kernel', 'ipam', 'gossip', 'api'] },
  cli: { may: ['common', 'kernel', 'ipam', 'gossip', 'api', 'overlay', 'vip', 'dns', 'agent', 'manager', 'testbed'] },
};

/** What a planner must never reach, directly or through what it imports. */
const PLANNER_FORBIDDEN_PACKAGES = new Set(['child_process', 'fs', 'fs/promises', 'netlink']);
/** Kernel files a planner may use: types, canonical text forms and validation, no I/O. */
const PURE_KERNEL_FILES = new Set(['src/kernel/types.ts', 'src/kernel/canonical.ts', 'src/kernel/validate.ts', 'src/kernel/dump.ts']);

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|(?:^|[^\w.])import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The imports of one file's source: `{ spec, typeOnly }` for each. Comments are ignored. */
export function parseImports(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out = [];
  for (const m of code.matchAll(IMPORT_RE)) {
    if (m[2] !== undefined) out.push({ spec: m[2], typeOnly: m[1] !== undefined });
    else if (m[3] !== undefined) out.push({ spec: m[3], typeOnly: false });
  }
  return out;
}

function listSources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listSources(path));
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The module of a repository-relative path under src/ (`src/kernel/rtnl.ts` -> `kernel`). */
function moduleOf(rel) {
  return /^src\/([^/]+)\//.exec(rel)?.[1];
}

/** Builds the import graph of ROOT/src: file -> [{ to, typeOnly }] (to: repo-relative path or `pkg:name`). */
export function importGraph(root) {
  const graph = new Map();
  const srcDir = join(root, 'src');
  if (!existsSync(srcDir)) return graph;
  for (const file of listSources(srcDir)) {
    const rel = relative(root, file).split('\\').join('/');
    const edges = [];
    for (const { spec, typeOnly } of parseImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        edges.push({
          to: relative(root, resolve(dirname(file), spec))
            .split('\\')
            .join('/'),
          typeOnly,
        });
      } else {
        const bare = spec.replace(/^node:/, '');
        const pkg = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : bare === 'fs/promises' ? bare : bare.split('/')[0];
        edges.push({ to: `pkg:${pkg}`, typeOnly });
      }
    }
    graph.set(rel, edges);
  }
  return graph;
}

function layerViolations(graph) {
  const out = [];
  for (const [from, edges] of graph) {
    const mod = moduleOf(from);
    if (mod === undefined) continue;
    const layer = LAYERS[mod];
    for (const { to, typeOnly } of edges) {
      if (to.startsWith('pkg:')) continue;
      if (!graph.has(to)) {
        out.push({ from, to, rule: 'imports a file that does not exist' });
        continue;
      }
      const target = moduleOf(to);
      if (target === undefined || target === mod) continue;
      if (layer === undefined) {
        out.push({ from, to, rule: `module ${mod} is not in the layer table (scripts/check-boundaries.mjs)` });
      } else if (layer.may.includes(target)) {
        // allowed
      } else if (layer.typesOnly?.includes(target)) {
        if (!typeOnly) out.push({ from, to, rule: `${mod} may import only types from ${target} (use \`import type\`)` });
      } else {
        out.push({
          from,
          to,
          rule: `${mod} must not import ${target} (it may import ${[...layer.may, ...(layer.typesOnly ?? [])].join(', ') || 'nothing of ours'})`,
        });
      }
    }
  }
  return out;
}

function cycleViolations(graph) {
  const out = [];
  const state = new Map(); // 1 = on the stack, 2 = done
  const stack = [];
  const visit = (file) => {
    state.set(file, 1);
    stack.push(file);
    for (const { to, typeOnly } of graph.get(file) ?? []) {
      if (typeOnly || !graph.has(to)) continue;
      const s = state.get(to);
      if (s === 1) {
        const cycle = [...stack.slice(stack.indexOf(to)), to];
        out.push({ from: file, to, rule: `circular import: ${cycle.join(' -> ')}` });
      } else if (s === undefined) visit(to);
    }
    stack.pop();
    state.set(file, 2);
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return out;
}

function plannerViolations(graph) {
  const out = [];
  for (const planner of graph.keys()) {
    if (!/^src\/[^/]+\/plan[^/]*\.ts$/.test(planner)) continue;
    // breadth-first over value imports, remembering how each file was reached
    const via = new Map([[planner, undefined]]);
    const queue = [planner];
    while (queue.length > 0) {
      const file = queue.shift();
      for (const { to, typeOnly } of graph.get(file) ?? []) {
        if (typeOnly) continue;
        const pkg = to.startsWith('pkg:') ? to.slice(4) : undefined;
        const applier = pkg === undefined && moduleOf(to) === 'kernel' && !PURE_KERNEL_FILES.has(to);
        if ((pkg !== undefined && PLANNER_FORBIDDEN_PACKAGES.has(pkg)) || applier) {
          const path = [];
          for (let f = file; f !== undefined; f = via.get(f)) path.unshift(f);
          const what = pkg !== undefined ? pkg : 'a kernel applier';
          out.push({ from: file, to, rule: `planner ${planner} must not reach ${what} (${[...path, to].join(' -> ')})` });
          continue;
        }
        if (pkg === undefined && graph.has(to) && !via.has(to)) {
          via.set(to, file);
          queue.push(to);
        }
      }
    }
  }
  return out;
}

/** Every boundary violation under ROOT/src, sorted. */
export function checkBoundaries(root) {
  const graph = importGraph(root);
  const all = [...layerViolations(graph), ...cycleViolations(graph), ...plannerViolations(graph)];
  const seen = new Set();
  const unique = all.filter((v) => {
    const key = `${v.from}\0${v.to}\0${v.rule}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const violations = checkBoundaries(root);
  for (const v of violations) process.stdout.write(`${v.from} -> ${v.to}: ${v.rule}\n`);
  const files = importGraph(root).size;
  process.stdout.write(
    violations.length === 0 ? `module boundaries hold (${files} files)\n` : `${violations.length} boundary violations\n`,
  );
  process.exitCode = violations.length === 0 ? 0 : 1;
}
