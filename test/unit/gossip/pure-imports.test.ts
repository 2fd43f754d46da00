// The state machines and the arithmetic they use are pure: following their imports, type-only
// ones included, never reaches the protobuf codec, the transport codec or protobufjs. So the
// machines can be read, tested and simulated without the wire format's implementation.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const gossipDir = fileURLToPath(new URL('../../../src/gossip/', import.meta.url));
const repoRoot = resolve(gossipDir, '../..');

const PURE = [
  'swim.ts',
  'table-state.ts',
  'member-table.ts',
  'broadcast-queue.ts',
  'suspicion.ts',
  'awareness.ts',
  'sampled-set.ts',
  'deadline-heap.ts',
  'config.ts',
  'messages.ts',
  'envelope.ts',
  'wire-size.ts',
  'pack-messages.ts',
];
const FORBIDDEN_FILES = ['src/gossip/wire-codec.ts', 'src/gossip/transport-codec.ts'];
const FORBIDDEN_PACKAGES = ['protobufjs'];

/** Every module `file` imports, directly or not: repo files by path, packages by name. */
function closure(file: string): { files: Map<string, string>; packages: Map<string, string> } {
  const files = new Map<string, string>(); // file -> the file that imported it first
  const packages = new Map<string, string>();
  const queue = [file];
  files.set(file, '(root)');
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (fileName.startsWith('.')) {
        const target = resolve(dirname(f), fileName);
        if (!files.has(target)) {
          files.set(target, f);
          queue.push(target);
        }
      } else {
        const pkg = fileName.startsWith('@') ? fileName.split('/').slice(0, 2).join('/') : fileName.split('/')[0]!;
        if (!packages.has(pkg)) packages.set(pkg, f);
      }
    }
  }
  return { files, packages };
}

const rel = (f: string): string => relative(repoRoot, f);

for (const name of PURE) {
  t.test(`${name} imports no codec`, async (t) => {
    const { files, packages } = closure(resolve(gossipDir, name));
    t.ok(files.size > 0);
    for (const forbidden of FORBIDDEN_FILES) {
      const by = files.get(resolve(repoRoot, forbidden));
      t.equal(by, undefined, `${forbidden} is not reached${by ? ` (imported by ${rel(by)})` : ''}`);
    }
    for (const pkg of FORBIDDEN_PACKAGES) {
      const by = packages.get(pkg);
      t.equal(by, undefined, `${pkg} is not reached${by ? ` (imported by ${rel(by)})` : ''}`);
    }
    t.comment(`${name} reaches ${[...files.keys()].map(rel).join(', ')}; packages: ${[...packages.keys()].join(', ') || 'none'}`);
  });
}

t.test('the check sees what it looks for', async (t) => {
  const { files, packages } = closure(resolve(gossipDir, 'transport-codec.ts'));
  t.ok(files.has(resolve(repoRoot, 'src/gossip/wire-codec.ts')), 'transport-codec.ts reaches wire-codec.ts');
  t.ok(packages.has('protobufjs'), 'and protobufjs through it');
});
