// What each command loads: the manager's modules only for `shoal manager ...` when it
// runs, the agent's only for `shoal agent` when it runs. Help, version and the API
// commands load neither (they would pay for the allocator, orchestrator and SQLite).
// Each case runs the real program in a child process with a loader hook that records
// every file it loads.
import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

const HOOKS = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.SHOAL_LOAD_TRACE, url + '\\n');
  return next(url, context);
}
`;
const REGISTER = `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
`;

/** The file URLs that running `shoal ARGV` loads. */
function loadedUrls(t: Test, argv: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-trace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'register.mjs'), REGISTER);
  const trace = join(dir, 'trace.txt');
  writeFileSync(trace, '');
  const script = `const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(${JSON.stringify(argv)});`;
  try {
    execFileSync(process.execPath, ['--import', 'tsx', '--import', join(dir, 'register.mjs'), '--input-type=module', '-e', script], {
      cwd: repo,
      env: { ...process.env, SHOAL_LOAD_TRACE: trace, SHOAL_HOST: '', SHOAL_DATA_DIR: dir },
      stdio: ['ignore', 'ignore', 'ignore'],
      timeout: 60_000,
    });
  } catch (err) {
    // a failing command (no manager to talk to) is expected; only what it loaded matters
    if ((err as { status?: number | null }).status === null) throw err;
  }
  return readFileSync(trace, 'utf8').split('\n');
}

/** The repository files under src/ that running `shoal ARGV` loads. */
function loadedFiles(t: Test, argv: string[]): string[] {
  const prefix = new URL('src/', `file://${repo}`).href;
  return loadedUrls(t, argv)
    .filter((url) => url.startsWith(prefix))
    .map((url) => `src/${url.slice(prefix.length)}`);
}

const cases: { argv: string[]; what: string }[] = [
  { argv: ['--help'], what: 'help (every command group listed)' },
  { argv: ['version'], what: 'version (runs, and fails: no manager at the data dir)' },
  { argv: ['--version'], what: 'version' },
  { argv: ['network', 'ls'], what: 'network ls (runs, and fails: no manager at the data dir)' },
  { argv: ['manager', '--help'], what: 'manager --help (the group, not its action)' },
  { argv: ['agent', '--help'], what: 'agent --help' },
  { argv: ['exec', 'web.1', 'ls'], what: 'exec (runs, and fails: no manager at the data dir)' },
  { argv: ['service', 'logs', 'web'], what: 'service logs (runs, and fails: no manager at the data dir)' },
  { argv: ['logs', '-f', 'web.1'], what: 'logs --follow (runs, and fails: no manager at the data dir)' },
  { argv: ['node', 'ps', 'h1'], what: 'node ps NODE (runs, and fails: no manager at the data dir)' },
];

for (const { argv, what } of cases) {
  t.test(`shoal ${argv.join(' ')}: ${what} loads nothing of src/manager or src/agent`, async (t) => {
    const files = loadedFiles(t, argv);
    t.ok(files.includes('src/cli/main.ts'), 'the trace saw the program');
    t.same(
      files.filter((f) => f.startsWith('src/manager/') || f.startsWith('src/agent/')),
      [],
    );
  });
}

t.test('shoal network ls loads the API client from src/api', async (t) => {
  const files = loadedFiles(t, ['network', 'ls']);
  t.ok(files.includes('src/api/client.ts'));
  t.ok(files.includes('src/api/proto.ts'));
  t.ok(files.includes('src/api/h2-connection.ts'), 'the HTTP/2 client');
  t.notOk(files.includes('src/api/grpc-connection.ts'), "not the agents' grpc-js channel");
});

// a command that talks to the manager pays for its call, not for loading grpc-js (the CLI
// speaks gRPC over node:http2 itself: src/api/h2-connection.ts)
for (const argv of [
  ['network', 'ls'],
  ['service', 'ls'],
  ['node', 'ls'],
  ['container', 'ls'],
  ['version'],
  ['exec', 'web.1', 'ls'],
  ['logs', 'web.1'],
  ['info'],
]) {
  t.test(`shoal ${argv.join(' ')} loads no file of @grpc/grpc-js`, async (t) => {
    const urls = loadedUrls(t, argv);
    t.ok(
      urls.some((u) => u.includes('/node_modules/protobufjs/')),
      'the trace saw the API codec',
    );
    t.same(
      urls.filter((u) => u.includes('/node_modules/@grpc/')),
      [],
    );
  });
}

t.test('shoal --help and shoal help load no command group and no gRPC', async (t) => {
  for (const argv of [['--help'], [], ['--version'], ['no-such-command']]) {
    const urls = loadedUrls(t, argv);
    const prefix = new URL('src/', `file://${repo}`).href;
    const ours = urls.filter((u) => u.startsWith(prefix)).map((u) => `src/${u.slice(prefix.length)}`);
    t.same(
      ours.sort(),
      ['src/cli/main.ts', 'src/cli/parse/usage-error.ts', 'src/common/errors.ts', 'src/common/version.ts'],
      argv.join(' '),
    );
    t.same(
      urls.filter((u) => u.includes('/node_modules/@grpc/') || u.includes('/node_modules/protobufjs/')),
      [],
      `${argv.join(' ')}: no gRPC`,
    );
  }
});

t.test('shoal help GROUP loads that group only', async (t) => {
  const files = loadedFiles(t, ['help', 'network']);
  t.ok(files.includes('src/cli/network.ts'));
  t.notOk(files.some((f) => f === 'src/cli/service.ts' || f === 'src/cli/testbed.ts'));
});
