/**
 * When a node renews its certificate, and the timer that does it: shared by agents
 * (session-client.ts) and the manager's own certificate (manager-certificates.ts).
 *
 * A certificate is renewed at a random point between 50% and 80% of its validity, as
 * swarmkit does: far enough ahead that a manager outage of days does not let it expire,
 * spread out so that nodes that joined together do not all renew at once. A renewal that
 * fails is retried with backoff (RETRY_MIN_MS doubling to RETRY_MAX_MS) until one
 * succeeds; `renewNow` (a root CA rotation) runs one at once. Timers are armed for at most
 * MAX_TIMER_MS and re-armed, since Node timers cannot wait more than 2^31-1 ms (24.8 days)
 * and a 90-day certificate renews after 45 to 72.
 *
 * Times are wall-clock (certificates say when in wall time) read from the injected Clock;
 * the draw comes from the injected random source, so a FakeClock and a seeded Rng replay
 * a schedule exactly.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock, Timer } from '../common/clock.ts';

/** Earliest point of the validity at which a certificate is renewed (fraction). */
export const RENEW_FROM = 0.5;
/** Latest point of the validity at which a certificate is renewed (fraction). */
export const RENEW_UNTIL = 0.8;
/** First retry delay after a failed renewal, ms. */
export const RETRY_MIN_MS = 5_000;
/** Longest retry delay, ms. */
export const RETRY_MAX_MS = 5 * 60_000;
/** Longest single timer, ms (below Node's 2^31-1 limit); longer waits are re-armed. */
export const MAX_TIMER_MS = 24 * 3600_000;

/** The certificate's validity in wall-clock ms. */
export function validityOf(certPem: string): { notBeforeMs: number; notAfterMs: number } {
  const cert = new X509Certificate(certPem);
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
}

/** The wall time at which to renew a certificate valid from notBefore to notAfter; `draw` in [0, 1). */
export function renewalAt(notBeforeMs: number, notAfterMs: number, draw: number): number {
  const span = Math.max(0, notAfterMs - notBeforeMs);
  const fraction = RENEW_FROM + (RENEW_UNTIL - RENEW_FROM) * Math.min(Math.max(draw, 0), 1);
  return notBeforeMs + Math.floor(span * fraction);
}

export interface RenewalSchedulerOptions {
  clock: Clock;
  /** Uniform in [0, 1) (an Rng's next). */
  random: () => number;
  /** Renews; resolves with the new certificate (PEM), which is scheduled next. */
  renew: (reason: 'schedule' | 'requested') => Promise<string>;
  /** Told of a failed renewal and the delay before the next try. */
  onError?: (err: unknown, retryMs: number) => void;
}

export class RenewalScheduler {
  private readonly o: RenewalSchedulerOptions;
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;
  /** A renewNow that arrived during a renewal: one more runs after it. */
  private again = false;
  private retryMs = RETRY_MIN_MS;
  private closed = false;
  /** Wall time of the planned renewal (tests, diagnostics); undefined when none is planned. */
  dueAt: number | undefined;
  /** Renewals that succeeded. */
  renewals = 0;

  constructor(options: RenewalSchedulerOptions) {
    this.o = options;
  }

  /** Plans the renewal of this (current) certificate, replacing any plan. */
  schedule(certPem: string): void {
    if (this.closed) return;
    const { notBeforeMs, notAfterMs } = validityOf(certPem);
    this.armAt(renewalAt(notBeforeMs, notAfterMs, this.o.random()));
  }

  /** Renews at once (after the one running, if any). */
  renewNow(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.cancelTimer();
    this.run('requested');
  }

  /** Whether a renewal is under way. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  close(): void {
    this.closed = true;
    this.cancelTimer();
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.dueAt = undefined;
  }

  private armAt(at: number): void {
    this.cancelTimer();
    this.dueAt = at;
    const wait = (): void => {
      const left = at - this.o.clock.wallNow();
      if (left <= 0) {
        this.timer = undefined;
        this.run('schedule');
        return;
      }
      this.timer = this.o.clock.setTimer(Math.min(left, MAX_TIMER_MS), wait);
    };
    wait();
  }

  private run(reason: 'schedule' | 'requested'): void {
    if (this.closed) return;
    this.dueAt = undefined;
    this.running = this.o.renew(reason).then(
      (certPem) => {
        this.running = undefined;
        this.renewals++;
        this.retryMs = RETRY_MIN_MS;
        if (this.closed) return;
        if (this.again) {
          this.again = false;
          this.run('requested');
          return;
        }
        this.schedule(certPem);
      },
      (err: unknown) => {
        this.running = undefined;
        if (this.closed) return;
        const delay = this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        this.again = false;
        this.o.onError?.(err, delay);
        this.armAt(this.o.clock.wallNow() + delay);
      },
    );
  }
}
