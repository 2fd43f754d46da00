/**
 * What the testbed benchmarks share: running a command (or one in a namespace), waiting on
 * a condition with a deadline, and taking a testbed down from a signal handler. (`_` keeps
 * scripts/bench from running this file.)
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/common/paths.ts';

export const SHOAL = join(packageRoot(), 'bin', 'shoal.js');

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20, ...(opts.env ? { env: opts.env } : {}) },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${[cmd, ...args].join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

export function inNs(ns: string, argv: string[], timeoutMs?: number): Promise<string> {
  return run('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], timeoutMs === undefined ? {} : { timeoutMs });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `intervalMs` until it returns a value; throws after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const v = await check().catch((err: unknown) => {
      last = (err as Error).message;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await sleep(intervalMs);
  }
}

/** The testbed down, synchronously: a signal handler cannot wait for a promise. */
export function spawnSyncDown(prefix: string, env: NodeJS.ProcessEnv): void {
  spawnSync(process.execPath, [SHOAL, 'testbed', 'down', '--prefix', prefix], { env, stdio: 'ignore', timeout: 120_000 });
}
