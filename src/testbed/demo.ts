/**
 * `shoal demo`: a fresh testbed of three hosts with its cluster (the same Testbed and
 * TestbedCluster that `shoal testbed up` uses), a guided tour over it (demo-tour.ts), a
 * summary table, and `testbed down`.
 *
 * This module owns the run: the steps in order, each timed and reported ok or FAILED; after
 * a failure (or SIGINT/SIGTERM, which abort `signal`) the remaining steps are skipped, the
 * summary still prints and the testbed still goes. `keep` leaves a successful run's cluster
 * up and prints how to explore it. A testbed left by an earlier run of the same prefix is
 * removed first, so every run starts from nothing.
 *
 * A failure is reported with the step, the error's message and code, and what the failing
 * check ran and saw (the details of the error: command and output).
 */
import { isShoalError } from '../common/errors.ts';
import { contextEnv, DEMO_HOSTS, DemoTour, type DoctorAnswer, prefixFlag } from './demo-tour.ts';
import type { DemoSink } from './demo-wait.ts';
import { Testbed } from './testbed.ts';

export type { DoctorAnswer } from './demo-tour.ts';
export type { DemoSink } from './demo-wait.ts';

export interface DemoOptions {
  /** Testbed prefix (default `shoal-`: the demo's own). */
  prefix: string;
  /** Leave the cluster up after a successful run. */
  keep: boolean;
  /** Deadline of each condition the tour waits for, ms. */
  waitTimeoutMs: number;
}

export interface DemoDeps {
  out: DemoSink;
  /** GET /doctor of the agent whose data dir is given (its local socket, DATA-DIR/agent.sock). */
  doctor(dataDir: string): Promise<DoctorAnswer>;
  /** Aborted on SIGINT/SIGTERM: the run stops at its next check and cleans up. */
  signal: AbortSignal;
}

export type StepOutcome = 'ok' | 'FAILED' | 'skipped' | 'interrupted';

export interface StepResult {
  title: string;
  outcome: StepOutcome;
  ms: number;
}

export interface DemoResult {
  ok: boolean;
  interrupted: boolean;
  steps: StepResult[];
  /** The testbed was removed at the end (false with --keep, or when down failed). */
  tornDown: boolean;
  totalMs: number;
}

export async function runDemo(options: DemoOptions, deps: DemoDeps): Promise<DemoResult> {
  const started = Date.now();
  const out = deps.out;
  const tb = new Testbed({ prefix: options.prefix });
  out.line(`shoal demo: ${DEMO_HOSTS} hosts as network namespaces on this machine's kernel (testbed prefix ${options.prefix})`);
  const earlier = await tb.down();
  if (earlier.namespaces.length > 0 || earlier.killed.length > 0) {
    out.line(`removed a testbed left by an earlier run (${earlier.namespaces.length} namespace(s), ${earlier.killed.length} process(es))`);
  }
  const tour = new DemoTour({ tb, out, doctor: deps.doctor, signal: deps.signal, waitTimeoutMs: options.waitTimeoutMs });
  const total = tour.steps.length;
  const steps: StepResult[] = [];
  let failed = false;
  try {
    for (const [k, step] of tour.steps.entries()) {
      if (failed || deps.signal.aborted) {
        steps.push({ title: step.title, outcome: 'skipped', ms: 0 });
        continue;
      }
      out.line('');
      out.heading(`[${k + 1}/${total}] ${step.title}`);
      const t0 = Date.now();
      try {
        await step.run();
        steps.push({ title: step.title, outcome: 'ok', ms: Date.now() - t0 });
        out.line(`  ok (${seconds(Date.now() - t0)})`);
      } catch (err) {
        failed = true;
        const interrupted = deps.signal.aborted;
        steps.push({ title: step.title, outcome: interrupted ? 'interrupted' : 'FAILED', ms: Date.now() - t0 });
        if (interrupted) out.line(`  interrupted: step ${k + 1} (${step.title}) stopped, cleaning up`);
        else out.failure(describeFailure(k + 1, step.title, err));
      }
    }
  } finally {
    tour.close();
  }
  out.line('');
  out.line(formatSummary(steps, Date.now() - started));
  const ok = !failed && !deps.signal.aborted;
  let tornDown = false;
  if (ok && options.keep) {
    out.line('');
    out.line(exploreHelp(options.prefix, tb, tour.deadHost));
  } else {
    out.line('');
    out.heading('shoal testbed down');
    const down = await tb.down();
    tornDown = true;
    out.line(`  removed ${down.namespaces.length} namespace(s), ended ${down.killed.length} process(es)`);
  }
  return { ok, interrupted: deps.signal.aborted, steps, tornDown, totalMs: Date.now() - started };
}

/** What a failed step says: which step, why, and the command and output of the check that failed. */
export function describeFailure(index: number, title: string, err: unknown): string {
  const lines = [`step ${index} (${title}) FAILED: ${errorText(err)}`];
  const details = isShoalError(err) ? err.details : {};
  if (typeof details['command'] === 'string') lines.push(`  command: ${details['command']}`);
  if (typeof details['output'] === 'string' && details['output'].trim() !== '') {
    lines.push(
      '  output:',
      ...details['output']
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
    );
  }
  return lines.join('\n');
}

function errorText(err: unknown): string {
  if (isShoalError(err)) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** The table printed at the end of every run. */
export function formatSummary(steps: readonly StepResult[], totalMs: number): string {
  const rows = [
    ['STEP', 'RESULT', 'TIME'],
    ...steps.map((s, k) => [`${k + 1}. ${s.title}`, s.outcome, s.outcome === 'ok' || s.outcome === 'FAILED' ? seconds(s.ms) : '-']),
    ['total', '', seconds(totalMs)],
  ];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n');
}

function exploreHelp(prefix: string, tb: Testbed, dead: number | undefined): string {
  const env = contextEnv(prefix);
  const p = prefixFlag(prefix);
  return [
    'The cluster is still up (--keep). Explore it:',
    `  ${env}shoal node ls`,
    `  ${env}shoal service ps web`,
    `  shoal testbed exec${p} client -- curl -s http://${tb.hostAddress(2)}:8080/`,
    `  ${env}shoal exec client.1 -- dig +short tasks.web`,
    ...(dead === undefined
      ? []
      : [
          `  h${dead} is still cut off (step 7); to bring it back:`,
          `  shoal testbed exec${p} h${dead} -- ip link set eth0 up && shoal testbed up${p}`,
        ]),
    `  shoal testbed down${p}`,
  ].join('\n');
}

/** 1.2s, 1m05s. */
export function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
