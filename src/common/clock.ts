/**
 * Time, injected. Everything that schedules or measures goes through a Clock so that
 * tests and simulations can run in virtual time (FakeClock) with no sleeps.
 */
import { MinHeap } from './min-heap.ts';

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since an arbitrary origin; monotonic. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (for timestamps shown to users). */
  wallNow(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Resolves after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

/** The real clock: performance.now() and Node timers (unref'd so they never hold the process). */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }
  wallNow(): number {
    return Date.now();
  }
  setTimer(ms: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }
}

export const systemClock: Clock = new SystemClock();

interface Pending {
  readonly at: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Virtual time. Timers fire only when the test advances the clock, in order of due
 * time (ties in order of creation: the heap pops equal times in push order). A binary
 * heap keeps 1,000-node simulations cheap; a cancelled timer stays in it, marked, and is
 * dropped when it reaches the top.
 */
export class FakeClock implements Clock {
  private current: number;
  private readonly wallOrigin: number;
  private readonly heap = MinHeap.byPriority<Pending>((p) => p.at);

  constructor(start = 0, wallOrigin = Date.UTC(2026, 0, 1)) {
    this.current = start;
    this.wallOrigin = wallOrigin;
  }

  now(): number {
    return this.current;
  }
  wallNow(): number {
    return this.wallOrigin + this.current;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const entry: Pending = { at: this.current + Math.max(0, ms), fn, cancelled: false };
    this.heap.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }

  /** Number of timers not yet fired or cancelled. */
  get pending(): number {
    let n = 0;
    for (const p of this.heap) if (!p.cancelled) n++;
    return n;
  }

  /** Due time of the next live timer, or undefined. */
  nextAt(): number | undefined {
    while (this.heap.peek()?.cancelled) this.heap.pop();
    return this.heap.peek()?.at;
  }

  /** Advances time by `ms`, firing every timer due on the way (including ones they set). */
  advance(ms: number): void {
    this.runUntil(this.current + ms);
  }

  /** Fires timers in order until `target`, then sets the time to `target`. */
  runUntil(target: number): void {
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next > target) break;
      const entry = this.heap.pop()!;
      this.current = Math.max(this.current, entry.at);
      entry.fn();
    }
    this.current = Math.max(this.current, target);
  }

  /**
   * Advances time and lets promise callbacks run between timers, for code that awaits.
   * Slower than advance(); use it when timers resolve promises that schedule more work.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.nextAt();
      if (next === undefined || next > target) break;
      const entry = this.heap.pop()!;
      this.current = Math.max(this.current, entry.at);
      entry.fn();
      await flushMicrotasks();
    }
    this.current = Math.max(this.current, target);
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
