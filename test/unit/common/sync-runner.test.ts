import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import { SyncRunner, type SyncContext } from '../../../src/common/sync-runner.ts';

function setup(fail: (n: number) => boolean = () => false, opts: { minIntervalMs?: number; fullResyncIntervalMs?: number } = {}) {
  const clock = new FakeClock();
  const calls: Array<SyncContext & { at: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const runner = new SyncRunner(
    async (ctx) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      calls.push({ ...ctx, at: clock.now() });
      await clock.sleep(10); // a sync takes 10 ms of virtual time
      inFlight--;
      if (fail(calls.length)) throw new Error(`sync ${calls.length} failed`);
    },
    {
      name: 'test',
      clock,
      minIntervalMs: opts.minIntervalMs ?? 100,
      backoffInitialMs: 200,
      backoffMaxMs: 1000,
      ...(opts.fullResyncIntervalMs ? { fullResyncIntervalMs: opts.fullResyncIntervalMs } : {}),
    },
  );
  return { clock, runner, calls, maxInFlight: () => maxInFlight };
}

t.test('the first sync is full; triggers coalesce; minimum interval holds', async (t) => {
  const { clock, runner, calls } = setup();
  runner.start();
  await clock.advanceAsync(50);
  t.equal(calls.length, 1);
  t.equal(calls[0]!.full, true, 'initial sync is a full resync');
  for (let i = 0; i < 10; i++) runner.trigger();
  await clock.advanceAsync(500);
  t.equal(calls.length, 2, 'ten triggers became one sync');
  t.equal(calls[1]!.full, false);
  t.ok(calls[1]!.at - calls[0]!.at >= 100, 'minimum interval between sync starts');
  await runner.stop();
});

t.test('one sync in flight; a trigger during a sync causes exactly one more', async (t) => {
  const { clock, runner, calls, maxInFlight } = setup(() => false, { minIntervalMs: 0 });
  runner.start();
  await clock.advanceAsync(1); // sync 1 running
  runner.trigger();
  runner.trigger();
  await clock.advanceAsync(100);
  t.equal(calls.length, 2);
  t.equal(maxInFlight(), 1, 'never two syncs at once');
  await runner.stop();
});

t.test('a failure retries with backoff and forces a full resync', async (t) => {
  const { clock, runner, calls } = setup((n) => n === 2 || n === 3);
  runner.start();
  await clock.advanceAsync(50);
  runner.trigger();
  await clock.advanceAsync(150); // sync 2 fails at ~110
  t.equal(calls.length, 2);
  t.equal(runner.stats.consecutiveFailures, 1);
  runner.trigger(); // a trigger during backoff does not skip the backoff
  await clock.advanceAsync(50); // t=250; the failure was at 110
  t.equal(calls.length, 2, 'still backing off');
  await clock.advanceAsync(100); // t=350
  t.equal(calls.length, 3, 'retry 200 ms after the failure');
  t.equal(calls[2]!.full, true, 'the retry is a full resync');
  t.equal(calls[2]!.attempt, 1);
  await clock.advanceAsync(360); // t=710; the retry failed at 320
  t.equal(calls.length, 3, 'second backoff is 400 ms');
  await clock.advanceAsync(50);
  t.equal(calls.length, 4);
  t.equal(runner.stats.consecutiveFailures, 0, 'recovered');
  t.equal(runner.stats.failures, 2);
  await runner.whenIdle();
  await runner.stop();
});

t.test('periodic full resync and stop', async (t) => {
  const { clock, runner, calls } = setup(() => false, { fullResyncIntervalMs: 1000 });
  runner.start();
  await clock.advanceAsync(3050);
  t.same(
    calls.map((c) => c.full),
    [true, true, true, true],
    'initial + three periodic full syncs',
  );
  await runner.stop();
  runner.trigger();
  await clock.advanceAsync(5000);
  t.equal(calls.length, 4, 'no sync after stop');
});

t.test('syncNow: one full sync after the one in flight, never beside it, and its outcome', async (t) => {
  const { clock, runner, calls, maxInFlight } = setup((n) => n === 3);
  t.same(await runner.syncNow(), { ran: false }, 'not started: nothing runs');
  t.equal(calls.length, 0);
  runner.start();
  await clock.advanceAsync(1); // the initial sync is in flight
  t.equal(calls.length, 1);
  const now = runner.syncNow();
  await clock.advanceAsync(50);
  t.same(await now, { ran: true }, 'ran after the initial one');
  t.equal(calls.length, 2);
  t.equal(calls[1]!.full, true, 'a full sync');
  t.equal(maxInFlight(), 1, 'never two at once');
  const failing = runner.syncNow();
  await clock.advanceAsync(20);
  const r = await failing;
  t.equal(r.ran, true);
  t.match((r.error as Error).message, /sync 3 failed/, 'the error of that sync');
  await clock.advanceAsync(500);
  t.equal(calls.length, 4, 'its retry is scheduled as for any failure');
  t.equal(runner.stats.consecutiveFailures, 0);
  await runner.stop();
  t.same(await runner.syncNow(), { ran: false }, 'stopped: nothing runs');
});
