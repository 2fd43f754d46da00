/**
 * Listening readiness: a task with published TCP ports is ready once it listens on all of
 * them (polled), at once when it publishes none or was adopted, and after the give-up time
 * when it never listens; the callback fires once per change.
 */
import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { GIVE_UP_MS, ListenReadiness, POLL_MS } from '../../../src/agent/readiness.ts';

const tick = async (clock: FakeClock, ms: number): Promise<void> => {
  clock.advance(ms);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

t.test('ready once every target port listens', async (t) => {
  const clock = new FakeClock();
  let listening = new Set<number>();
  let calls = 0;
  const r = new ListenReadiness({ clock, logger: silentLogger, onReady: () => calls++, listening: async () => listening });
  t.teardown(() => r.close());
  t.equal(r.isReady('a', 10, []), true, 'no published port: ready at once');
  t.equal(r.isReady('b', 11, [80, 443]), false, 'not listening yet');
  await tick(clock, POLL_MS);
  t.equal(r.isReady('b', 11, [80, 443]), false, 'one of two ports is not enough');
  listening = new Set([80]);
  await tick(clock, POLL_MS);
  t.equal(calls, 0);
  listening = new Set([80, 443, 9]);
  await tick(clock, POLL_MS);
  t.equal(calls, 1, 'the callback fired');
  t.equal(r.isReady('b', 11, [80, 443]), true, 'ready');
  r.markReady('c');
  t.equal(r.isReady('c', 12, [8080]), true, 'an adopted task is ready');
  t.equal(r.isReady('d', 0, [80]), false, 'no process: not ready');
});

t.test('a task that never listens joins after the give-up time', async (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const r = new ListenReadiness({ clock, logger: silentLogger, onReady: () => calls++, listening: async () => new Set() });
  t.teardown(() => r.close());
  t.equal(r.isReady('x', 5, [80]), false);
  for (let waited = 0; waited < GIVE_UP_MS; waited += POLL_MS * 50) await tick(clock, POLL_MS * 50);
  await tick(clock, POLL_MS);
  t.equal(r.isReady('x', 5, [80]), true, 'ready after the give-up time');
  t.equal(calls, 1);
  r.retain(new Set());
  t.equal(r.isReady('x', 5, [80]), false, 'forgotten: waits again');
});
