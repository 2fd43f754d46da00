import t from 'tap';
import { confirmSuspicion, startSuspicion, suspicionTimeout } from '../../../src/gossip/suspicion.ts';
import { applyAwareness, scaleByAwareness } from '../../../src/gossip/awareness.ts';

t.test('the timeout shrinks from max to min as confirmations arrive', async (t) => {
  t.equal(suspicionTimeout(1000, 6000, 3, 0), 6000);
  const one = suspicionTimeout(1000, 6000, 3, 1);
  const two = suspicionTimeout(1000, 6000, 3, 2);
  t.ok(one < 6000 && two < one && two > 1000, `${one} then ${two}`);
  t.equal(suspicionTimeout(1000, 6000, 3, 3), 1000);
  t.equal(suspicionTimeout(1000, 6000, 0, 0), 1000, 'no confirmations expected: min at once');
});

t.test('only new, independent accusers confirm', async (t) => {
  const s = startSuspicion('x', 5, 'a', 10_000, 1000, 6000, 2);
  t.equal(s.deadline, 16_000);
  t.notOk(confirmSuspicion(s, 'a'), 'the first accuser again');
  t.ok(confirmSuspicion(s, 'b'));
  t.ok(s.deadline < 16_000);
  t.ok(confirmSuspicion(s, 'c'));
  t.equal(s.deadline, 11_000, 'k confirmations: the minimum');
  t.notOk(confirmSuspicion(s, 'd'), 'beyond k nothing is recorded');
});

t.test('awareness is clamped and scales timeouts', async (t) => {
  t.equal(applyAwareness(0, -1, 8), 0);
  t.equal(applyAwareness(6, 5, 8), 7);
  t.equal(scaleByAwareness(500, 0), 500);
  t.equal(scaleByAwareness(500, 3), 2000);
});
