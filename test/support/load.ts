/**
 * The web server and steady load of the data-plane end-to-end tests that count requests
 * while a cluster changes (test/e2e/dataplane/lifecycle.test.ts, test/e2e/scenarios/
 * traffic.test.ts): test/fixtures/lifecycle/server.mjs (answers with its task's short ID)
 * with the health check that makes a new task a backend once it listens, and
 * test/fixtures/lifecycle/load.mjs run inside a namespace, its phase named through a file
 * and its counts read back from the file it reports to.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { spawnInNs } from './dataplane.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'lifecycle');
const LOAD = join(FIXTURES, 'load.mjs');

/** A task's command: the fixture server on port 80. */
export const SERVER = [process.execPath, join(FIXTURES, 'server.mjs'), '80'];

/**
 * web's readiness: a task's process runs well before node listens on its port (a few hundred
 * ms, over a second on a loaded machine), and a task without a health check is a backend
 * from its start, as in Docker, so new tasks would refuse connections for that long. With a
 * health check a task gets connections once it answers, and a rolling update's next batch
 * waits for it.
 */
export const READY = [
  '--health-cmd',
  'curl -sf -o /dev/null --max-time 2 http://127.0.0.1:80/',
  '--health-interval',
  '500ms',
  '--health-timeout',
  '2s',
  '--health-retries',
  '3',
];

/** What a load counted in one phase (load.mjs's header says what each field means). */
export interface PhaseCounts {
  ok: number;
  failed: number;
  skipped: number;
  errors: Record<string, number>;
  byTask: Record<string, number>;
  maxMs: number;
  slow: number;
  failures: Array<{ at: string; target: string; error: string; afterMs: number; localPort?: number }>;
}

export interface LoadStatus {
  done: boolean;
  elapsedMs: number;
  order: string[];
  phases: Record<string, PhaseCounts>;
}

/** One load generator: its process, the file that names its phase, the file it reports to. */
export interface Load {
  name: string;
  proc: ChildProcess;
  control: string;
  status: string;
  stdout: string;
  stderr: string;
  exited: Promise<void>;
}

/**
 * Starts load.mjs in namespace `ns`: `rate` GETs a second round-robin over `targets`
 * (host:port), counted under `phase` until setPhase names another; its files go in `dir`;
 * `env` (default: this process's) carries its policy settings (load.mjs's header).
 * Killed in `t`'s teardown if still running.
 */
export function startLoad(
  t: Test,
  options: { dir: string; name: string; ns: string; rate: number; targets: readonly string[]; phase: string; env?: NodeJS.ProcessEnv },
): Load {
  const { dir, name, ns, rate, targets, phase, env } = options;
  const control = join(dir, `${name}.phase`);
  const status = join(dir, `${name}.status.json`);
  writeFileSync(control, `${phase}\n`);
  const proc = spawnInNs(ns, [process.execPath, LOAD, control, status, String(rate), ...targets], env);
  const load: Load = { name, proc, control, status, stdout: '', stderr: '', exited: Promise.resolve() };
  proc.stdout?.on('data', (d: Buffer) => {
    load.stdout += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    load.stderr += d.toString();
  });
  load.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await load.exited;
  });
  return load;
}

/** Names a load's phase: a new file put in place, so the load never reads a half-written one. */
export function setPhase(load: Load, name: string): void {
  writeFileSync(`${load.control}.tmp`, `${name}\n`);
  renameSync(`${load.control}.tmp`, load.control);
}

/** The counts the load wrote last, if any. */
export function readStatus(load: Load): LoadStatus | undefined {
  try {
    return JSON.parse(readFileSync(load.status, 'utf8')) as LoadStatus;
  } catch {
    return undefined;
  }
}

/** Requests a load has finished in a phase (ok or failed). */
export function finished(load: Load, phase: string): number {
  const p = readStatus(load)?.phases[phase];
  return p ? p.ok + p.failed : 0;
}

/**
 * Ends the loads (phase "end": they send nothing more and wait for the requests in
 * flight), waits up to 20 s for them to exit, and returns what each counted: the JSON it
 * printed last, else its status file.
 */
export async function stopLoads(loads: readonly Load[]): Promise<Array<LoadStatus | undefined>> {
  for (const l of loads) setPhase(l, 'end');
  await Promise.race([Promise.all(loads.map((l) => l.exited)), new Promise((r) => setTimeout(r, 20_000))]);
  return loads.map((l) => {
    const last = l.stdout.trim().split('\n').at(-1);
    try {
      return last ? (JSON.parse(last) as LoadStatus) : readStatus(l);
    } catch {
      return readStatus(l);
    }
  });
}
