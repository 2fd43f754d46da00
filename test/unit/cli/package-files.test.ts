// The files the program finds at run time: the version it prints and sends is
// package.json's, and the package root (where proto/ lives) is found from any depth below
// it, also from a compiled output folder with a package.json of its own.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiProtoPath } from '../../../src/api/proto.ts';
import { buildProgram } from '../../../src/cli/main.ts';
import { findPackageRoot, packageRoot } from '../../../src/common/paths.ts';
import { SHOAL_VERSION } from '../../../src/common/version.ts';

const repo = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');

t.test("SHOAL_VERSION is package.json's version, and `shoal --version` prints it", async (t) => {
  const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  t.equal(SHOAL_VERSION, manifest.version);
  const { program } = await buildProgram(['--version']);
  t.equal(program.version(), manifest.version);
});

t.test('the package root is the repository, and api.proto is under it', async (t) => {
  t.equal(packageRoot(), repo);
  t.equal(apiProtoPath(), join(repo, 'proto', 'api.proto'));
  t.ok(existsSync(apiProtoPath()), 'api.proto exists');
});

t.test('a package.json of another name on the way up is skipped (dist/ with {"type":"module"})', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'shoal-root-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'shoal', version: '9.9.9' }));
  mkdirSync(join(root, 'dist', 'src', 'api'), { recursive: true });
  writeFileSync(join(root, 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
  t.equal(findPackageRoot(join(root, 'dist', 'src', 'api')), root);
  t.equal(findPackageRoot(root), root, 'a start at the root itself');
});

t.test('no package of that name above the start is SHOAL_ERR_INTERNAL, naming the start', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'shoal-noroot-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'other' }));
  // a name no directory above the temporary one can have, whatever the machine holds there
  const name = `no-such-package-${process.pid}`;
  t.throws(() => findPackageRoot(root, name), { code: 'SHOAL_ERR_INTERNAL', message: new RegExp(`${name}.*${root}`) });
});
