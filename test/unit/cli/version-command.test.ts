// `shoal version`: the client's build always, the manager's when it answers (and exit 1
// with one error line when it does not), as text, JSON or a Go template.
import { Command, CommanderError } from 'commander';
import t from 'tap';
import type { VersionInfo } from '../../../src/api/api-types.ts';
import { apiError } from '../../../src/api/errors.ts';
import type { ApiHandle, CliContext } from '../../../src/cli/client-options.ts';
import { registerVersionCommand } from '../../../src/cli/version.ts';
import { SHOAL_VERSION } from '../../../src/common/version.ts';

const SERVER: VersionInfo = { version: '0.2.0', apiVersion: 1, nodeVersion: 'v20.0.0', os: 'linux', arch: 'arm64' };

async function run(
  argv: string[],
  server: () => Promise<VersionInfo>,
): Promise<{ status: number; out: string; err: string; hosts: unknown[] }> {
  const r = { status: 0, out: '', err: '', hosts: [] as unknown[] };
  const ctx: CliContext = {
    connect: (flags) => {
      r.hosts.push(flags);
      return { version: server, close: () => undefined } as unknown as ApiHandle;
    },
    out: (s) => void (r.out += s),
    err: (s) => void (r.err += s),
    readLine: async () => undefined,
    now: () => 0,
    env: {},
  };
  const program = new Command('shoal').exitOverride();
  registerVersionCommand(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    r.status = err.exitCode;
  }
  return r;
}

t.test('client and server, as docker version prints them', async (t) => {
  const r = await run(['version', '-H', 'tcp://192.0.2.11:2377'], async () => SERVER);
  t.equal(r.status, 0);
  t.same(r.hosts, [{ host: 'tcp://192.0.2.11:2377' }]);
  t.match(
    r.out,
    new RegExp(`^Client:\\n Version: +${SHOAL_VERSION.replace(/\./g, '\\.')}\\n API version: +1\\n Node\\.js: +${process.version}\\n`),
  );
  t.match(r.out, /\n\nServer:\n Version: +0\.2\.0\n API version: +1\n Node\.js: +v20\.0\.0\n OS\/Arch: +linux\/arm64\n$/);
  t.equal(r.err, '');
});

t.test('no manager: the client part, one error line, exit 1', async (t) => {
  const r = await run(['version'], async () => {
    throw apiError('SHOAL_ERR_MANAGER_UNREACHABLE', 'cannot connect to the shoal manager at unix:///x/manager.sock');
  });
  t.equal(r.status, 1);
  t.match(r.out, /^Client:\n/);
  t.notMatch(r.out, /Server:/);
  t.equal(r.err, 'Error: cannot connect to the shoal manager at unix:///x/manager.sock (SHOAL_ERR_MANAGER_UNREACHABLE)\n');
});

t.test('--format json and a Go template', async (t) => {
  const json = await run(['version', '--format', 'json'], async () => SERVER);
  t.same(JSON.parse(json.out), {
    Client: { Version: SHOAL_VERSION, ApiVersion: 1, NodeVersion: process.version, Os: process.platform, Arch: process.arch },
    Server: { Version: '0.2.0', ApiVersion: 1, NodeVersion: 'v20.0.0', Os: 'linux', Arch: 'arm64' },
  });
  const tpl = await run(['version', '--format', '{{.Client.Version}} {{.Server.Version}}'], async () => SERVER);
  t.equal(tpl.out, `${SHOAL_VERSION} 0.2.0\n`);
  const bad = await run(['version', '--format', '{{.Client.Version'], async () => SERVER);
  t.equal(bad.status, 2, 'a template that does not parse is a usage error');
});
