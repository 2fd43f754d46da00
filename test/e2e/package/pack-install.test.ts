/**
 * What a user installs: `npm pack` of this checkout, installed with `npm install --omit=dev`
 * into an empty project, runs without any development package (no tsx, no TypeScript):
 * help and version, the manager's and the agent's help, and a real manager started from the
 * installed package that answers `network ls`, `network create` and `version`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO_ROOT, tempDir, until } from '../../support/manager-harness.ts';
import { freePort } from '../../support/net.ts';

const run = promisify(execFile);

t.test('the packed package installs without dev dependencies and runs', async (t) => {
  const dir = tempDir(t, 'shoal-pack-');
  // dist/ is current: the runner builds before any test; packing must not rebuild under other tests
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 16 << 20 });
  const tgz = readdirSync(dir).find((f) => /^shoal-.*\.tgz$/.test(f));
  t.ok(tgz, 'npm pack made a tarball');
  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-shoal', private: true }));
  await run('npm', ['install', '--omit=dev', '--no-fund', '--no-audit', '--prefer-offline', join(dir, tgz!)], {
    cwd: project,
    timeout: 600_000,
    maxBuffer: 16 << 20,
  });
  const modules = join(project, 'node_modules');
  t.ok(existsSync(join(modules, 'shoal', 'dist', 'cli', 'main.js')), 'the compiled code is in the package');
  t.notOk(existsSync(join(modules, 'tsx')), 'tsx is not installed');
  t.notOk(existsSync(join(modules, 'typescript')), 'TypeScript is not installed');
  t.notOk(existsSync(join(modules, 'shoal', 'src')), 'the sources are not shipped');

  const bin = join(modules, 'shoal', 'bin', 'shoal.js');
  const shoal = async (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [bin, ...args], { cwd: project, env: { ...process.env, SHOAL_HOST: '', ...env }, timeout: 60_000 });
  t.match((await shoal(['--help'])).stdout, /^Usage: shoal \[options\] \[command\]/);
  t.match((await shoal(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);
  t.match((await shoal(['manager', '--help'])).stdout, /^Usage: shoal manager/);
  t.match((await shoal(['agent', '--help'])).stdout, /^Usage: shoal agent/);

  const dataDir = join(dir, 'data');
  const port = await freePort();
  const manager = spawn(
    process.execPath,
    [bin, 'manager', '--data-dir', dataDir, '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1'],
    {
      cwd: project,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  manager.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (manager.exitCode !== null || manager.signalCode !== null || manager.pid === undefined) return resolve();
        const kill = setTimeout(() => process.kill(manager.pid!, 'SIGKILL'), 10_000);
        manager.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        process.kill(manager.pid, 'SIGTERM');
      }),
  );
  const env = { SHOAL_DATA_DIR: dataDir };
  const ls = await until(
    async () => {
      if (manager.exitCode !== null) throw new Error(`the manager exited: ${log}`);
      return (await shoal(['network', 'ls'], env)).stdout;
    },
    60_000,
    'the installed manager answers network ls',
  );
  t.match(ls, /^NETWORK ID +NAME +DRIVER +SCOPE\n[0-9a-z]{12} +ingress +overlay +swarm\n/);
  t.match((await shoal(['network', 'create', '-d', 'overlay', '--subnet', '10.9.0.0/24', 'probe'], env)).stdout, /^[0-9a-z]{25}\n$/);
  const version = JSON.parse((await shoal(['version', '--format', 'json'], env)).stdout) as {
    Client: { Version: string };
    Server: { Version: string } | null;
  };
  t.equal(version.Server?.Version, version.Client.Version, 'the installed manager reports its build');
});
