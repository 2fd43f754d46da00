/**
 * SyncRunner: the one worker of a reconciling subsystem.
 *
 * Event handlers only update a model and call trigger(). The runner coalesces triggers,
 * keeps at most one sync in flight, leaves at least `minIntervalMs` between the starts of
 * two syncs, retries a failed sync with exponential backoff, and makes the sync after a
 * failure a full resync (the correctness path). An optional periodic full resync catches
 * drift nobody told us about.
 */
import type { Clock, Timer } from './clock.ts';
import { systemClock } from './clock.ts';
import type { Logger } from './logger.ts';

export interface SyncContext {
  /** True when the sync must rebuild from the complete desired state and re-read the kernel. */
  readonly full: boolean;
  /** Number of consecutive failures before this attempt (0 on a normal sync). */
  readonly attempt: number;
}

export type SyncFn = (ctx: SyncContext) => Promise<void>;

export interface SyncRunnerOptions {
  /** Name for logs and metrics. */
  name: string;
  /** Minimum time between the starts of two syncs, ms. Larger coalesces more triggers into one sync but delays convergence. */
  minIntervalMs?: number;
  /** First retry delay after a failure, ms; doubles per consecutive failure. */
  backoffInitialMs?: number;
  /** Ceiling of the retry delay, ms. */
  backoffMaxMs?: number;
  /** Period of an unconditional full resync, ms; 0 disables. Catches drift at the cost of a full read of kernel state. */
  fullResyncIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface SyncStats {
  syncs: number;
  fullSyncs: number;
  failures: number;
  consecutiveFailures: number;
  lastDurationMs: number;
  lastError: unknown;
}

export class SyncRunner {
  private readonly fn: SyncFn;
  private readonly clock: Clock;
  private readonly minIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly fullResyncIntervalMs: number;
  private readonly logger: Logger | undefined;
  readonly name: string;

  private dirty = false;
  private wantFull = true; // the first sync is always full
  private running: Promise<void> | null = null;
  private timer: Timer | null = null;
  private timerAt = Infinity;
  private periodic: Timer | null = null;
  private lastStart = -Infinity;
  private stopped = true;
  private idleWaiters: Array<() => void> = [];

  readonly stats: SyncStats = { syncs: 0, fullSyncs: 0, failures: 0, consecutiveFailures: 0, lastDurationMs: 0, lastError: undefined };

  constructor(fn: SyncFn, options: SyncRunnerOptions) {
    this.fn = fn;
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.minIntervalMs = options.minIntervalMs ?? 100;
    this.backoffInitialMs = options.backoffInitialMs ?? 200;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.fullResyncIntervalMs = options.fullResyncIntervalMs ?? 0;
    this.logger = options.logger;
  }

  /** Starts the runner and schedules the initial full sync. Idempotent. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.wantFull = true;
    this.dirty = true;
    this.schedule(0);
    this.armPeriodic();
  }

  /** Marks the model dirty; a sync follows within minIntervalMs (or after the one in flight). */
  trigger(options: { full?: boolean } = {}): void {
    if (options.full) this.wantFull = true;
    this.dirty = true;
    if (this.stopped) return;
    if (this.running) return; // the in-flight sync re-checks `dirty` when it ends
    if (this.stats.consecutiveFailures > 0) return; // a retry is already scheduled
    this.schedule(Math.max(0, this.lastStart + this.minIntervalMs - this.clock.now()));
  }

  /** Stops scheduling; resolves when the sync in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.timerAt = Infinity;
    this.periodic?.cancel();
    this.periodic = null;
    if (this.running) await this.running.catch(() => undefined);
    this.notifyIdle();
  }

  /**
   * Runs one full sync now, after the one in flight, and tells how it went: `ran` false
   * when the runner is stopped (or not started), else `error` is what the sync threw
   * (undefined: it succeeded). A failure schedules its retry as any failed sync does.
   * What `doctor --repair` applies through: the same sync, never one beside it.
   */
  async syncNow(): Promise<{ ran: boolean; error?: unknown }> {
    while (this.running) await this.running.catch(() => undefined);
    if (this.stopped) return { ran: false };
    this.timer?.cancel();
    this.timer = null;
    this.timerAt = Infinity;
    this.wantFull = true;
    this.dirty = true;
    await this.run(); // nothing runs in between: run() starts this sync
    return this.stats.consecutiveFailures > 0 ? { ran: true, error: this.stats.lastError } : { ran: true };
  }

  /** Resolves once no sync is pending or running (or the runner is stopped). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  isIdle(): boolean {
    return this.stopped || (!this.dirty && !this.running && this.stats.consecutiveFailures === 0);
  }

  private schedule(delay: number): void {
    const at = this.clock.now() + delay;
    if (this.timer && this.timerAt <= at) return;
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimer(delay, () => {
      this.timer = null;
      this.timerAt = Infinity;
      void this.run();
    });
  }

  private armPeriodic(): void {
    if (this.fullResyncIntervalMs <= 0 || this.stopped) return;
    this.periodic = this.clock.setTimer(this.fullResyncIntervalMs, () => {
      this.trigger({ full: true });
      this.armPeriodic();
    });
  }

  private async run(): Promise<void> {
    if (this.stopped || this.running) return;
    const full = this.wantFull;
    this.dirty = false;
    this.wantFull = false;
    this.lastStart = this.clock.now();
    const attempt = this.stats.consecutiveFailures;
    const started = this.clock.now();
    let failed = false;
    this.running = (async () => {
      try {
        await this.fn({ full, attempt });
        this.stats.syncs++;
        if (full) this.stats.fullSyncs++;
        this.stats.consecutiveFailures = 0;
        this.stats.lastError = undefined;
      } catch (err) {
        failed = true;
        this.stats.failures++;
        this.stats.consecutiveFailures++;
        this.stats.lastError = err;
        this.wantFull = true; // after any error, the next sync rebuilds everything
        this.dirty = true;
        this.logger?.warn({ err, runner: this.name, attempt }, 'sync failed; retrying with a full resync');
      } finally {
        this.stats.lastDurationMs = this.clock.now() - started;
      }
    })();
    await this.running;
    this.running = null;
    if (this.stopped) return this.notifyIdle();
    if (failed) {
      const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (this.stats.consecutiveFailures - 1));
      this.schedule(delay);
    } else if (this.dirty) {
      this.schedule(Math.max(0, this.lastStart + this.minIntervalMs - this.clock.now()));
    } else {
      this.notifyIdle();
    }
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
