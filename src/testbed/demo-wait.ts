/**
 * How `shoal demo` waits: a condition polled until it holds or its deadline passes, with
 * progress printed whenever it changes ("waiting for 3 running tasks of web ... 2/3"), and
 * abortable (SIGINT/SIGTERM). Also the one way the demo runs a command inside the testbed,
 * keeping the command line and its output for the report of a failed step.
 *
 * There are no fixed sleeps: every wait ends as soon as its condition holds. A check that
 * throws counts as "not yet" (a task that moved, a manager call on a loaded machine); the
 * last error or observation is quoted when the deadline passes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ShoalError } from '../common/errors.ts';
import type { Testbed } from './testbed.ts';

/** Where the demo writes: plain lines, step headings, the report of a failed step. */
export interface DemoSink {
  line(text: string): void;
  heading(text: string): void;
  failure(text: string): void;
}

/** What one check saw: `done` ends the wait with that value; the rest describes "not yet". */
export interface Observation<T> {
  done?: T;
  /** Shown after "waiting for WHAT ..." whenever it changes. */
  progress?: string;
  /** The command the check ran and what it printed, quoted if the wait times out. */
  command?: string;
  output?: string;
}

export interface WaitContext {
  out: DemoSink;
  signal: AbortSignal;
  timeoutMs: number;
}

const POLL_MS = 200;

/**
 * Polls `check` until it reports `done`; throws SHOAL_ERR_TIMEOUT after `ctx.timeoutMs`
 * (or `timeoutMs`), with the last observation's command and output as details.
 */
export async function waitFor<T>(ctx: WaitContext, what: string, check: () => Promise<Observation<T>>, timeoutMs?: number): Promise<T> {
  const limit = timeoutMs ?? ctx.timeoutMs;
  const deadline = Date.now() + limit;
  let shown: string | undefined;
  let last: Observation<T> = {};
  for (;;) {
    ctx.signal.throwIfAborted();
    try {
      last = await check();
    } catch (err) {
      last = { progress: 'not yet', output: err instanceof Error ? err.message : String(err) };
    }
    ctx.signal.throwIfAborted();
    if (last.done !== undefined) return last.done;
    if (last.progress !== undefined && last.progress !== shown) {
      ctx.out.line(`  waiting for ${what} ... ${last.progress}`);
      shown = last.progress;
    }
    if (Date.now() >= deadline) {
      throw new ShoalError(
        'SHOAL_ERR_TIMEOUT',
        `timed out after ${limit < 1000 ? `${limit}ms` : `${(limit / 1000).toFixed(1)}s`} waiting for ${what}${last.progress ? ` (last: ${last.progress})` : ''}`,
        { details: { ...(last.command ? { command: last.command } : {}), ...(last.output ? { output: last.output } : {}) } },
      );
    }
    await sleep(POLL_MS, undefined, { signal: ctx.signal });
  }
}

export interface RunResult {
  code: number;
  /** stdout then stderr. */
  output: string;
  /** The command as a user would type it. */
  command: string;
}

/** Runs argv inside a testbed host (`client`, `h2`), never throwing on a non-zero exit. */
export async function runIn(tb: Testbed, host: string, argv: readonly string[], shown: string): Promise<RunResult> {
  const r = await tb.exec(host, [...argv]);
  return { code: r.code, output: `${r.stdout}${r.stderr}`, command: shown };
}

/** A command that must succeed: its failure is the step's, with the command and its output. */
export function mustSucceed(r: RunResult, what: string): string {
  if (r.code !== 0) {
    throw new ShoalError('SHOAL_ERR_COMMAND_FAILED', `${what}: exit status ${r.code}`, {
      details: { command: r.command, output: r.output },
    });
  }
  return r.output;
}
