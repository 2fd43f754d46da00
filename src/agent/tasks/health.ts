/**
 * Health checks with Docker's semantics, as a pure state machine (`nextHealthState`) and a
 * driver (`HealthMonitor`) that runs probes on an injected Clock through an injected probe
 * function. No I/O here: the runtime hands in a probe that execs inside the sandbox.
 *
 * Rules (Docker's):
 *   - a task with a health check starts `starting`;
 *   - the first probe runs `intervalMs` after the start, each next one `intervalMs` after
 *     the previous one ended (probes never overlap);
 *   - a probe succeeds when it exits 0; it fails on any other exit, on an error running
 *     it, and when it runs longer than `timeoutMs` (it is then aborted);
 *   - a success makes the task `healthy` and clears the failing streak;
 *   - a failure while the task is still `starting` and within `startPeriodMs` of its start
 *     does not count; any other failure adds one to the streak, and `retries` consecutive
 *     ones make it `unhealthy`;
 *   - a change of status is reported once (onChange), with the output of the probe that
 *     caused it (its first 4,096 bytes, as Docker keeps).
 */
import type { Clock, Timer } from '../../common/clock.ts';
import type { ResolvedHealthCheck } from './launch.ts';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthState {
  readonly status: HealthStatus;
  /** Consecutive failed probes that counted. */
  readonly failingStreak: number;
}

export interface ProbeOutcome {
  /** 0 = success; the probe's exit code, or -1 when it could not run or timed out. */
  readonly exitCode: number;
  readonly output: string;
}

/** Docker keeps this much of a probe's output. */
export const MAX_PROBE_OUTPUT = 4096;

export const INITIAL_HEALTH: HealthState = Object.freeze({ status: 'starting', failingStreak: 0 });

/**
 * One probe's effect. `sinceStartMs` is the time from the task's start to the probe's end.
 */
export function nextHealthState(
  state: HealthState,
  exitCode: number,
  ctx: { sinceStartMs: number; startPeriodMs: number; retries: number },
): HealthState {
  if (exitCode === 0) return { status: 'healthy', failingStreak: 0 };
  if (state.status === 'starting' && ctx.sinceStartMs < ctx.startPeriodMs) return state;
  const failingStreak = state.failingStreak + 1;
  return { status: failingStreak >= ctx.retries ? 'unhealthy' : state.status, failingStreak };
}

/** Runs `argv` in the task; should stop the command when `signal` aborts. */
export type HealthProbe = (argv: readonly string[], signal: AbortSignal) => Promise<ProbeOutcome>;

export interface HealthMonitorOptions {
  check: ResolvedHealthCheck;
  clock: Clock;
  /** When the task started, in `clock.now()` terms (in the past for an adopted task). */
  startedAt: number;
  /** Status to resume from (an adopted task's last known one); default starting. */
  initial?: HealthStatus;
  probe: HealthProbe;
  onChange: (status: HealthStatus, output: string) => void;
}

export class HealthMonitor {
  private state: HealthState;
  private timer: Timer | undefined;
  private stopped = true;
  private lastOutput = '';
  private readonly opts: HealthMonitorOptions;
  private inFlight: AbortController | undefined;

  constructor(opts: HealthMonitorOptions) {
    this.opts = opts;
    this.state = { status: opts.initial ?? 'starting', failingStreak: 0 };
  }

  get status(): HealthStatus {
    return this.state.status;
  }
  get failingStreak(): number {
    return this.state.failingStreak;
  }
  /** Output of the last probe that ended. */
  get output(): string {
    return this.lastOutput;
  }

  /** Schedules the first probe `intervalMs` from now. Idempotent. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Cancels the next probe and aborts one in flight; nothing is reported afterwards. */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.inFlight?.abort();
    this.inFlight = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimer(this.opts.check.intervalMs, () => {
      this.timer = undefined;
      void this.runProbe();
    });
  }

  private async runProbe(): Promise<void> {
    if (this.stopped) return;
    const { check, clock } = this.opts;
    const abort = new AbortController();
    this.inFlight = abort;
    let timeout: Timer | undefined;
    const timedOut = new Promise<ProbeOutcome>((resolve) => {
      timeout = clock.setTimer(check.timeoutMs, () => {
        abort.abort();
        resolve({ exitCode: -1, output: `Health check exceeded timeout (${check.timeoutMs} ms)` });
      });
    });
    const ran = this.opts.probe(check.argv, abort.signal).then(
      (r) => r,
      (err: unknown) => ({ exitCode: -1, output: err instanceof Error ? err.message : String(err) }),
    );
    const outcome = await Promise.race([ran, timedOut]);
    timeout?.cancel();
    if (this.inFlight === abort) this.inFlight = undefined;
    if (this.stopped) return;
    this.record(outcome);
    this.schedule();
  }

  private record(outcome: ProbeOutcome): void {
    const { check, clock, startedAt } = this.opts;
    this.lastOutput = truncateOutput(outcome.output);
    const before = this.state.status;
    this.state = nextHealthState(this.state, outcome.exitCode, {
      sinceStartMs: clock.now() - startedAt,
      startPeriodMs: check.startPeriodMs,
      retries: check.retries,
    });
    if (this.state.status !== before) this.opts.onChange(this.state.status, this.lastOutput);
  }
}

/** The first MAX_PROBE_OUTPUT bytes of a probe's output, cut at a character boundary. */
export function truncateOutput(output: string): string {
  const bytes = Buffer.from(output, 'utf8');
  if (bytes.length <= MAX_PROBE_OUTPUT) return output;
  // A cut inside a multi-byte character decodes as U+FFFD; drop it.
  return bytes
    .subarray(0, MAX_PROBE_OUTPUT)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}
