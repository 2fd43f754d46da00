// Context files (src/api/context.ts) and the order in which the CLI picks its manager
// (src/cli/client-options.ts connectOptions): -H, SHOAL_HOST, --data-dir, SHOAL_DATA_DIR,
// the selected context, the default data dir.
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contextFilePath,
  formatContext,
  parseContext,
  readContext,
  readSelectedContext,
  removeContext,
  type ShoalContext,
  writeContext,
} from '../../../src/api/context.ts';
import { resolveHost } from '../../../src/api/manager-target.ts';
import { connectOptions } from '../../../src/cli/client-options.ts';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-context-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('file names: the default prefix has context.json, others context-<prefix>.json', async (t) => {
  t.equal(contextFilePath('shoal-', '/run/shoal'), '/run/shoal/context.json');
  t.equal(contextFilePath('shoal-tabc-', '/run/shoal'), '/run/shoal/context-shoal-tabc-.json');
  for (const bad of ['', '../x', 'a/b', '-x', 'a b']) {
    t.throws(() => contextFilePath(bad, '/run/shoal'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
});

t.test('write, read back, remove; a missing file is undefined and removing it again is a no-op', async (t) => {
  const dir = tempDir(t);
  const ctx: ShoalContext = { name: 'tb-', host: 'unix:///run/x/manager.sock', dataDir: '/run/x', description: 'testbed tb-' };
  const path = writeContext(ctx, dir);
  t.equal(path, join(dir, 'context-tb-.json'));
  t.same(JSON.parse(readFileSync(path, 'utf8')), { version: 1, ...ctx });
  t.same(readContext('tb-', dir), ctx);
  t.equal(readContext('other-', dir), undefined);
  t.equal(removeContext('tb-', dir), true);
  t.equal(readContext('tb-', dir), undefined);
  t.equal(removeContext('tb-', dir), false);
});

t.test('malformed files are refused with every problem named', async (t) => {
  t.throws(() => parseContext('{', '/f'), { code: 'SHOAL_ERR_INVALID_CONFIG', message: /context file \/f: not JSON/ });
  t.throws(() => parseContext('[]', '/f'), { code: 'SHOAL_ERR_INVALID_CONFIG' });
  t.throws(() => parseContext(JSON.stringify({ version: 2, name: 'a', host: 'http://x', dataDir: 3 }), '/f'), {
    code: 'SHOAL_ERR_INVALID_CONFIG',
    message: /version must be 1.*host must be unix.*dataDir must be a string/,
  });
  // unknown fields are ignored (a later version may add some)
  t.same(parseContext(JSON.stringify({ version: 1, name: 'a', host: 'tcp://192.0.2.11:2377', extra: true }), '/f'), {
    name: 'a',
    host: 'tcp://192.0.2.11:2377',
  });
  t.same(parseContext(formatContext({ name: 'a', host: 'unix:///s' }), '/f'), { name: 'a', host: 'unix:///s' });
});

t.test('SHOAL_CONTEXT selects a context; one that does not exist is an error, the default may be missing', async (t) => {
  const dir = tempDir(t);
  t.equal(readSelectedContext({}, dir), undefined, 'no default context');
  writeContext({ name: 'shoal-', host: 'unix:///default.sock' }, dir);
  writeContext({ name: 'tb-', host: 'unix:///tb.sock' }, dir);
  t.equal(readSelectedContext({}, dir)?.host, 'unix:///default.sock');
  t.equal(readSelectedContext({ SHOAL_CONTEXT: '' }, dir)?.host, 'unix:///default.sock', 'empty = unset');
  t.equal(readSelectedContext({ SHOAL_CONTEXT: 'tb-' }, dir)?.host, 'unix:///tb.sock');
  t.throws(() => readSelectedContext({ SHOAL_CONTEXT: 'gone-' }, dir), { code: 'SHOAL_ERR_NOT_FOUND', message: /SHOAL_CONTEXT=gone-/ });
  writeFileSync(join(dir, 'context-bad-.json'), 'nope');
  t.throws(() => readSelectedContext({ SHOAL_CONTEXT: 'bad-' }, dir), { code: 'SHOAL_ERR_INVALID_CONFIG' });
});

t.test('the CLI target: -H, SHOAL_HOST, --data-dir, SHOAL_DATA_DIR, then the context, then /var/lib/shoal', async (t) => {
  const ctx: ShoalContext = { name: 'shoal-', host: 'unix:///run/tb/h1/manager.sock', dataDir: '/run/tb/h1' };
  let asked = 0;
  const withCtx = (): ShoalContext => {
    asked++;
    return ctx;
  };
  const target = (
    flags: { host?: string; dataDir?: string },
    env: Record<string, string>,
    read: () => ShoalContext | undefined = withCtx,
  ): string => {
    const opts = connectOptions(flags, env, read);
    return resolveHost(opts);
  };
  t.equal(target({ host: 'tcp://192.0.2.9:2377' }, { SHOAL_HOST: 'unix:///env.sock' }), 'tcp://192.0.2.9:2377', '-H wins');
  t.equal(target({}, { SHOAL_HOST: 'unix:///env.sock' }), 'unix:///env.sock', 'SHOAL_HOST beats the context');
  t.equal(target({ dataDir: '/d' }, {}), 'unix:///d/manager.sock', '--data-dir beats the context');
  t.equal(target({}, { SHOAL_DATA_DIR: '/e' }), 'unix:///e/manager.sock', 'SHOAL_DATA_DIR beats the context');
  t.equal(asked, 0, 'the context file is not read when something else names the manager');
  t.equal(target({}, {}), 'unix:///run/tb/h1/manager.sock', 'the context');
  t.equal(target({}, { SHOAL_HOST: '', SHOAL_DATA_DIR: '' }), 'unix:///run/tb/h1/manager.sock', 'empty variables are unset');
  t.equal(connectOptions({}, {}, withCtx).dataDir, '/run/tb/h1', "the context's data dir (certificates of a tcp:// host)");
  t.equal(
    target({}, {}, () => undefined),
    'unix:///var/lib/shoal/manager.sock',
    'no context: the default data dir',
  );
});
