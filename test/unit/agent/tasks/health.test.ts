/**
 * Health checks: the pure state machine (Docker's rules) and the monitor on a FakeClock
 * with a scripted probe: when probes run, what counts, timeouts, and that only changes
 * are reported.
 */
import t from 'tap';
import { FakeClock } from '../../../../src/common/clock.ts';
import {
  HealthMonitor,
  type HealthStatus,
  INITIAL_HEALTH,
  MAX_PROBE_OUTPUT,
  nextHealthState,
  truncateOutput,
} from '../../../../src/agent/tasks/health.ts';
import type { ResolvedHealthCheck } from '../../../../src/agent/tasks/launch.ts';

const ctx = (sinceStartMs: number, startPeriodMs = 0, retries = 3) => ({ sinceStartMs, startPeriodMs, retries });

t.test('nextHealthState: success heals at once, failures count up to retries', async (t) => {
  let s = INITIAL_HEALTH;
  s = nextHealthState(s, 1, ctx(10));
  t.same(s, { status: 'starting', failingStreak: 1 });
  s = nextHealthState(s, 1, ctx(20));
  t.same(s, { status: 'starting', failingStreak: 2 });
  s = nextHealthState(s, 2, ctx(30));
  t.same(s, { status: 'unhealthy', failingStreak: 3 }, 'any non-zero exit is a failure');
  s = nextHealthState(s, 0, ctx(40));
  t.same(s, { status: 'healthy', failingStreak: 0 }, 'the first success is healthy');
  s = nextHealthState(s, -1, ctx(50));
  t.same(s, { status: 'healthy', failingStreak: 1 }, 'a healthy task stays healthy below retries');
  s = nextHealthState(s, 0, ctx(60));
  t.same(s, { status: 'healthy', failingStreak: 0 }, 'a success clears the streak');
});

t.test('nextHealthState: the start period forgives failures only while starting', async (t) => {
  let s = INITIAL_HEALTH;
  for (let i = 0; i < 10; i++) s = nextHealthState(s, 1, ctx(100 * i, 5000, 1));
  t.same(s, INITIAL_HEALTH, 'failures inside the start period do not count');
  s = nextHealthState(s, 1, ctx(5000, 5000, 1));
  t.same(s, { status: 'unhealthy', failingStreak: 1 }, 'the period ends at startPeriodMs');

  let h = nextHealthState(INITIAL_HEALTH, 0, ctx(100, 5000, 1));
  t.equal(h.status, 'healthy');
  h = nextHealthState(h, 1, ctx(200, 5000, 1));
  t.same(h, { status: 'unhealthy', failingStreak: 1 }, 'once healthy, a failure counts even inside the start period');
});

function check(over: Partial<ResolvedHealthCheck> = {}): ResolvedHealthCheck {
  return { argv: ['probe'], intervalMs: 1000, timeoutMs: 500, retries: 2, startPeriodMs: 0, ...over };
}

/** A monitor whose probe answers from a script: each entry an exit code, or 'hang'. */
function setup(script: Array<number | 'hang'>, over: Partial<ResolvedHealthCheck> = {}, initial?: HealthStatus) {
  const clock = new FakeClock();
  const runs: Array<{ at: number; argv: readonly string[] }> = [];
  const aborted: number[] = [];
  const changes: Array<{ at: number; status: HealthStatus; output: string }> = [];
  let n = 0;
  const monitor = new HealthMonitor({
    check: check(over),
    clock,
    startedAt: 0,
    ...(initial ? { initial } : {}),
    probe: (argv, signal) => {
      runs.push({ at: clock.now(), argv });
      const step = script[Math.min(n++, script.length - 1)]!;
      if (step === 'hang') {
        return new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted.push(clock.now());
            resolve({ exitCode: -1, output: 'aborted' });
          });
        });
      }
      // A probe takes 100 ms of virtual time.
      return clock.sleep(100).then(() => ({ exitCode: step, output: `probe ${n} exit ${step}` }));
    },
    onChange: (status, output) => changes.push({ at: clock.now(), status, output }),
  });
  return { clock, monitor, runs, aborted, changes };
}

t.test('HealthMonitor: first probe after one interval, the next one interval after each ends', async (t) => {
  const { clock, monitor, runs } = setup([0]);
  monitor.start();
  monitor.start();
  await clock.advanceAsync(999);
  t.equal(runs.length, 0, 'nothing before the first interval');
  await clock.advanceAsync(1);
  t.same(
    runs.map((r) => r.at),
    [1000],
  );
  await clock.advanceAsync(2200);
  t.same(
    runs.map((r) => r.at),
    [1000, 2100, 3200],
    'probes never overlap: each starts an interval after the previous ended (start() twice schedules once)',
  );
  t.same(runs[0]!.argv, ['probe']);
  monitor.stop();
});

t.test('HealthMonitor: starting -> unhealthy -> healthy, reporting changes only', async (t) => {
  const { clock, monitor, changes } = setup([1, 1, 1, 1, 0, 0, 0]);
  monitor.start();
  await clock.advanceAsync(1100);
  t.equal(monitor.status, 'starting');
  t.equal(monitor.failingStreak, 1);
  t.same(changes, [], 'one failure below retries changes nothing');
  await clock.advanceAsync(1100);
  t.same(changes, [{ at: 2200, status: 'unhealthy', output: 'probe 2 exit 1' }], 'retries (2) failures: unhealthy, with that probe output');
  await clock.advanceAsync(2200);
  t.equal(changes.length, 1, 'more failures report nothing');
  await clock.advanceAsync(1100);
  t.same(changes[1], { at: 5500, status: 'healthy', output: 'probe 5 exit 0' });
  await clock.advanceAsync(5000);
  t.equal(changes.length, 2, 'staying healthy reports nothing');
  monitor.stop();
});

t.test('HealthMonitor: a probe over its timeout fails and is aborted', async (t) => {
  const { clock, monitor, changes, aborted, runs } = setup(['hang'], { retries: 1, timeoutMs: 300 });
  monitor.start();
  await clock.advanceAsync(1300);
  t.same(aborted, [1300], 'aborted at the timeout');
  t.same(changes, [{ at: 1300, status: 'unhealthy', output: 'Health check exceeded timeout (300 ms)' }]);
  await clock.advanceAsync(1000);
  t.equal(runs.length, 2, 'the next probe runs an interval after the timeout');
  monitor.stop();
});

t.test('HealthMonitor: a probe that throws is a failure', async (t) => {
  const clock = new FakeClock();
  const changes: string[] = [];
  const monitor = new HealthMonitor({
    check: check({ retries: 1 }),
    clock,
    startedAt: 0,
    probe: async () => {
      throw new Error('no such task');
    },
    onChange: (s, out) => changes.push(`${s}: ${out}`),
  });
  monitor.start();
  await clock.advanceAsync(1000);
  t.same(changes, ['unhealthy: no such task']);
  monitor.stop();
});

t.test('HealthMonitor: the start period counts from startedAt; resuming keeps the last status', async (t) => {
  const a = setup([1], { startPeriodMs: 3500, retries: 1 });
  a.monitor.start();
  await a.clock.advanceAsync(3300);
  t.same(a.changes, [], 'failures at 1.1 s, 2.2 s, 3.3 s are inside the start period');
  await a.clock.advanceAsync(1100);
  t.same(
    a.changes.map((c) => [c.at, c.status]),
    [[4400, 'unhealthy']],
  );
  a.monitor.stop();

  const b = setup([0], {}, 'healthy');
  t.equal(b.monitor.status, 'healthy', 'an adopted task resumes its last status');
  b.monitor.start();
  await b.clock.advanceAsync(1100);
  t.same(b.changes, [], 'a success on a healthy task is no change');
  b.monitor.stop();
});

t.test('HealthMonitor: stop() cancels the next probe and drops the result in flight', async (t) => {
  const { clock, monitor, runs, changes } = setup([1], { retries: 1 });
  monitor.start();
  await clock.advanceAsync(1050);
  t.equal(runs.length, 1, 'a probe is in flight');
  monitor.stop();
  await clock.advanceAsync(10_000);
  t.equal(runs.length, 1, 'no probe after stop');
  t.same(changes, [], 'the result in flight is dropped');
});

t.test('truncateOutput keeps the first 4096 bytes on a character boundary', async (t) => {
  t.equal(truncateOutput('short'), 'short');
  const long = 'é'.repeat(MAX_PROBE_OUTPUT);
  const cut = truncateOutput(long);
  t.ok(Buffer.byteLength(cut) <= MAX_PROBE_OUTPUT);
  t.equal(cut, 'é'.repeat(MAX_PROBE_OUTPUT / 2), 'no half character left');
});
