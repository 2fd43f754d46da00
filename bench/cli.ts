/**
 * Start-up cost of the `shoal` command, as a user pays it: cold starts of the compiled CLI
 * (bin/shoal.js -> dist/), median of 20 runs each, against `node -e 0` measured in the same
 * run. `network ls` talks to a real manager started for the bench on a loopback port in a
 * temporary data directory (over its unix socket, as the CLI does on the manager's host).
 *
 * Goals: help_ratio <= 2.0, ls_ratio <= 3.0. Last stdout line:
 * {"bench":"cli","node_ms":..,"help_ms":..,"version_ms":..,"ls_ms":..,"help_ratio":..,"ls_ratio":..}
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/net.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shoal.js');
const RUNS = Number(process.env['SHOAL_BENCH_RUNS'] ?? 20);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall milliseconds of one run of `node ARGS`; throws when it does not exit 0. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** Median of RUNS runs, interleaved with the others by the caller's loop order. */
function measure(label: string, args: string[], env: NodeJS.ProcessEnv): number {
  timeOnce(args, env); // warm the page cache, not the process
  const xs = Array.from({ length: RUNS }, () => timeOnce(args, env));
  const m = median(xs);
  process.stderr.write(
    `${label.padEnd(16)} median ${m.toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})\n`,
  );
  return m;
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const dataDir = mkdtempSync(join(tmpdir(), 'shoal-bench-cli-'));
  const port = await freePort();
  const env = { ...process.env, SHOAL_DATA_DIR: dataDir, SHOAL_HOST: '' };
  const manager = spawn(
    process.execPath,
    [BIN, 'manager', '--data-dir', dataDir, '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1'],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let managerErr = '';
  manager.stderr.setEncoding('utf8').on('data', (d: string) => (managerErr += d));
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = spawnSync(process.execPath, [BIN, 'network', 'ls'], { env, encoding: 'utf8' });
      if (r.status === 0) break;
      if (manager.exitCode !== null) throw new Error(`manager exited ${manager.exitCode}: ${managerErr}`);
      if (Date.now() > deadline) throw new Error(`manager did not answer within 60 s: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const nodeMs = measure('node -e 0', ['-e', '0'], env);
    const helpMs = measure('shoal --help', [BIN, '--help'], env);
    const versionMs = measure('shoal version', [BIN, 'version'], env);
    const lsMs = measure('shoal network ls', [BIN, 'network', 'ls'], env);
    const round = (x: number) => Math.round(x * 10) / 10;
    const ratio = (x: number) => Math.round((x / nodeMs) * 100) / 100;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'cli',
        node_ms: round(nodeMs),
        help_ms: round(helpMs),
        version_ms: round(versionMs),
        ls_ms: round(lsMs),
        help_ratio: ratio(helpMs),
        ls_ratio: ratio(lsMs),
      })}\n`,
    );
  } finally {
    if (manager.exitCode === null && manager.pid !== undefined) {
      const exited = new Promise((res) => manager.once('exit', res));
      process.kill(manager.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))]);
      if (manager.exitCode === null) process.kill(manager.pid, 'SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
